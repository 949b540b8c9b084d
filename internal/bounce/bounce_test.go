package bounce

import (
	"testing"

	"github.com/petrelmail/petrel/internal/smtpreply"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		reply        string
		typ, subtype string
		delay        string
	}{
		{"550 5.1.1 <x@example.com>: Recipient address rejected: User unknown", Permanent, NoEmail, ""},
		{"550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found", Permanent, NoEmail, ""},
		{"554 5.7.1 Service unavailable; client host blocked", Permanent, General, ""},
		{"550 Requested action not taken", Permanent, General, ""},
		{"452 4.2.2 Mailbox full", Transient, MailboxFull, DelayMailboxFull},
		{"421 4.4.1 Unable to connect to remote host", Transient, General, DelayTransientCommunication},
		{"451 4.3.0 Temporary lookup failure", Transient, General, DelayRecipientServerError},
		{"450 4.7.1 Client host rejected: try later", Transient, General, DelayIPFailure},
		{"452 4.3.4 Message too big for now", Transient, MessageTooLarge, DelayRecipientServerError},
	}
	for _, c := range cases {
		r, err := smtpreply.Parse(c.reply)
		if err != nil {
			t.Fatal(err)
		}
		got := Classify(r)
		if got.Type != c.typ || got.SubType != c.subtype {
			t.Errorf("Classify(%q) = %+v, want %s/%s", c.reply, got, c.typ, c.subtype)
		}
		if c.delay != "" && DelayType(r) != c.delay {
			t.Errorf("DelayType(%q) = %s, want %s", c.reply, DelayType(r), c.delay)
		}
	}
}

func TestReturnPath(t *testing.T) {
	secret := []byte("k")
	id := "0100019a1b2c3d4e-1a2b3c4d-1111-4222-8333-444455556666-000000"
	rp := ReturnPath(id, "3", "bounces.petrel.test", secret)
	gotID, rcpt, err := ParseReturnPath(rp, secret)
	if err != nil || gotID != id || rcpt != "3" {
		t.Fatalf("ParseReturnPath(%s) = %q %q %v", rp, gotID, rcpt, err)
	}
	if _, _, err := ParseReturnPath(rp, []byte("other")); err != ErrNotVERP {
		t.Fatal("return path verified with the wrong secret")
	}
	for _, bad := range []string{"postmaster@x.test", "b-@x", "b-a-b@x", ""} {
		if _, _, err := ParseReturnPath(bad, secret); err != ErrNotVERP {
			t.Errorf("ParseReturnPath(%q) accepted", bad)
		}
	}
}

func FuzzParseReturnPath(f *testing.F) {
	f.Add("b-0100-abc-000000-0-abcdefghijklmnop@x.test")
	f.Fuzz(func(t *testing.T, s string) {
		ParseReturnPath(s, []byte("k"))
	})
}
