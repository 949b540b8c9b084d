package bounce

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// corpusDir finds ../shared/corpora/bounces beside the repository (or
// $PETREL_BOUNCE_CORPUS).
func corpusDir(t testing.TB) string {
	if d := os.Getenv("PETREL_BOUNCE_CORPUS"); d != "" {
		return d
	}
	wd, _ := os.Getwd()
	for dir := wd; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			d := filepath.Join(dir, "..", "shared", "corpora", "bounces")
			if _, err := os.Stat(filepath.Join(d, "labels.jsonl")); err == nil {
				return d
			}
			break
		}
	}
	t.Skip("bounce corpus ../shared/corpora/bounces not present")
	return ""
}

type corpusLabel struct {
	File         string `json:"file"`
	Source       string `json:"source"`
	Kind         string `json:"kind"`
	Subkind      string `json:"subkind"`
	FeedbackType string `json:"feedback_type"`
	Recipients   []struct {
		Address *string `json:"address"`
		Status  *string `json:"status"`
		Reason  *string `json:"reason"`
		Hard    *bool   `json:"hard"`
		HardAlt *bool   `json:"hard_alt"`
		Action  string  `json:"action"`
	} `json:"recipients"`
}

func loadCorpus(t testing.TB) (string, []corpusLabel) {
	dir := corpusDir(t)
	f, err := os.Open(filepath.Join(dir, "labels.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var labels []corpusLabel
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l corpusLabel
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		labels = append(labels, l)
	}
	return dir, labels
}

// labelKind is the kind Parse should report for a label: a bounce whose
// recipients are all only delayed is a delay.
func labelKind(l corpusLabel) Kind {
	if l.Kind == "bounce" {
		if l.Subkind == "delay" {
			return KindDelay
		}
		delayed := len(l.Recipients) > 0
		for _, r := range l.Recipients {
			delayed = delayed && r.Action == "delayed"
		}
		if delayed {
			return KindDelay
		}
	}
	return Kind(l.Kind)
}

// TestCorpus scores Parse and the built-in rules against the labelled corpus
// (../shared/corpora/bounces, see its README) and asserts the issue's
// floors: kind ≥ 98 %, recipients found ≥ 98 %, Permanent/Transient
// agreement ≥ 95 %, and every x.1.1 recipient Permanent.
func TestCorpus(t *testing.T) {
	dir, labels := loadCorpus(t)
	rules := Builtin()
	var delays, contradicts, filtered int
	var kindOK, kindN, rcptOK, rcptN, hardOK, hardN, x11OK, x11N int
	kindConf := map[[2]string]int{}
	hardConf := map[[2]string]int{}
	for _, l := range labels {
		raw, err := os.ReadFile(filepath.Join(dir, l.File))
		if err != nil {
			t.Fatal(err)
		}
		rep := Parse(raw)
		rules.ClassifyReport(rep)
		want := labelKind(l)
		kindN++
		kindConf[[2]string{string(want), string(rep.Kind)}]++
		// The labels' vocabulary has no delay kind: a warning DSN is a
		// bounce with subkind delay, and sisimai-derived labels leave even
		// that unset. Petrel reports delay notices as delays (the issue's
		// rule), which is a bounce at the labels' granularity.
		if rep.Kind == want || rep.Kind == KindDelay && want == KindBounce {
			if rep.Kind != want {
				delays++
			}
			kindOK++
		} else {
			t.Logf("kind %s: got %s want %s", l.File, rep.Kind, want)
		}
		got := map[string]Recipient{}
		for _, r := range rep.Recipients {
			got[strings.ToLower(r.EmailAddress)] = r
		}
		for i, lr := range l.Recipients {
			var r Recipient
			found := false
			if lr.Address != nil {
				rcptN++
				r, found = got[strings.ToLower(*lr.Address)]
				if found {
					rcptOK++
				} else {
					t.Logf("recipient %s: %s not found (got %v)", l.File, *lr.Address, addrsOf(rep.Recipients))
				}
			} else if len(rep.Recipients) == len(l.Recipients) {
				r, found = rep.Recipients[i], true
			}
			if lr.Hard == nil || !found {
				continue // a recipient not found is counted above, not here
			}
			if l.Source == "sisimai" && lr.Reason != nil && *lr.Reason == "filtered" {
				// score.py's convention (the corpus's mapping.md): sisimai's
				// "filtered" is often a disguised unknown user, relabelled
				// between sisimai releases, so it is not scored.
				filtered++
				continue
			}
			want := Transient
			if *lr.Hard {
				want = Permanent
			}
			gotType := r.Type
			hardConf[[2]string{want, gotType}]++
			if lr.Status != nil && strings.HasSuffix(*lr.Status, ".1.1") && !*lr.Hard {
				// The label says soft for an x.1.1 status, which the issue
				// requires to be Permanent: it cannot agree with both.
				contradicts++
				t.Logf("label contradicts the x.1.1 rule: %s %v (status %s, soft)", l.File, deref(lr.Address), *lr.Status)
			} else {
				hardN++
			}
			// The corpus README: where another sisimai port labels the same
			// bytes differently (hard_alt), either opinion is accepted.
			alt := lr.HardAlt != nil && (*lr.HardAlt == (gotType == Permanent))
			if gotType == want || alt {
				if !(lr.Status != nil && strings.HasSuffix(*lr.Status, ".1.1") && !*lr.Hard) {
					hardOK++
				}
			} else {
				t.Logf("type %s %v: got %s (%s, rule %s, status %q, diag %.160q) want %s (reason %s)", l.File, deref(lr.Address), gotType, r.Reason, r.Rule, r.Status, r.DiagnosticCode, want, deref(lr.Reason))
			}
			if lr.Status != nil && strings.HasSuffix(*lr.Status, ".1.1") {
				x11N++
				if gotType == Permanent {
					x11OK++
				} else {
					t.Errorf("x.1.1 recipient %s %v classified %s (rule %s)", l.File, deref(lr.Address), gotType, r.Rule)
				}
			}
		}
	}
	pct := func(a, b int) float64 { return 100 * float64(a) / float64(max(b, 1)) }
	t.Logf("kind correct: %d/%d = %.1f%% (%d delay notices the labels call bounces counted as bounce)", kindOK, kindN, pct(kindOK, kindN), delays)
	t.Logf("recipients found: %d/%d = %.1f%%", rcptOK, rcptN, pct(rcptOK, rcptN))
	t.Logf("Permanent/Transient agreement (recipients found, label has hard/soft, label consistent with the x.1.1 rule): %d/%d = %.1f%% (%d labels contradict the x.1.1 rule; with them: %.1f%%)",
		hardOK, hardN, pct(hardOK, hardN), contradicts, pct(hardOK, hardN+contradicts))
	t.Logf("x.1.1 recipients Permanent: %d/%d (%d sisimai \"filtered\" labels not scored for Permanent/Transient)", x11OK, x11N, filtered)
	t.Logf("kind confusion (label → Petrel):\n%s", confusion(kindConf))
	t.Logf("bounce type confusion (label → Petrel):\n%s", confusion(hardConf))
	if pct(kindOK, kindN) < 98 {
		t.Errorf("kind correct %.1f%% < 98%%", pct(kindOK, kindN))
	}
	if pct(rcptOK, rcptN) < 98 {
		t.Errorf("recipients found %.1f%% < 98%%", pct(rcptOK, rcptN))
	}
	if pct(hardOK, hardN) < 95 {
		t.Errorf("Permanent/Transient agreement %.1f%% < 95%%", pct(hardOK, hardN))
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func addrsOf(rs []Recipient) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.EmailAddress)
	}
	return out
}

// confusion renders a label × prediction count table.
func confusion(m map[[2]string]int) string {
	rowSet, colSet := map[string]bool{}, map[string]bool{}
	for k := range m {
		rowSet[k[0]], colSet[k[1]] = true, true
	}
	keys := func(s map[string]bool) []string {
		var out []string
		for k := range s {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	rows, cols := keys(rowSet), keys(colSet)
	var b strings.Builder
	fmt.Fprintf(&b, "%-14s", "label \\ got")
	for _, c := range cols {
		fmt.Fprintf(&b, "%13s", c)
	}
	b.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-14s", r)
		for _, c := range cols {
			fmt.Fprintf(&b, "%13d", m[[2]string{r, c}])
		}
		b.WriteString("\n")
	}
	return b.String()
}
