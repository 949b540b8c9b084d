package sending_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/admission"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/template"
)

// bulkOf is a SendBulk request from sender@example.com with an inline
// template, one entry per recipient ("bad:" before an address gives the
// entry replacement data that is not a JSON object).
func bulkOf(t *testing.T, rcpts ...string) sending.BulkRequest {
	t.Helper()
	r := sending.BulkRequest{Account: testAccount, From: "sender@example.com",
		Template: sending.Template{Inline: &template.Content{Subject: "Hi {{name}}", Text: "Hello {{name}}"}, Data: `{"name":"you"}`}}
	for _, rc := range rcpts {
		e := sending.BulkEntry{}
		if a, ok := strings.CutPrefix(rc, "bad:"); ok {
			rc, e.Data = a, "[1]"
		}
		e.To = []address.Address{mustAddr(t, rc)}
		r.Entries = append(r.Entries, e)
	}
	return r
}

func statuses(res []sending.BulkResult) []sending.BulkStatus {
	var out []sending.BulkStatus
	for _, r := range res {
		out = append(out, r.Status)
	}
	return out
}

// TestSendBulkCallChecksOnce: the checks that do not depend on an entry
// (sender identity, configuration set, reputation enforcement) decide for
// the whole call once, before the entries: the same request gets the same
// answer whatever the order of its entries, even when an entry fails on
// its own (replacement data that is not an object) before them.
func TestSendBulkCallChecksOnce(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			s, db := newTestStore(t, backend, nil)
			ctx := t.Context()
			sets := configset.New(db)
			if err := sets.Create(ctx, configset.ConfigurationSet{Account: testAccount, Name: "paused"}); err != nil {
				t.Fatal(err)
			}
			if err := sets.Create(ctx, configset.ConfigurationSet{Account: testAccount, Name: "enforced", SendingEnabled: true}); err != nil {
				t.Fatal(err)
			}
			s.Enforcement = pauses{"enforced": true}
			var (
				unv       *sending.UnverifiedError
				noSet     *sending.ConfigSetNotFoundError
				pausedSet *sending.ConfigSetPausedError
				enforced  *sending.EnforcementPausedError
			)
			cases := []struct {
				name   string
				change func(*sending.BulkRequest)
				want   any
			}{
				{"unverified sender", func(r *sending.BulkRequest) { r.From = "news@elsewhere.example" }, &unv},
				{"unknown configuration set", func(r *sending.BulkRequest) { r.ConfigSet = "nope" }, &noSet},
				{"paused configuration set", func(r *sending.BulkRequest) { r.ConfigSet = "paused" }, &pausedSet},
				{"enforcement paused set", func(r *sending.BulkRequest) { r.ConfigSet = "enforced" }, &enforced},
			}
			for _, c := range cases {
				for _, order := range [][]string{{"bad:a@other.test", "b@other.test"}, {"b@other.test", "bad:a@other.test"}} {
					r := bulkOf(t, order...)
					c.change(&r)
					res, err := s.SendBulk(ctx, r)
					if !errors.As(err, c.want) {
						t.Errorf("%s, entries %v: %v %v, want the call refused with %T", c.name, order, statuses(res), err, c.want)
					}
				}
			}
		})
	}
}

// TestSendBulkCallShapes: the rules SendEmail and SendBulkEmail share live
// in sending, so that every API applies them (*ContentError for the
// call): 1 to 50 entries, tags, ReplacementHeaders, the configuration set
// name; FromEmailAddress is trimmed (mail.source) for Send as for SendBulk.
func TestSendBulkCallShapes(t *testing.T) {
	s, db := newTestStore(t, "sqlite", nil)
	ctx := t.Context()
	many := make([]string, 51)
	for i := range many {
		many[i] = "a@other.test"
	}
	cases := []struct {
		name   string
		r      sending.BulkRequest
		change func(*sending.BulkRequest)
	}{
		{"no entries", bulkOf(t), nil},
		{"51 entries", bulkOf(t, many...), nil},
		{"bad default tag", bulkOf(t, "a@other.test"), func(r *sending.BulkRequest) { r.DefaultTags = [][2]string{{"a b", "c"}} }},
		{"bad replacement tag", bulkOf(t, "a@other.test"), func(r *sending.BulkRequest) { r.Entries[0].Tags = [][2]string{{"a", ""}} }},
		{"bad replacement header", bulkOf(t, "a@other.test", "b@other.test"), func(r *sending.BulkRequest) {
			r.Entries[1].Headers = [][2]string{{"X Bad", "v"}}
		}},
		{"16 replacement headers", bulkOf(t, "a@other.test"), func(r *sending.BulkRequest) {
			for i := range 16 {
				r.Entries[0].Headers = append(r.Entries[0].Headers, [2]string{fmt.Sprintf("X-H%d", i), "v"})
			}
		}},
		{"bad configuration set name", bulkOf(t, "a@other.test"), func(r *sending.BulkRequest) { r.ConfigSet = "no such/set" }},
	}
	for _, c := range cases {
		if c.change != nil {
			c.change(&c.r)
		}
		res, err := s.SendBulk(ctx, c.r)
		var ce *sending.ContentError
		if !errors.As(err, &ce) {
			t.Errorf("%s: %v %v, want *ContentError", c.name, statuses(res), err)
		}
	}
	rcpt := mustAddr(t, "a@other.test")
	content := func() *sending.Content {
		return &sending.Content{From: "  Me <sender@example.com> ", To: []address.Address{rcpt},
			Simple: &sending.Simple{Subject: &sending.Text{Data: "s"}, Text: &sending.Text{Data: "t"}}}
	}
	for _, c := range []struct {
		name string
		req  sending.Request
	}{
		{"bad tag", sending.Request{Tags: [][2]string{{"ok", "not ok"}}}},
		{"bad configuration set name", sending.Request{ConfigSet: "no such/set"}},
	} {
		c.req.Account, c.req.Operation, c.req.Recipients, c.req.Content = testAccount, "SendEmail", []address.Address{rcpt}, content()
		_, err := s.Send(ctx, c.req)
		var ce *sending.ContentError
		if !errors.As(err, &ce) {
			t.Errorf("Send, %s: %v, want *ContentError", c.name, err)
		}
	}
	id, err := s.Send(ctx, sending.Request{Account: testAccount, Operation: "SendEmail", Recipients: []address.Address{rcpt},
		Source: "  Me <sender@example.com> ", Content: content()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.SendBulk(ctx, func() sending.BulkRequest {
		r := bulkOf(t, "a@other.test")
		r.From = "  Me <sender@example.com> "
		return r
	}())
	if err != nil || res[0].Status != sending.BulkSuccess {
		t.Fatal(res, err)
	}
	for _, id := range []string{id, res[0].MessageID} {
		_, raw, err := spool.New(db).Mail(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), `"source":"Me <sender@example.com>"`) {
			t.Errorf("message %s: mail.source not trimmed: %s", id, raw)
		}
	}
}

// countingBudget is an admission.Budget that runs hook after each charge
// it grants.
type countingBudget struct {
	*admission.Budget
	hook func()
}

func (b countingBudget) TryAcquireFor(holder string, n int64) bool {
	ok := b.Budget.TryAcquireFor(holder, n)
	if ok && b.hook != nil {
		b.hook()
	}
	return ok
}

// TestSendBulkMemory: SendBulk charges its prepared messages to the memory
// budget and to the call's limit. An entry past the limit is
// MESSAGE_REJECTED (the call is too large), one the budget has no room for
// TRANSIENT_FAILURE (retry later); the others are sent. The budget is
// given back whatever the call's end: success, or ctx cancelled midway.
func TestSendBulkMemory(t *testing.T) {
	att := []sending.Attachment{{FileName: "a.bin", Content: make([]byte, 3000)}} // 4 KB base64: each message ~4.5 KB
	withAtt := func(r sending.BulkRequest) sending.BulkRequest { r.Template.Attachments = att; return r }
	five := []string{"a@other.test", "b@other.test", "c@other.test", "d@other.test", "e@other.test"}
	S, R, T := sending.BulkSuccess, sending.BulkMessageRejected, sending.BulkTransientFailure
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := t.Context()
			s := newTestSender(t, backend, nil)
			cases := []struct {
				name     string
				maxBytes int64 // the call's limit
				budget   int64 // room in the budget
				want     []sending.BulkStatus
			}{
				{"within both", 1 << 20, 1 << 20, []sending.BulkStatus{S, S, S, S, S}},
				{"past the call's limit", 10 << 10, 1 << 20, []sending.BulkStatus{S, S, R, R, R}},
				{"budget full", 1 << 20, 10 << 10, []sending.BulkStatus{S, S, T, T, T}},
			}
			for _, c := range cases {
				s.SetMaxBulkBytes(c.maxBytes)
				b := admission.NewBudget(c.budget)
				s.Budget = b
				res, err := s.SendBulk(ctx, withAtt(bulkOf(t, five...)))
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				if got := statuses(res); !reflect.DeepEqual(got, c.want) {
					t.Errorf("%s: %v, want %v", c.name, got, c.want)
				}
				for i, r := range res {
					if r.Status != S && (r.MessageID != "" || r.Error == "") {
						t.Errorf("%s: entry %d: %+v", c.name, i, r)
					}
				}
				if b.InUse() != 0 {
					t.Errorf("%s: %d bytes still charged after the call", c.name, b.InUse())
				}
			}
			// Cancelled after the second entry was charged: nothing stored,
			// nothing left charged.
			cctx, cancel := context.WithCancel(ctx)
			b := admission.NewBudget(1 << 20)
			n := 0
			s.SetMaxBulkBytes(0)
			s.Budget = countingBudget{b, func() {
				if n++; n == 2 {
					cancel()
				}
			}}
			if res, err := s.SendBulk(cctx, withAtt(bulkOf(t, five...))); !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled: %v %v", statuses(res), err)
			}
			if b.InUse() != 0 {
				t.Errorf("cancelled: %d bytes still charged", b.InUse())
			}
		})
	}
}

// TestSendBulkRendersWithinCallLimit: an entry whose rendered content
// cannot fit in what is left of the call's limit is refused
// (MESSAGE_REJECTED) as soon as its output passes that room, not after
// rendering all of it: ten entries rendering 8 MiB each against a 64 KiB
// limit allocate a few MiB in all, where rendering them whole took
// hundreds. (Counted in bytes allocated, not time.)
func TestSendBulkRendersWithinCallLimit(t *testing.T) {
	s := newTestSender(t, "sqlite", nil)
	s.SetMaxBulkBytes(64 << 10)
	r := bulkOf(t, "a@other.test", "b@other.test", "c@other.test", "d@other.test", "e@other.test",
		"f@other.test", "g@other.test", "h@other.test", "i@other.test", "j@other.test")
	xs := strings.Repeat(`1,`, 80) + "1"
	r.Template.Inline = &template.Content{Subject: "Hi", Text: "{{#each xs}}{{../big}}{{/each}}"}
	r.Template.Data = `{"big":"` + strings.Repeat("x", 100<<10) + `","xs":[` + xs + `]}` // 81 × 100 KiB ≈ 8 MiB per entry
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := s.SendBulk(t.Context(), r)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range res {
		if e.Status != sending.BulkMessageRejected || !strings.Contains(e.Error, "send this entry in another call") {
			t.Errorf("entry %d: %+v, want MESSAGE_REJECTED for the call's limit", i, e)
		}
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 40<<20 {
		t.Errorf("the call allocated %d MiB rendering entries it refused, want a few", alloc>>20)
	}
}

// TestBulkStatusOf: the status of each entry failure SendBulk can meet.
func TestBulkStatusOf(t *testing.T) {
	cases := []struct {
		err  error
		want sending.BulkStatus
	}{
		{nil, sending.BulkSuccess},
		{&sending.ThrottledError{Daily: true}, sending.BulkDailyQuotaExceeded},
		{&sending.ThrottledError{}, sending.BulkAccountThrottled},
		{&sending.UnverifiedError{}, sending.BulkMessageRejected},
		{&sending.RejectedError{}, sending.BulkMessageRejected},
		{&sending.TooLargeError{}, sending.BulkMessageRejected},
		{&sending.NotAuthorizedError{}, sending.BulkMessageRejected},
		{&sending.TooManyRecipientsError{}, sending.BulkInvalidParameter},
		{&sending.ContentError{}, sending.BulkInvalidParameter},
		{&sending.InvalidARNError{}, sending.BulkInvalidParameter},
		{&sending.ListNotFoundError{}, sending.BulkInvalidParameter},
		{&sending.MailFromNotVerifiedError{}, sending.BulkMailFromNotVerified},
		{&sending.ConfigSetNotFoundError{}, sending.BulkConfigSetNotFound},
		{&sending.ConfigSetPausedError{}, sending.BulkConfigSetPaused},
		{&sending.EnforcementPausedError{ConfigurationSet: "s"}, sending.BulkConfigSetPaused},
		{&sending.EnforcementPausedError{}, sending.BulkAccountSuspended},
		{&sending.StorageError{Err: errors.New("x")}, sending.BulkTransientFailure},
		{&sending.InternalError{Err: errors.New("x")}, sending.BulkTransientFailure},
		{errors.New("other"), sending.BulkFailed},
	}
	for _, c := range cases {
		if got := sending.BulkStatusOf(c.err); got != c.want {
			t.Errorf("%T: %s, want %s", c.err, got, c.want)
		}
	}
}

// TestSendBulkWhiteSpaceData: an entry whose replacement data is white
// space only renders with the default data, as one with {} does (one rule
// with SendEmail's TemplateData), not with empty data.
func TestSendBulkWhiteSpaceData(t *testing.T) {
	s, db := newTestStore(t, "sqlite", nil)
	ctx := t.Context()
	r := bulkOf(t, "a@other.test", "b@other.test", "c@other.test")
	r.Entries[0].Data, r.Entries[1].Data, r.Entries[2].Data = " \n\t", "{}", `{"name":"Cy"}`
	res, err := s.SendBulk(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"Hi you", "Hi you", "Hi Cy"} {
		_, raw, err := spool.New(db).Mail(ctx, res[i].MessageID)
		if err != nil {
			t.Fatal(err)
		}
		if res[i].Status != sending.BulkSuccess || !strings.Contains(string(raw), `"subject":"`+want+`"`) {
			t.Errorf("entry %d: %+v, mail %s; want subject %q", i, res[i], raw, want)
		}
	}
}
