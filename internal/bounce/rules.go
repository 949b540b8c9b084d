package bounce

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/BurntSushi/toml"

	"github.com/petrelmail/petrel/internal/smtpreply"
)

// Answer is what a receiving server said about one recipient: the SMTP reply
// code, the enhanced status code (RFC 3463) and the text. Any may be missing:
// a DSN may carry only a Status, a provider's bounce only a sentence.
type Answer struct {
	Code    int    // 0 when unknown
	Status  string // "5.1.1"; "" when unknown
	Text    string
	Command string // the SMTP command answered: EHLO (for HELO too), MAIL, RCPT, DATA; "" when unknown
	Class   string // "5" or "4" when neither code nor status says (a failed or delayed DSN action)
	Domain  string // the recipient's domain, for rules that apply to one provider
}

// AnswerOf turns a parsed SMTP reply into an Answer.
func AnswerOf(r smtpreply.Reply) Answer {
	return Answer{Code: r.Code, Status: r.Enhanced, Text: r.Text}
}

// Verdict is the classification of an Answer: SES's bounceType and
// bounceSubType, Petrel's finer Reason, and the name of the rule that decided.
type Verdict struct {
	Type    string `json:"bounceType,omitempty"`
	SubType string `json:"bounceSubType,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Rule    string `json:"rule,omitempty"`
}

// Reasons: the fine-grained cause SES's subtypes do not name.
const (
	ReasonUserUnknown      = "user-unknown"
	ReasonDomainNotFound   = "domain-not-found"
	ReasonHasMoved         = "has-moved"
	ReasonMailboxDisabled  = "mailbox-disabled"
	ReasonMailboxFull      = "mailbox-full"
	ReasonMessageTooLarge  = "message-too-large"
	ReasonSpamBlocked      = "spam-blocked"
	ReasonVirusDetected    = "virus-detected"
	ReasonContentRejected  = "content-rejected"
	ReasonPolicyRejected   = "policy-rejected"
	ReasonRateLimited      = "rate-limited"
	ReasonReputation       = "reputation-blocked"
	ReasonAuthFailure      = "auth-failure"
	ReasonRelayDenied      = "relay-denied"
	ReasonNetworkError     = "network-error"
	ReasonSystemError      = "system-error"
	ReasonExpired          = "expired"
	ReasonSuppressed       = "suppressed"
	ReasonOther            = "other"
	ReasonUndetermined     = "undetermined"
	ReasonNotAcceptingMail = "not-accepting-mail"
	ReasonSenderRejected   = "sender-rejected"
	ReasonSendingQuota     = "sending-quota"
	ReasonIPBlocklisted    = "ip-blocklisted"
	ReasonHELORejected     = "helo-rejected"
)

// senderScoped are the reasons about the sender or the transaction, never the
// recipient: Petrel's return path, sending IP or HELO name, its sending quota
// or authentication, the receiver's limits on it, or a relay that will not
// take the mail. See docs/bounces.md.
var senderScoped = map[string]bool{
	ReasonSenderRejected: true,
	ReasonSendingQuota:   true,
	ReasonIPBlocklisted:  true,
	ReasonHELORejected:   true,
	ReasonRelayDenied:    true,
	ReasonReputation:     true,
	ReasonAuthFailure:    true,
	ReasonRateLimited:    true,
}

// SenderScoped reports whether reason is about the sender or the transaction
// rather than the recipient. A verdict with such a reason is always
// Transient (a rule that says otherwise is refused) and must never lead to
// suppressing the recipient.
func SenderScoped(reason string) bool { return senderScoped[reason] }

// messageScoped are the reasons about this message — its size or its
// content — never the recipient (docs/bounces.md, the rows "About:
// message").
var messageScoped = map[string]bool{
	ReasonMessageTooLarge: true,
	ReasonSpamBlocked:     true,
	ReasonVirusDetected:   true,
	ReasonContentRejected: true,
}

// recipientScoped are the reasons about the recipient's address or mailbox
// (docs/bounces.md, the rows "About: recipient"), except suppressed, which
// only repeats an earlier decision.
var recipientScoped = map[string]bool{
	ReasonUserUnknown:      true,
	ReasonDomainNotFound:   true,
	ReasonNotAcceptingMail: true,
	ReasonHasMoved:         true,
	ReasonMailboxDisabled:  true,
	ReasonMailboxFull:      true,
}

// RecipientScoped reports whether reason says something about the
// recipient's address or mailbox: user-unknown, domain-not-found,
// not-accepting-mail, has-moved, mailbox-disabled, mailbox-full. Every
// other reason — sender- or message-scoped, or of unknown scope
// (network-error, system-error, policy-rejected, expired, other,
// undetermined, an operator rule's own reason) — does not.
func RecipientScoped(reason string) bool { return recipientScoped[reason] }

// RecipientScopedReasons lists the RecipientScoped reasons, sorted.
func RecipientScopedReasons() []string {
	return []string{ReasonDomainNotFound, ReasonHasMoved, ReasonMailboxDisabled, ReasonMailboxFull, ReasonNotAcceptingMail, ReasonUserUnknown}
}

// KnownReason reports whether reason is one of the Reason constants.
func KnownReason(reason string) bool { return knownReasons[reason] }

var knownReasons = map[string]bool{
	ReasonUserUnknown: true, ReasonDomainNotFound: true, ReasonHasMoved: true, ReasonMailboxDisabled: true,
	ReasonMailboxFull: true, ReasonMessageTooLarge: true, ReasonSpamBlocked: true, ReasonVirusDetected: true,
	ReasonContentRejected: true, ReasonPolicyRejected: true, ReasonRateLimited: true, ReasonReputation: true,
	ReasonAuthFailure: true, ReasonRelayDenied: true, ReasonNetworkError: true, ReasonSystemError: true,
	ReasonExpired: true, ReasonSuppressed: true, ReasonOther: true, ReasonUndetermined: true,
	ReasonNotAcceptingMail: true, ReasonSenderRejected: true, ReasonSendingQuota: true, ReasonIPBlocklisted: true,
	ReasonHELORejected: true,
}

// RuleTLSRequired is the Verdict.Rule of Petrel's own refusal to send over
// a connection without TLS when the message's configuration set requires
// it (TlsPolicy REQUIRE): "421 4.7.4 TLS is required by the configuration
// set, but …". Only this message's requirement failed, never the address.
const RuleTLSRequired = "delivery-tls-required"

// RuleNoSMTPUTF8 is the Verdict.Rule of Petrel's own refusal to start a
// transaction that needs SMTPUTF8 (RFC 6531) with a server that does not
// offer it ("550 5.6.7 SMTPUTF8 is required, but was not offered").
const RuleNoSMTPUTF8 = "delivery-smtputf8-not-offered"

// TransactionScoped reports whether a verdict is about this message or
// transaction rather than the address rcpt: a reason about the message's
// size or content (message-too-large, spam-blocked, virus-detected,
// content-rejected, whatever the type), Petrel's TLS-required refusal
// (RuleTLSRequired: the message's configuration set required TLS), or
// Petrel's SMTPUTF8 refusal
// (RuleNoSMTPUTF8) when rcpt itself is all ASCII — then only the sender's
// address or the header needed SMTPUTF8, and another message to rcpt
// would be delivered. Like SenderScoped, such a verdict must never lead to
// suppressing the recipient.
func TransactionScoped(v Verdict, rcpt string) bool {
	if messageScoped[v.Reason] || v.Rule == RuleTLSRequired {
		return true
	}
	if v.Rule == RuleNoSMTPUTF8 {
		for i := 0; i < len(rcpt); i++ {
			if rcpt[i] >= 0x80 {
				return false
			}
		}
		return true
	}
	return false
}

var bounceTypes = map[string][]string{
	Permanent:    {General, NoEmail, Suppressed, OnAccountSuppressionList},
	Transient:    {General, MailboxFull, MessageTooLarge, ContentRejected, AttachmentRejected},
	Undetermined: {Undetermined},
}

// Rule is one entry of a rule set. A rule matches an Answer when every
// pattern it sets matches; an empty pattern matches anything, but a rule must
// set at least one. The first matching rule of the set decides.
type Rule struct {
	Name   string `toml:"name"`
	Code   string `toml:"code"`   // reply code; "x" matches any digit: "550", "5xx", "45x"
	Status string `toml:"status"` // enhanced status; "x" matches any part: "5.1.1", "x.1.1", "5.7.x"
	// StatusNot excludes answers whose enhanced status matches it (same
	// form as Status); an answer without a status is not excluded.
	StatusNot string `toml:"status-not"`
	Class     string `toml:"class"`   // "5" (permanent failure) or "4" (temporary), from the status, else the code
	Command   string `toml:"command"` // the SMTP command answered: EHLO (HELO is read as EHLO), MAIL, RCPT or DATA
	// Domains limits the rule to recipients at these domains or their subdomains.
	Domains []string `toml:"domains"`
	Text    string   `toml:"text"` // regular expression (RE2), case-insensitive, over the text
	Type    string   `toml:"bounce-type"`
	SubType string   `toml:"bounce-sub-type"`
	Reason  string   `toml:"reason"`
	// Disable, in an operator's file, removes the built-in rule of the same name.
	Disable bool `toml:"disable"`

	text      *regexp.Regexp
	status    [3]string
	statusNot [3]string
}

// RuleSet is an ordered, compiled list of rules.
type RuleSet struct {
	rules  []*Rule
	Source string // where the operator's rules came from; "" for built-in only
}

//go:embed rules.toml
var builtinRules []byte

var builtin = sync.OnceValue(func() *RuleSet {
	rules, err := parseRules(builtinRules, "built-in rules")
	if err != nil {
		panic(err) // the embedded file is tested
	}
	return &RuleSet{rules: rules}
})

// Builtin returns the embedded rule set.
func Builtin() *RuleSet { return builtin() }

// LoadRules returns the built-in rules with the operator's file applied: a
// rule whose name matches a built-in one replaces it in place (or removes it,
// with disable = true); every other rule is tried before all built-in rules,
// in file order. An empty path gives the built-in set.
func LoadRules(path string) (*RuleSet, error) {
	if path == "" {
		return Builtin(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ApplyRules(b, path)
}

// ApplyRules is LoadRules for rules already read; source names them in errors.
func ApplyRules(b []byte, source string) (*RuleSet, error) {
	own, err := parseRules(b, source)
	if err != nil {
		return nil, err
	}
	byName := map[string]*Rule{}
	var first []*Rule
	for _, r := range own {
		if r.Name != "" {
			if _, dup := byName[r.Name]; dup {
				return nil, fmt.Errorf("%s: rule %q defined twice", source, r.Name)
			}
			byName[r.Name] = r
		}
	}
	var rest []*Rule
	used := map[string]bool{}
	for _, b := range Builtin().rules {
		if r, ok := byName[b.Name]; ok {
			used[b.Name] = true
			if !r.Disable {
				rest = append(rest, r)
			}
			continue
		}
		rest = append(rest, b)
	}
	for _, r := range own {
		if r.Disable {
			if !used[r.Name] {
				return nil, fmt.Errorf("%s: rule %q disables no built-in rule", source, r.Name)
			}
			continue
		}
		if !used[r.Name] {
			first = append(first, r)
		}
	}
	return &RuleSet{rules: append(first, rest...), Source: source}, nil
}

func parseRules(b []byte, source string) ([]*Rule, error) {
	var f struct {
		Rule []*Rule `toml:"rule"`
	}
	md, err := toml.Decode(string(b), &f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("%s: unknown key %s", source, und[0])
	}
	for i, r := range f.Rule {
		where := fmt.Sprintf("%s: rule %d", source, i+1)
		if r.Name != "" {
			where += fmt.Sprintf(" (%s)", r.Name)
		} else {
			r.Name = fmt.Sprintf("%s#%d", source, i+1)
		}
		if err := r.compile(); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	}
	return f.Rule, nil
}

func (r *Rule) compile() error {
	if r.Disable {
		if r.Code != "" || r.Status != "" || r.StatusNot != "" || r.Class != "" || r.Command != "" || len(r.Domains) > 0 || r.Text != "" || r.Type != "" {
			return errors.New("a rule with disable = true takes only a name")
		}
		return nil
	}
	for i, d := range r.Domains {
		r.Domains[i] = strings.ToLower(strings.Trim(d, ". "))
		if r.Domains[i] == "" {
			return errors.New("domains: empty domain")
		}
	}
	if r.Code == "" && r.Status == "" && r.StatusNot == "" && r.Text == "" && r.Class == "" && r.Command == "" {
		return errors.New("set at least one of code, status, status-not, class, command, text")
	}
	switch r.Command = strings.ToUpper(r.Command); r.Command {
	case "HELO":
		r.Command = "EHLO"
	case "", "EHLO", "MAIL", "RCPT", "DATA":
	default:
		return fmt.Errorf("command %q: want EHLO, MAIL, RCPT or DATA", r.Command)
	}
	if r.Class != "" && r.Class != "4" && r.Class != "5" {
		return fmt.Errorf("class %q: want \"4\" or \"5\"", r.Class)
	}
	if r.Code != "" {
		if len(r.Code) != 3 || strings.Trim(r.Code, "0123456789xX") != "" || (r.Code[0] != '4' && r.Code[0] != '5' && r.Code[0] != 'x') {
			return fmt.Errorf("code %q: want three digits, x for any (\"550\", \"5xx\")", r.Code)
		}
		r.Code = strings.ToLower(r.Code)
	}
	if r.Status != "" {
		if err := compileStatus(&r.status, r.Status, "status"); err != nil {
			return err
		}
	}
	if r.StatusNot != "" {
		if err := compileStatus(&r.statusNot, r.StatusNot, "status-not"); err != nil {
			return err
		}
	}
	if r.Text != "" {
		re, err := regexp.Compile("(?is)" + r.Text)
		if err != nil {
			return fmt.Errorf("text: %w", err)
		}
		r.text = re
	}
	subs, ok := bounceTypes[r.Type]
	if !ok {
		return fmt.Errorf("bounce-type %q: want Permanent, Transient or Undetermined", r.Type)
	}
	if r.SubType == "" {
		r.SubType = subs[0]
	}
	found := false
	for _, s := range subs {
		found = found || s == r.SubType
	}
	if !found {
		return fmt.Errorf("bounce-sub-type %q is not one of %s for %s", r.SubType, strings.Join(subs, ", "), r.Type)
	}
	if r.Reason == "" {
		r.Reason = ReasonOther
	}
	if r.Type == Permanent && (SenderScoped(r.Reason) || r.Command == "MAIL" || r.Command == "EHLO") {
		return fmt.Errorf("bounce-type Permanent: an answer to EHLO or MAIL or with reason %q is about the sender, never the recipient", r.Reason)
	}
	return nil
}

// compileStatus reads a status pattern ("5.1.1", "x.7.x") into its three
// parts; key names the field in errors.
func compileStatus(dst *[3]string, pattern, key string) error {
	parts := strings.Split(strings.ToLower(pattern), ".")
	if len(parts) != 3 {
		return fmt.Errorf("%s %q: want class.subject.detail (\"5.1.1\", \"x.1.1\")", key, pattern)
	}
	for i, p := range parts {
		if _, err := strconv.Atoi(p); err != nil && p != "x" {
			return fmt.Errorf("%s %q: part %q is neither a number nor x", key, pattern, p)
		}
		dst[i] = p
	}
	return nil
}

// statusMatches reports whether the enhanced status st ("5.7.1") matches
// the compiled pattern; a missing or malformed status matches nothing.
func statusMatches(pattern [3]string, st string) bool {
	parts := strings.SplitN(st, ".", 3)
	if len(parts) != 3 {
		return false
	}
	for i, p := range pattern {
		if p != "x" && p != parts[i] {
			return false
		}
	}
	return true
}

func (r *Rule) matches(a Answer, code, class, text string) bool {
	if r.Class != "" && r.Class != class {
		return false
	}
	if r.Command != "" && !strings.EqualFold(r.Command, a.Command) {
		return false
	}
	if len(r.Domains) > 0 && !inDomains(a.Domain, r.Domains) {
		return false
	}
	if r.Code != "" {
		if code == "" {
			return false
		}
		for i := range 3 {
			if r.Code[i] != 'x' && r.Code[i] != code[i] {
				return false
			}
		}
	}
	if r.Status != "" && !statusMatches(r.status, a.Status) {
		return false
	}
	if r.StatusNot != "" && statusMatches(r.statusNot, a.Status) {
		return false
	}
	return r.text == nil || r.text.MatchString(text)
}

func inDomains(d string, domains []string) bool {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	for _, x := range domains {
		if d == x || strings.HasSuffix(d, "."+x) {
			return true
		}
	}
	return false
}

var spaces = regexp.MustCompile(`\s+`)

// Classify returns the verdict of the first rule that matches a; an answer no
// rule matches is Undetermined. (The built-in set ends with rules for any
// class 5 and class 4 answer, so only an answer with no usable code, status
// or text is Undetermined.)
func (s *RuleSet) Classify(a Answer) Verdict {
	a.Status = statusOf(a)
	if strings.EqualFold(a.Command, "HELO") {
		a.Command = "EHLO" // rules name the greeting command EHLO, for both
	}
	code := ""
	if a.Code >= 100 && a.Code <= 999 {
		code = strconv.Itoa(a.Code)
	}
	class := ""
	switch {
	case len(a.Status) > 1 && a.Status[1] == '.':
		class = a.Status[:1]
	case code != "":
		class = code[:1]
	default:
		class = a.Class
	}
	text := reFooter.ReplaceAllString(spaces.ReplaceAllString(a.Text, " "), "")
	for _, r := range s.rules {
		if r.matches(a, code, class, text) {
			return Verdict{Type: r.Type, SubType: r.SubType, Reason: r.Reason, Rule: r.Name}
		}
	}
	return Verdict{Undetermined, Undetermined, ReasonUndetermined, ""}
}

// reFooter matches the conditional advice receivers append to any refusal
// ("If you believe your IP address has been listed in error, contact …",
// "to report a false positive …"): it names what might be wrong, not what
// was, so the rules do not read it.
var reFooter = regexp.MustCompile(`(?i)\b(if you (believe|think|feel)|to report (a|this) (false positive|problem|mistake))\b[^.;]*([.;]|$)`)

// statusOf is the most specific enhanced status (RFC 3463) the answer
// carries: its Status unless that is missing or generic (X.0.0), else the
// first specific status in its text of the same class — written after the
// codes, inside the text, or in qmail's trailing "(#5.7.1)" form. Live
// replies and DSN recipients are both read by it, so the same answer
// classifies the same whichever way it arrives.
func statusOf(a Answer) string {
	if a.Status != "" && !strings.HasSuffix(a.Status, ".0.0") {
		return a.Status
	}
	class := ""
	switch {
	case a.Status != "":
		class = a.Status[:1]
	case a.Code >= 200 && a.Code <= 599:
		class = strconv.Itoa(a.Code / 100)
	}
	text := a.Text
	for range 8 {
		m := reStatusCode.FindStringSubmatchIndex(text)
		if m == nil {
			break
		}
		st := text[m[2]:m[3]] + "." + trimZeros(text[m[4]:m[5]]) + "." + trimZeros(text[m[6]:m[7]])
		if !strings.HasSuffix(st, ".0.0") && (class == "" || st[:1] == class) {
			return st
		}
		text = text[m[7]:]
	}
	return a.Status
}

// Rules lists the set's rules in the order they are tried.
func (s *RuleSet) Rules() []Rule {
	out := make([]Rule, len(s.rules))
	for i, r := range s.rules {
		out[i] = *r
	}
	return out
}

// Rule returns the rule of the given name.
func (s *RuleSet) Rule(name string) (Rule, bool) {
	for _, r := range s.rules {
		if r.Name == name {
			return *r, true
		}
	}
	return Rule{}, false
}

// Describe renders what a rule matches and yields, for operators.
func (r Rule) Describe() string {
	var parts []string
	if r.Code != "" {
		parts = append(parts, "code "+r.Code)
	}
	if r.Status != "" {
		parts = append(parts, "status "+r.Status)
	}
	if r.StatusNot != "" {
		parts = append(parts, "status not "+r.StatusNot)
	}
	if r.Class != "" {
		parts = append(parts, "class "+r.Class)
	}
	if r.Command != "" {
		parts = append(parts, "after "+r.Command)
	}
	if len(r.Domains) > 0 {
		parts = append(parts, "domains "+strings.Join(r.Domains, ","))
	}
	if r.Text != "" {
		parts = append(parts, "text /"+r.Text+"/")
	}
	return fmt.Sprintf("%s: %s → %s/%s %s", r.Name, strings.Join(parts, ", "), r.Type, r.SubType, r.Reason)
}

// Classifier holds the rule set in force and swaps it atomically on Reload,
// so delivery workers and the inbound receiver never see half a rule file.
type Classifier struct {
	path  string
	rules atomic.Pointer[RuleSet]
}

// NewClassifier loads the built-in rules plus the operator's file at path
// ("" for none).
func NewClassifier(path string) (*Classifier, error) {
	c := &Classifier{path: path}
	return c, c.Reload()
}

// Reload reads the operator's file again. On error the rules in force stay.
func (c *Classifier) Reload() error {
	rs, err := LoadRules(c.path)
	if err != nil {
		return err
	}
	c.rules.Store(rs)
	return nil
}

// Path is the operator's rule file ("" for none).
func (c *Classifier) Path() string { return c.path }

// RuleSet returns the rules in force.
func (c *Classifier) RuleSet() *RuleSet { return c.rules.Load() }

// Classify classifies a with the rules in force.
func (c *Classifier) Classify(a Answer) Verdict { return c.rules.Load().Classify(a) }

// ClassifyReply classifies an SMTP reply from a delivery attempt.
func (c *Classifier) ClassifyReply(r smtpreply.Reply) Verdict { return c.Classify(AnswerOf(r)) }
