package store

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// owners is who owns each table (docs/architecture.md, "Who owns which
// table"): the one package whose code reads and writes it. Others ask
// that package, in the same transaction when they act on the answer.
var owners = map[string]string{
	"accounts":                      "internal/account",
	"access_keys":                   "internal/account",
	"smtp_networks":                 "internal/account",
	"identities":                    "internal/identity",
	"dkim_keys":                     "internal/identity",
	"identity_mail_from":            "internal/identity",
	"verification_links":            "internal/identity",
	"custom_verification_templates": "internal/identity",
	"events":                        "internal/event",
	"messages":                      "internal/spool",
	"message_chunks":                "internal/spool",
	"queue":                         "internal/queue",
	"inbound_messages":              "internal/inbound",
	"inbound_budget":                "internal/inbound",
	"inbound_outcomes":              "internal/inbound",
	"suppressed_destinations":       "internal/suppression",
	"suppression_attributes":        "internal/suppression",
	"global_suppressions":           "internal/suppression",
	"soft_bounces":                  "internal/suppression",
	"configuration_sets":            "internal/configset",
	"import_jobs":                   "internal/importjob",
	"import_uploads":                "internal/importjob",
	"sns_topics":                    "internal/sns",
	"sns_subscriptions":             "internal/sns",
	"sns_signing_keys":              "internal/sns",
	"notify_outbox":                 "internal/notify",
	"notify_deliveries":             "internal/notify",
	"schema_version":                "internal/store",
	"store_probe":                   "internal/store",

	// Issue 14 (H4).
	"configuration_set_event_destinations": "internal/configset",

	// Issue 15.
	"send_counters":      "internal/stats",
	"send_usage":         "internal/quota",
	"quota_nodes":        "internal/quota",
	"reputation_status":  "internal/reputation",
	"reputation_history": "internal/reputation",

	// Issue 16.
	"identity_records":  "internal/identity",
	"identity_policies": "internal/identity",
	"identity_tags":     "internal/identity",
	"identity_settings": "internal/identity",

	// Issue 17.
	"contact_lists":             "internal/contacts",
	"contacts":                  "internal/contacts",
	"contact_topic_preferences": "internal/contacts",
	"email_templates":           "internal/template",
	"unsubscribe_mailto":        "internal/contacts",
}

// tableRef finds the table an SQL statement names after one of its
// keywords, written in capitals as Petrel's SQL is ("DELETE FROM queue",
// "LEFT JOIN messages m", "INSERT INTO events", "UPDATE queue SET").
var tableRef = regexp.MustCompile(`\b(?:FROM|JOIN|INTO|UPDATE|TABLE(?: IF NOT EXISTS)?)\s+([a-z_][a-z0-9_]*)`)

// TestTablesHaveOwners: every table the migrations create is in owners.
func TestTablesHaveOwners(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations: %v", err)
	}
	create := regexp.MustCompile(`(?i)\bCREATE TABLE (?:IF NOT EXISTS )?([a-z_][a-z0-9_]*)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range create.FindAllStringSubmatch(string(b), -1) {
			if owners[m[1]] == "" {
				t.Errorf("%s creates table %s, which has no owner here (nor in docs/architecture.md)", f, m[1])
			}
		}
	}
}

// TestTablesUsedByOwnerOnly: the SQL in the non-test Go code of each
// package names only tables that package owns, and each owner does use
// its tables (so the scan finds what it looks for). A string built by
// concatenation is read whole; the table argument of OldestBeforeTx
// counts as its caller's use.
func TestTablesUsedByOwnerOnly(t *testing.T) {
	root := filepath.Join("..", "..")
	used := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "third_party", "testdata", ".git":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		for _, table := range tablesIn(f) {
			switch owner := owners[table]; {
			case owner == "":
			case owner != pkg:
				t.Errorf("%s uses table %s, which %s owns: ask %s instead", path, table, owner, owner)
			default:
				used[table] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for table, owner := range owners {
		if !used[table] {
			t.Errorf("no SQL of %s names its table %s: is the scan broken?", owner, table)
		}
	}
}

// tablesIn returns the table names f's strings use in SQL.
func tablesIn(f *ast.File) []string {
	var out []string
	scan := func(s string) {
		for _, m := range tableRef.FindAllStringSubmatch(s, -1) {
			out = append(out, m[1])
		}
	}
	var visit func(n ast.Node) bool
	visit = func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BinaryExpr:
			if n.Op != token.ADD {
				return true
			}
			// Read "SELECT … FROM " + "queue" + … as one string; whatever
			// is not a literal stands for an unknown part.
			var b strings.Builder
			for _, op := range operands(n) {
				if s, ok := literal(op); ok {
					b.WriteString(s)
					continue
				}
				b.WriteString("\x00")
				ast.Inspect(op, visit)
			}
			scan(b.String())
			return false
		case *ast.BasicLit:
			if s, ok := literal(n); ok {
				scan(s)
			}
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "OldestBeforeTx" && len(n.Args) > 2 {
				if s, ok := literal(n.Args[2]); ok {
					out = append(out, s)
				}
			}
		}
		return true
	}
	ast.Inspect(f, visit)
	return out
}

// operands flattens a chain of + into its operands, in order.
func operands(e ast.Expr) []ast.Expr {
	if b, ok := e.(*ast.BinaryExpr); ok && b.Op == token.ADD {
		return append(operands(b.X), operands(b.Y)...)
	}
	if p, ok := e.(*ast.ParenExpr); ok {
		return operands(p.X)
	}
	return []ast.Expr{e}
}

// literal returns the value of a string literal.
func literal(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}
