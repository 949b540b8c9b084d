package importjob

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// render writes what ParseContacts read, one line a record or failure.
func render(p ParsedContacts) string {
	var b strings.Builder
	for _, r := range p.Records {
		c := r.Contact
		fmt.Fprintf(&b, "record line %d: %s unsubscribeAll=%v prefs=%v attributes=%q\n", r.Line, c.Email, c.UnsubscribeAll, c.TopicPreferences, c.Attributes)
	}
	for _, f := range p.Failures {
		fmt.Fprintf(&b, "failure line %d: %q: %s\n", f.Line, f.Record, f.Error)
	}
	fmt.Fprintf(&b, "failed %d over %v\n", p.Failed, p.Over)
	return b.String()
}

// TestParseContacts: contact-list import files in both formats and both
// actions, against the golden files in testdata (go test -update rewrites
// them).
func TestParseContacts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format Format
		action Action
	}{
		{"contacts_put.csv", CSV, Put},
		{"contacts_delete.csv", CSV, Delete},
		{"contacts_put.jsonl", JSON, Put},
		{"contacts_delete.jsonl", JSON, Delete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.name))
			if err != nil {
				t.Fatal(err)
			}
			got := render(ParseContacts(data, tc.format, tc.action, MaxPutRecords))
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Fatalf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestParseContactsLimit: a file past the limit is Over.
func TestParseContactsLimit(t *testing.T) {
	p := ParseContacts([]byte("a@x.example\nb@x.example\nc@x.example\n"), CSV, Delete, 2)
	if !p.Over || p.Total() != 3 {
		t.Fatalf("Over %v after %d", p.Over, p.Total())
	}
	if p := ParseContacts([]byte("a@x.example\nb@x.example\n"), CSV, Delete, 2); p.Over || len(p.Records) != 2 {
		t.Fatalf("at the limit: %+v", p)
	}
}

// FuzzParseContacts: ParseContacts never panics; every non-blank line but
// a skipped header is one record or one failure, in line order; records
// hold addresses contacts.ParseEmail takes (and, for DELETE, nothing
// else); failures are bounded valid UTF-8.
func FuzzParseContacts(f *testing.F) {
	for _, name := range []string{"contacts_put.csv", "contacts_delete.csv", "contacts_put.jsonl", "contacts_delete.jsonl"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, strings.HasSuffix(name, ".jsonl"), strings.Contains(name, "delete"), uint8(255))
	}
	f.Add([]byte(`{"emailAddress":"a@x.example","attributesData":{"a":[1,2]}}`+"\r"+`{"emailAddress":"b@x.example","topicPreferences":[{"topicName":1}]}`), true, false, uint8(3))
	f.Add([]byte("a@x.example,true,\"t:OPT_IN; u:OPT_OUT\",\"{}\"\nb@x.example,,;,\n"), false, false, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, json, del bool, limit uint8) {
		format, action := CSV, Put
		if json {
			format = JSON
		}
		if del {
			action = Delete
		}
		p := ParseContacts(data, format, action, int(limit))
		text := strings.TrimPrefix(string(data), "\ufeff")
		text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
		lines := 0
		for _, l := range strings.Split(text, "\n") {
			if strings.TrimSpace(l) != "" {
				lines++
			}
		}
		switch n := p.Total(); {
		case p.Over && n != int(limit)+1:
			t.Fatalf("over the limit %d after %d records", limit, n)
		case !p.Over && (n > int(limit) || n != lines && n != lines-1):
			t.Fatalf("%d records and %d failures from %d non-blank lines (limit %d)", len(p.Records), p.Failed, lines, limit)
		case len(p.Failures) != min(p.Failed, MaxFailures):
			t.Fatalf("%d failures kept of %d", len(p.Failures), p.Failed)
		}
		last := 0
		ri, fi := 0, 0
		for ri < len(p.Records) || fi < len(p.Failures) {
			var line int
			if fi >= len(p.Failures) || ri < len(p.Records) && p.Records[ri].Line < p.Failures[fi].Line {
				r := p.Records[ri]
				line = r.Line
				ri++
				if _, err := contacts.ParseEmail(r.Contact.Email); err != nil {
					t.Fatalf("record %+v: %v", r, err)
				}
				if action == Delete && (r.Contact.UnsubscribeAll || r.Contact.Attributes != "" || len(r.Contact.TopicPreferences) > 0) {
					t.Fatalf("DELETE record with members: %+v", r)
				}
			} else {
				fl := p.Failures[fi]
				line = fl.Line
				fi++
				if fl.Error == "" || len(fl.Record) > MaxRecordEcho || !utf8.ValidString(fl.Record) || strings.Contains(fl.Error, "map[") {
					t.Fatalf("failure %+v", fl)
				}
			}
			if line <= last {
				t.Fatalf("line %d after line %d", line, last)
			}
			last = line
		}
	})
}

// TestContactListJobs: a contact-list job is refused for a list the
// account does not have; it imports what it may, counting bad records
// (unknown topic) as failed; a job whose list is deleted before it runs
// fails with the reason; ListImportJobs filters by destination type.
func TestContactListJobs(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := t.Context()
			db := store.OpenTest(t, backend)
			lists := contacts.New(db, nil)
			s, err := New(db, suppression.New(db, nil), Config{Owner: "n1", Contacts: lists}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if err := lists.CreateList(ctx, "acme", contacts.List{Name: "news", Topics: []contacts.Topic{{Name: "weekly", DisplayName: "Weekly", DefaultSubscriptionStatus: contacts.OptIn}}}); err != nil {
				t.Fatal(err)
			}
			up, err := s.Upload(ctx, "acme", "c.csv", []byte("a@x.example,,weekly:OPT_OUT\nb@x.example,,golf:OPT_IN\n"))
			if err != nil {
				t.Fatal(err)
			}
			var in *InputError
			if _, err := s.CreateFor(ctx, "other", "news", Put, up.URL(), CSV); !errors.As(err, &in) || !strings.Contains(in.Msg, "Contact list news does not exist") {
				t.Fatalf("another account's list: %v", err)
			}
			j, err := s.create(ctx, "acme", "news", Put, up.URL(), CSV, "n1")
			if err != nil {
				t.Fatal(err)
			}
			if j, err = s.run(ctx, j, "n1", nil); err != nil || j.Status != Completed || j.Processed != 1 || j.Failed != 1 {
				t.Fatalf("job: %+v %v", j, err)
			}
			if c, err := lists.GetContact(ctx, "acme", "news", "a@x.example"); err != nil || len(c.TopicPreferences) != 1 {
				t.Fatalf("imported contact: %+v %v", c, err)
			}
			fails, err := s.FailedRecords(ctx, "acme", j.ID)
			if err != nil || len(fails) != 1 || fails[0].Line != 2 || !strings.Contains(fails[0].Error, "Topic golf does not exist") {
				t.Fatalf("failures: %+v %v", fails, err)
			}
			j2, err := s.create(ctx, "acme", "news", Delete, up.URL(), CSV, "n1")
			if err != nil {
				t.Fatal(err)
			}
			if err := lists.DeleteList(ctx, "acme", "news"); err != nil {
				t.Fatal(err)
			}
			if j2, err = s.run(ctx, j2, "n1", nil); err != nil || j2.Status != Failed || j2.ErrorMessage != "Contact list news does not exist." {
				t.Fatalf("job of a deleted list: %+v %v", j2, err)
			}
			for dest, want := range map[DestinationType]int{ContactList: 2, SuppressionList: 0, AnyDestination: 2} {
				jobs, _, err := s.List(ctx, "acme", dest, "", 10)
				if err != nil || len(jobs) != want {
					t.Fatalf("List(%q): %d, %v", dest, len(jobs), err)
				}
				for _, j := range jobs {
					if j.ContactList != "news" {
						t.Fatalf("List(%q): %+v", dest, j)
					}
				}
			}
		})
	}
}
