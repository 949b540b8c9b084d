package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/smtpreply"
)

// bounceCmd: petrel bounce classify | rules.
func bounceCmd(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: petrel bounce classify [FILE|-] [--json] [--explain] [--reply LINE] | rules list|check|reload")
	}
	switch args[0] {
	case "classify":
		return classifyCmd(args[1:], os.Stdin, os.Stdout)
	case "rules":
		return rulesCmd(args[1:], os.Stdout)
	}
	return fmt.Errorf("petrel bounce: unknown subcommand %q", args[0])
}

// classifyCmd reads one email (a bounce, complaint or auto-reply) or one
// SMTP reply line and prints what Petrel concludes.
func classifyCmd(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("bounce classify", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print one JSON object")
	explain := fs.Bool("explain", false, "name the rule that decided each recipient, and what it matches")
	reply := fs.String("reply", "", `classify one SMTP reply ("550 5.1.1 <x@example.com>: user unknown") instead of an email`)
	command := fs.String("command", "", "with --reply: the SMTP command it answered (EHLO, MAIL, RCPT, DATA)")
	rulesFile := fs.String("bounce-rules", "", "an operator rule file to apply over the built-in rules (to test it before reloading)")
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	rules, err := bounce.LoadRules(*rulesFile)
	if err != nil {
		return err
	}
	var rep *bounce.Report
	if *reply != "" {
		if rep, err = replyReport(rules, *reply, *command); err != nil {
			return err
		}
	} else {
		in := stdin
		if len(pos) > 0 && pos[0] != "-" {
			f, err := os.Open(pos[0])
			if err != nil {
				return err
			}
			defer f.Close()
			in = f
		}
		raw, err := io.ReadAll(io.LimitReader(in, 64<<20))
		if err != nil {
			return err
		}
		rep = bounce.Parse(raw)
		rules.ClassifyReport(rep)
		rep.Recipients = named(rep.Recipients)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(rep)
	}
	printReport(stdout, rep, rules, *explain)
	return nil
}

// replyReport classifies one reply line as a report of one recipient: a
// bounce for a 5xx answer, a delay for a 4xx. A positive reply (2xx, or 3xx:
// RFC 5321 §4.2.1, the command was accepted or the server waits for more)
// reports no failure: not-bounce, no recipient. A line that starts with a
// code outside 200–599 is no SMTP reply and is refused; a line with no code
// at all is classified by its words.
func replyReport(rules *bounce.RuleSet, line, command string) (*bounce.Report, error) {
	a := bounce.Answer{Text: line, Command: strings.ToUpper(command)}
	if reReplyCodeLead.MatchString(line) {
		r, err := smtpreply.Parse(line)
		if err != nil {
			return nil, fmt.Errorf("--reply %q: %w (want a 2xx–5xx reply, RFC 5321 §4.2)", line, err)
		}
		if r.Code < 400 {
			return &bounce.Report{Kind: bounce.KindNotBounce, Format: "smtp-reply", Recipients: []bounce.Recipient{}}, nil
		}
		a = bounce.AnswerOf(r)
		a.Command = strings.ToUpper(command)
	}
	rc := bounce.Recipient{Action: "failed", Status: a.Status, DiagnosticCode: "smtp; " + line, SMTPCommand: a.Command}
	kind := bounce.KindBounce
	if a.Code/100 == 4 || strings.HasPrefix(a.Status, "4.") {
		kind, rc.Action = bounce.KindDelay, "delayed"
	}
	rc.Verdict = rules.Classify(a)
	return &bounce.Report{Kind: kind, Format: "smtp-reply", Recipients: []bounce.Recipient{rc}}, nil
}

// reReplyCodeLead matches a line that starts as an SMTP reply does: three
// digits, then a space, a hyphen or the end (RFC 5321 §4.2).
var reReplyCodeLead = regexp.MustCompile(`^\s*[0-9]{3}([ -]|$)`)

// named drops the recipients of an email's report that have no address (a
// notice that names nobody keeps its explanation in one, for the receiver
// to attribute by its VERP address): petrel bounce classify reports only
// recipients it can name.
func named(rs []bounce.Recipient) []bounce.Recipient {
	out := []bounce.Recipient{}
	for _, rc := range rs {
		if rc.EmailAddress != "" {
			out = append(out, rc)
		}
	}
	return out
}

func printReport(w io.Writer, rep *bounce.Report, rules *bounce.RuleSet, explain bool) {
	fmt.Fprintf(w, "kind: %s (read as %s)\n", rep.Kind, rep.Format)
	if rep.FeedbackType != "" {
		fmt.Fprintf(w, "feedback type: %s\n", rep.FeedbackType)
	}
	if rep.UserAgent != "" {
		fmt.Fprintf(w, "user agent: %s\n", rep.UserAgent)
	}
	if rep.AutoReplyType != "" {
		fmt.Fprintf(w, "auto-reply: %s\n", rep.AutoReplyType)
	}
	if rep.ReportingMTA != "" {
		fmt.Fprintf(w, "reporting MTA: %s\n", rep.ReportingMTA)
	}
	if o := rep.Original; o.MessageID != "" || o.PetrelID != "" {
		fmt.Fprintf(w, "original message: %s", o.MessageID)
		if o.PetrelID != "" {
			fmt.Fprintf(w, " (Petrel message %s)", o.PetrelID)
		}
		fmt.Fprintln(w)
	}
	if len(rep.Recipients) == 0 && (rep.Kind == bounce.KindBounce || rep.Kind == bounce.KindDelay) {
		fmt.Fprintln(w, "no recipient named")
	}
	for _, rc := range rep.Recipients {
		if rc.EmailAddress == "" {
			fmt.Fprintln(w, "answer")
		} else {
			fmt.Fprintf(w, "recipient %s\n", rc.EmailAddress)
		}
		if rc.OriginalRecipient != "" && !strings.EqualFold(rc.OriginalRecipient, rc.EmailAddress) {
			fmt.Fprintf(w, "  original recipient %s\n", rc.OriginalRecipient)
		}
		if rc.Action != "" || rc.Status != "" {
			fmt.Fprintf(w, "  action %s, status %s\n", orDash(rc.Action), orDash(rc.Status))
		}
		if rc.DiagnosticCode != "" {
			fmt.Fprintf(w, "  diagnostic: %s\n", clip(rc.DiagnosticCode, 300))
		}
		if rc.Type != "" {
			fmt.Fprintf(w, "  → %s/%s, reason %s\n", rc.Type, rc.SubType, rc.Reason)
		}
		if explain && rc.Type != "" {
			if r, ok := rules.Rule(rc.Rule); ok {
				fmt.Fprintf(w, "  rule %s\n", r.Describe())
			} else {
				fmt.Fprintln(w, "  no rule matched (no code, status or class to go on)")
			}
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// rulesCmd: list the rules in force, check a file, or make the running
// daemon reload its file.
func rulesCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: petrel bounce rules list [--bounce-rules FILE] | check FILE | reload [--data-dir DIR]")
	}
	switch args[0] {
	case "list":
		fs := flag.NewFlagSet("bounce rules list", flag.ContinueOnError)
		file := fs.String("bounce-rules", "", "operator rule file applied over the built-in rules")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		rules, err := bounce.LoadRules(*file)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "#\tNAME\tMATCHES\tVERDICT")
		for i, r := range rules.Rules() {
			d := r.Describe()
			_, d, _ = strings.Cut(d, ": ")
			match, verdict, _ := strings.Cut(d, " → ")
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", i+1, r.Name, clip(match, 70), verdict)
		}
		return tw.Flush()
	case "check":
		if len(args) != 2 {
			return errors.New("usage: petrel bounce rules check FILE")
		}
		rules, err := bounce.LoadRules(args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: ok, %d rules in force (built-in and yours)\n", args[1], len(rules.Rules()))
		return nil
	case "reload":
		cfg, _, err := adminFlags("bounce rules reload", args[1:], nil)
		if err != nil {
			return err
		}
		st, err := daemon.RequestRulesReload(cfg, 10*time.Second)
		if err != nil {
			return err
		}
		if st.Error != "" {
			return fmt.Errorf("bounce rules refused by petrel (pid %d); the previous rules stay in force: %s", st.PID, st.Error)
		}
		file := st.File
		if file == "" {
			file = "no --bounce-rules file, built-in rules only"
		}
		fmt.Fprintf(stdout, "petrel (pid %d) reloaded its bounce rules (%s): %d rules in force\n", st.PID, file, st.Rules)
		return nil
	}
	return fmt.Errorf("petrel bounce rules: unknown subcommand %q", args[0])
}
