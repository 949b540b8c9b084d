package bounce

import (
	"testing"

	"github.com/petrelmail/petrel/internal/smtpreply"
)

// BenchmarkClassify classifies a mix of real-world SMTP replies, as delivery
// does for every failed attempt.
func BenchmarkClassify(b *testing.B) {
	lines := []string{
		"550 5.1.1 <a@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
		"452 4.2.2 The email account that you tried to reach is over quota.",
		"550 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using Spamhaus",
		"421 4.7.0 Try again later, closing connection.",
		"552 5.3.4 Message size exceeds fixed maximum message size",
		"550 5.1.1 RESOLVER.ADR.RecipNotFound; not found",
	}
	replies := make([]smtpreply.Reply, len(lines))
	for i, l := range lines {
		r, err := smtpreply.Parse(l)
		if err != nil {
			b.Fatal(err)
		}
		replies[i] = r
	}
	rules := Builtin()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rules.Classify(AnswerOf(replies[i%len(replies)]))
		i++
	}
}
