package account

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

// TestSandboxAndProduction: new accounts start in the sandbox (200/24 h,
// 1/s), --production ones get the deployment's production quota, the
// bootstrap kind is unlimited; an account that existed before migration 019
// keeps production access and no limits.
func TestSandboxAndProduction(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			ctx := t.Context()
			s, err := New(db, filepath.Join(t.TempDir(), "master.key"), "us-east-1")
			if err != nil {
				t.Fatal(err)
			}
			s.ProductionQuota = Quota{Max24HourSend: 70000, MaxSendRate: 20}
			if _, err := s.Create(ctx, "sand"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateWith(ctx, "prod", CreateOptions{Production: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateWith(ctx, "boot", CreateOptions{Unlimited: true}); err != nil {
				t.Fatal(err)
			}
			// As the code before migration 019 inserted accounts.
			if _, err := db.ExecContext(ctx, db.Rebind("INSERT INTO accounts (name, sending_account_id, sending_enabled, created_ms) VALUES (?, ?, 1, ?)"),
				"old", "123456789012", time.Now().UnixMilli()); err != nil {
				t.Fatal(err)
			}
			want := map[string]struct {
				prod bool
				q    Quota
			}{
				"sand": {false, Quota{200, 1}},
				"prod": {true, Quota{70000, 20}},
				"boot": {true, Quota{-1, -1}},
				"old":  {true, Quota{-1, -1}},
			}
			list, err := s.List(ctx)
			if err != nil || len(list) != 4 {
				t.Fatalf("List = %v, %v", list, err)
			}
			for _, a := range list {
				if w := want[a.Name]; a.ProductionAccessEnabled != w.prod || a.Quota != w.q || !a.SendingEnabled {
					t.Errorf("%s: production %v, quota %+v, sending %v; want %v, %+v, true", a.Name, a.ProductionAccessEnabled, a.Quota, a.SendingEnabled, w.prod, w.q)
				}
			}
		})
	}
}

// TestPutDetails: SES's validation, the review it opens, the conflict while
// it is pending, and the operator's decisions.
func TestPutDetails(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			ctx := t.Context()
			s, err := New(db, filepath.Join(t.TempDir(), "master.key"), "us-east-1")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Create(ctx, "acme"); err != nil {
				t.Fatal(err)
			}
			good := DetailsRequest{MailType: "TRANSACTIONAL", WebsiteURL: "https://acme.example", ContactLanguage: "EN",
				UseCaseDescription: "receipts", AdditionalContactEmailAddresses: []string{"ops@acme.example"}}
			bad := []struct {
				name string
				edit func(*DetailsRequest)
				msg  string
			}{
				{"no MailType", func(r *DetailsRequest) { r.MailType = "" }, "MailType is required."},
				{"bad MailType", func(r *DetailsRequest) { r.MailType = "SPAM" }, "MailType must be MARKETING or TRANSACTIONAL."},
				{"no WebsiteURL", func(r *DetailsRequest) { r.WebsiteURL = "" }, "WebsiteURL is required."},
				{"long WebsiteURL", func(r *DetailsRequest) { r.WebsiteURL = "https://" + strings.Repeat("a", 993) }, "WebsiteURL must be at most 1000 characters long."},
				{"bad language", func(r *DetailsRequest) { r.ContactLanguage = "FR" }, "ContactLanguage must be EN or JA."},
				{"long use case", func(r *DetailsRequest) { r.UseCaseDescription = strings.Repeat("x", 5001) }, "UseCaseDescription must be at most 5000 characters long."},
				{"no contacts", func(r *DetailsRequest) { r.AdditionalContactEmailAddresses = []string{} }, "AdditionalContactEmailAddresses must hold 1 to 4 addresses."},
				{"5 contacts", func(r *DetailsRequest) {
					r.AdditionalContactEmailAddresses = []string{"a@x.example", "b@x.example", "c@x.example", "d@x.example", "e@x.example"}
				}, "AdditionalContactEmailAddresses must hold 1 to 4 addresses."},
				{"bad contact", func(r *DetailsRequest) { r.AdditionalContactEmailAddresses = []string{"Ops <ops@x.example>"} }, "Invalid email address in AdditionalContactEmailAddresses: Ops <ops@x.example>."},
			}
			for _, b := range bad {
				r := good
				b.edit(&r)
				var inv *InvalidError
				if _, err := s.PutDetails(ctx, "acme", r); !errors.As(err, &inv) || inv.Msg != b.msg {
					t.Errorf("%s: %v, want %q", b.name, err, b.msg)
				}
			}
			// Details alone: recorded, no review.
			a, err := s.PutDetails(ctx, "acme", good)
			if err != nil || a.Details.Review.Status != "" || a.Details.WebsiteURL != good.WebsiteURL ||
				!reflect.DeepEqual(a.Details.AdditionalContactEmailAddresses, good.AdditionalContactEmailAddresses) {
				t.Fatalf("details only: %+v, %v", a.Details, err)
			}
			// A request for production access: PENDING, then a conflict.
			req := good
			req.ProductionAccessEnabled = true
			if _, err := s.Cached(ctx, "acme"); err != nil {
				t.Fatal(err)
			}
			a, err = s.PutDetails(ctx, "acme", req)
			if err != nil || a.Details.Review.Status != ReviewPending || len(a.Details.Review.CaseID) != 10 || a.ProductionAccessEnabled {
				t.Fatalf("request: %+v, %v", a, err)
			}
			if c, _ := s.Cached(ctx, "acme"); c.Details.Review.Status != ReviewPending {
				t.Errorf("the cached account did not see the request at once: %+v", c.Details.Review)
			}
			if _, err := s.PutDetails(ctx, "acme", good); !errors.Is(err, ErrReviewPending) {
				t.Errorf("while pending: %v, want ErrReviewPending", err)
			}
			caseID := a.Details.Review.CaseID
			a, err = s.DecideProduction(ctx, "acme", false)
			if err != nil || a.Details.Review.Status != ReviewDenied || a.Details.Review.CaseID != caseID || a.ProductionAccessEnabled || a.Quota != SandboxQuota {
				t.Fatalf("denied: %+v, %v", a, err)
			}
			if a, err = s.PutDetails(ctx, "acme", req); err != nil || a.Details.Review.Status != ReviewPending || a.Details.Review.CaseID == caseID {
				t.Fatalf("asking again after a denial: %+v, %v", a.Details.Review, err)
			}
			if _, err := s.Cached(ctx, "acme"); err != nil {
				t.Fatal(err)
			}
			a, err = s.DecideProduction(ctx, "acme", true)
			if err != nil || a.Details.Review.Status != ReviewGranted || !a.ProductionAccessEnabled || a.Quota != DefaultProductionQuota {
				t.Fatalf("granted: %+v, %v", a, err)
			}
			if c, _ := s.Cached(ctx, "acme"); !c.ProductionAccessEnabled || c.Quota != DefaultProductionQuota {
				t.Errorf("the cached account did not see the grant at once: %+v", c)
			}
			if _, err := s.DecideProduction(ctx, "acme", false); !errors.Is(err, ErrNothingToDeny) {
				t.Errorf("denying a production account with no request: %v, want ErrNothingToDeny", err)
			}
			if a, _ := s.Get(ctx, "acme"); a.Details.Review.Status != ReviewGranted || !a.ProductionAccessEnabled {
				t.Errorf("after the refused denial: %+v", a)
			}
			if _, err := s.DecideProduction(ctx, "nobody", true); !errors.Is(err, ErrNotFound) {
				t.Errorf("unknown account: %v", err)
			}
		})
	}
}

// TestSetQuotaAndSending: SetQuota validates and takes effect on this
// node's cache at once, as SetSendingEnabled does.
func TestSetQuotaAndSending(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	ctx := t.Context()
	s, err := New(db, filepath.Join(t.TempDir(), "master.key"), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cached(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []Quota{{-2, 1}, {10, 0}, {10, -3}} {
		var inv *InvalidError
		if err := s.SetQuota(ctx, "acme", q); !errors.As(err, &inv) {
			t.Errorf("SetQuota(%+v) = %v, want *InvalidError", q, err)
		}
	}
	if err := s.SetQuota(ctx, "acme", Quota{1000, 2.5}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSendingEnabled(ctx, "acme", false); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Cached(ctx, "acme"); c.Quota != (Quota{1000, 2.5}) || c.SendingEnabled {
		t.Errorf("cached: %+v, want the new quota and sending paused", c)
	}
	if err := s.SetQuota(ctx, "nobody", Quota{1, 1}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown account: %v", err)
	}
	if err := s.SetSendingEnabled(ctx, "nobody", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown account: %v", err)
	}
}

// TestDetailsLengthsInCharacters: SES's length limits count characters,
// not bytes: 5,000 Japanese characters of UseCaseDescription (15,000
// bytes; ContactLanguage JA is SES's other language) and a 1,000-character
// internationalised WebsiteURL are valid, one character more is not.
func TestDetailsLengthsInCharacters(t *testing.T) {
	good := DetailsRequest{MailType: "MARKETING", WebsiteURL: "https://例え.example/" + strings.Repeat("ページ", 327), ContactLanguage: "JA",
		UseCaseDescription: strings.Repeat("配", 5000)}
	if n := len([]rune(good.WebsiteURL)); n != 1000 {
		t.Fatalf("test URL has %d characters, want 1000", n)
	}
	if err := good.Validate(); err != nil {
		t.Errorf("5,000-character use case, 1,000-character URL: %v", err)
	}
	long := good
	long.UseCaseDescription += "配"
	if err := long.Validate(); err == nil {
		t.Error("5,001-character use case accepted")
	}
	long = good
	long.WebsiteURL += "ジ"
	if err := long.Validate(); err == nil {
		t.Error("1,001-character URL accepted")
	}
}

// TestContactAddresses: AdditionalContactEmailAddresses are where
// Petrel's notices about the account go, so each must be an address
// Petrel can send to (address.ParseMailbox and Parse, as recipients are): no address
// literal, no single-label (but localhost, as for recipients) or invalid
// domain; an internationalised domain is fine. Before, x@[127.0.0.1], a@b
// and x@-bad-.example were recorded.
func TestContactAddresses(t *testing.T) {
	for _, c := range []struct {
		addr string
		ok   bool
	}{
		{"ops@acme.example", true},
		{"ops@bücher.example", true},
		{"first.last+tag@sub.acme.example", true},
		{"x@[127.0.0.1]", false},
		{"a@b", false},
		{"x@-bad-.example", false},
		{"Ops <ops@acme.example>", false},
		{"<ops@acme.example>", false},
		{"ops@acme.example\r\nBcc: x@y.example", false},
	} {
		r := DetailsRequest{MailType: "MARKETING", WebsiteURL: "https://acme.example", AdditionalContactEmailAddresses: []string{c.addr}}
		if err := r.Validate(); (err == nil) != c.ok {
			t.Errorf("%q: Validate = %v, want ok=%v", c.addr, err, c.ok)
		}
	}
}

// TestPutDetailsConcurrent: of concurrent production-access requests of
// one account, exactly one opens the review and the others are refused
// (SES ConflictException): the account's row is locked while it is read
// and updated. On PostgreSQL several used to succeed, each with its own
// case id, the last one winning.
func TestPutDetailsConcurrent(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			s, err := New(db, filepath.Join(t.TempDir(), "master.key"), "us-east-1")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Create(t.Context(), "acme"); err != nil {
				t.Fatal(err)
			}
			const n = 8
			errs := make(chan error, n)
			start := make(chan struct{})
			for range n {
				go func() {
					<-start
					_, err := s.PutDetails(t.Context(), "acme", DetailsRequest{MailType: "MARKETING", WebsiteURL: "https://acme.example", ProductionAccessEnabled: true})
					errs <- err
				}()
			}
			close(start)
			ok := 0
			for range n {
				switch err := <-errs; {
				case err == nil:
					ok++
				case errors.Is(err, ErrReviewPending):
				default:
					t.Error(err)
				}
			}
			if ok != 1 {
				t.Errorf("%d of %d concurrent requests opened a review, want 1", ok, n)
			}
		})
	}
}
