package bounce

import (
	"strings"
	"testing"
)

// TestApplyRules: how an operator's file combines with the built-in rules.
func TestApplyRules(t *testing.T) {
	decommissioned := Answer{Code: 550, Status: "5.0.0", Text: "Mailbox decommissioned", Command: "RCPT", Domain: "far.test"}
	cases := []struct {
		name     string
		file     string
		answer   Answer
		wantRule string
		wantType string
	}{
		{"built-in only", "", decommissioned, "status-5", Permanent},
		{"a new rule goes first",
			"[[rule]]\nname = \"mine\"\ntext = 'decommissioned'\nbounce-type = \"Transient\"\n",
			decommissioned, "mine", Transient},
		{"a new rule outranks even the x.1.1 rule",
			"[[rule]]\nname = \"mine\"\nstatus = \"5.1.1\"\ndomains = [\"far.test\"]\nbounce-type = \"Transient\"\n",
			Answer{Code: 550, Status: "5.1.1", Text: "user unknown", Command: "RCPT", Domain: "far.test"}, "mine", Transient},
		{"domains limit a rule: another domain falls through",
			"[[rule]]\nname = \"mine\"\nstatus = \"5.1.1\"\ndomains = [\"far.test\"]\nbounce-type = \"Transient\"\n",
			Answer{Code: 550, Status: "5.1.1", Text: "user unknown", Command: "RCPT", Domain: "near.test"}, "status-bad-mailbox", Permanent},
		{"domains match subdomains",
			"[[rule]]\nname = \"mine\"\ndomains = [\"Far.Test.\"]\ncode = \"5xx\"\nbounce-type = \"Transient\"\n",
			Answer{Code: 550, Text: "no", Command: "RCPT", Domain: "mx.far.test"}, "mine", Transient},
		{"command limits a rule",
			"[[rule]]\nname = \"mine\"\ncommand = \"data\"\ntext = 'decommissioned'\nbounce-type = \"Transient\"\n",
			decommissioned, "status-5", Permanent},
		{"a built-in name replaces that rule in place",
			"[[rule]]\nname = \"status-5\"\nstatus = \"5.x.x\"\nbounce-type = \"Undetermined\"\n",
			decommissioned, "status-5", Undetermined},
		{"disable removes a built-in rule",
			"[[rule]]\nname = \"status-5\"\ndisable = true\n",
			decommissioned, "code-5", Permanent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rules, err := ApplyRules([]byte(c.file), "test.toml")
			if err != nil {
				t.Fatal(err)
			}
			v := rules.Classify(c.answer)
			if v.Rule != c.wantRule || v.Type != c.wantType {
				t.Errorf("Classify = %+v, want %s by %s", v, c.wantType, c.wantRule)
			}
		})
	}
	withOne, _ := ApplyRules([]byte("[[rule]]\nname = \"mine\"\ncode = \"550\"\nbounce-type = \"Permanent\"\n"), "x")
	if len(withOne.Rules()) != len(Builtin().Rules())+1 || withOne.Rules()[0].Name != "mine" {
		t.Errorf("one new rule: %d rules, first %q", len(withOne.Rules()), withOne.Rules()[0].Name)
	}
}

// TestApplyRulesErrors: a bad file is refused with an error that names the
// rule and what is wrong.
func TestApplyRulesErrors(t *testing.T) {
	cases := []struct{ file, want string }{
		{"[[rule]]\nname = \"a\"\nbounce-type = \"Permanent\"\n", "rule 1 (a): set at least one of"},
		{"[[rule]]\nname = \"a\"\ncode = \"55\"\nbounce-type = \"Permanent\"\n", `code "55"`},
		{"[[rule]]\nname = \"a\"\ncode = \"250\"\nbounce-type = \"Permanent\"\n", `code "250"`},
		{"[[rule]]\nname = \"a\"\nstatus = \"5.1\"\nbounce-type = \"Permanent\"\n", `status "5.1"`},
		{"[[rule]]\nname = \"a\"\nstatus = \"5.y.1\"\nbounce-type = \"Permanent\"\n", `part "y"`},
		{"[[rule]]\nname = \"a\"\nclass = \"2\"\nbounce-type = \"Permanent\"\n", `class "2"`},
		{"[[rule]]\nname = \"a\"\ncommand = \"EHLO\"\nbounce-type = \"Permanent\"\n", `command "EHLO"`},
		{"[[rule]]\nname = \"a\"\ntext = '('\nbounce-type = \"Permanent\"\n", "text: error parsing regexp"},
		{"[[rule]]\nname = \"a\"\ncode = \"550\"\nbounce-type = \"Hard\"\n", `bounce-type "Hard"`},
		{"[[rule]]\nname = \"a\"\ncode = \"550\"\nbounce-type = \"Permanent\"\nbounce-sub-type = \"MailboxFull\"\n", `bounce-sub-type "MailboxFull" is not one of`},
		{"[[rule]]\nname = \"a\"\ncode = \"550\"\ndomains = [\"\"]\nbounce-type = \"Permanent\"\n", "domains: empty domain"},
		{"[[rule]]\nname = \"a\"\ncode = \"550\"\nbounce-typ = \"Permanent\"\n", "unknown key"},
		{"[[rule]]\nname = \"a\"\ncode = \"550\"\nbounce-type = \"Permanent\"\n[[rule]]\nname = \"a\"\ncode = \"551\"\nbounce-type = \"Permanent\"\n", `rule "a" defined twice`},
		{"[[rule]]\nname = \"nope\"\ndisable = true\n", `"nope" disables no built-in rule`},
		{"[[rule]]\nname = \"status-5\"\ndisable = true\ncode = \"550\"\n", "takes only a name"},
		{"[[rule]\n", "test.toml"},
	}
	for _, c := range cases {
		_, err := ApplyRules([]byte(c.file), "test.toml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ApplyRules(%q) = %v, want an error containing %q", c.file, err, c.want)
		}
	}
}
