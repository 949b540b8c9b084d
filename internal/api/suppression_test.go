package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
)

// wantAPIError checks that err is the SES error code with HTTP status and
// a message containing msg.
func wantAPIError(t *testing.T, what string, err error, code string, status int, msg string) {
	t.Helper()
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || ae.ErrorCode() != code || !errors.As(err, &re) || re.HTTPStatusCode() != status ||
		!strings.Contains(ae.ErrorMessage(), msg) {
		t.Errorf("%s: %v; want %d %s %q", what, err, status, code, msg)
	}
}

func mustAddr(t *testing.T, s string) address.Address {
	t.Helper()
	a, err := address.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestSuppressedDestinations: PutSuppressedDestination,
// GetSuppressedDestination and DeleteSuppressedDestination through
// aws-sdk-go-v2, on both backends: addresses compared case-insensitively
// and as A-labels, shown as last written; path labels URL-decoded; an
// entry made by an outcome shows its MessageId and FeedbackId, and the
// extension members Cause and ExpiresAt, which the SDK ignores; SES's
// errors for bad input and missing entries.
func TestSuppressedDestinations(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testSuppressedDestinations(t, backend) })
	}
}

func testSuppressedDestinations(t *testing.T, backend string) {
	srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme")
	ses := sesClient(srv.URL, tenants["acme"], 1)
	ctx := t.Context()
	put := func(addr string, r types.SuppressionListReason) error {
		_, err := ses.PutSuppressedDestination(ctx, &sesv2.PutSuppressedDestinationInput{EmailAddress: aws.String(addr), Reason: r})
		return err
	}
	get := func(addr string) (*types.SuppressedDestination, error) {
		out, err := ses.GetSuppressedDestination(ctx, &sesv2.GetSuppressedDestinationInput{EmailAddress: aws.String(addr)})
		if err != nil {
			return nil, err
		}
		return out.SuppressedDestination, nil
	}

	before := time.Now().Add(-time.Second)
	if err := put("Jane@Example.COM", types.SuppressionListReasonBounce); err != nil {
		t.Fatal(err)
	}
	d, err := get("jane@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if *d.EmailAddress != "Jane@example.com" || d.Reason != types.SuppressionListReasonBounce || d.Attributes != nil ||
		d.LastUpdateTime.Before(before) || d.LastUpdateTime.After(time.Now().Add(time.Second)) {
		t.Fatalf("Get: %+v (LastUpdateTime %v)", d, d.LastUpdateTime)
	}
	// Overwritten by another spelling, which it is then shown as.
	if err := put("JANE@example.com", types.SuppressionListReasonComplaint); err != nil {
		t.Fatal(err)
	}
	if d, err := get("jane@EXAMPLE.com"); err != nil || *d.EmailAddress != "JANE@example.com" || d.Reason != types.SuppressionListReasonComplaint {
		t.Fatalf("after overwrite: %+v %v", d, err)
	}
	// Labels that need escaping, UTF-8 local parts, IDN domains.
	for _, c := range []struct{ put, get, shown string }{
		{"a+b@example.com", "A+B@example.com", "a+b@example.com"},
		{"a/b%c@example.com", "a/b%c@example.com", "a/b%c@example.com"},
		{"kunde@bücher.example", "kunde@xn--bcher-kva.example", "kunde@xn--bcher-kva.example"},
		{"Jürgen@example.de", "jürgen@example.de", "Jürgen@example.de"},
	} {
		if err := put(c.put, types.SuppressionListReasonBounce); err != nil {
			t.Fatalf("put %s: %v", c.put, err)
		}
		if d, err := get(c.get); err != nil || *d.EmailAddress != c.shown {
			t.Errorf("put %s, get %s: %+v %v; want %s", c.put, c.get, d, err, c.shown)
		}
	}

	// An entry made by an outcome: Attributes, and the extension members.
	expires := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	if err := s.Suppression.Put(ctx, "acme", suppression.Entry{Address: mustAddr(t, "bounced@example.net"), Reason: suppression.Bounce,
		MessageID: "0100018c-0000-test", FeedbackID: "0100018c-feedback", Cause: "soft-bounce policy: 3 mailbox-full bounces", Expires: expires}); err != nil {
		t.Fatal(err)
	}
	d, err = get("bounced@example.net")
	if err != nil || d.Attributes == nil || aws.ToString(d.Attributes.MessageId) != "0100018c-0000-test" ||
		aws.ToString(d.Attributes.FeedbackId) != "0100018c-feedback" {
		t.Fatalf("outcome's entry through the SDK: %+v %v", d, err)
	}
	status, _, body := signedCall(t, srv, tenants["acme"], "GET", "/v2/email/suppression/addresses/bounced%40example.net", nil)
	var raw struct{ SuppressedDestination map[string]any }
	if err := json.Unmarshal(body, &raw); status != 200 || err != nil {
		t.Fatalf("raw Get: %d %s", status, body)
	}
	if sd := raw.SuppressedDestination; sd["Cause"] != "soft-bounce policy: 3 mailbox-full bounces" || sd["ExpiresAt"] != float64(expires.Unix()) {
		t.Errorf("extension members: %s", body)
	}
	status, _, body = signedCall(t, srv, tenants["acme"], "GET", "/v2/email/suppression/addresses/jane%40example.com", nil)
	if status != 200 || strings.Contains(string(body), "ExpiresAt") || strings.Contains(string(body), "Attributes") ||
		!strings.Contains(string(body), `"Cause":"PutSuppressedDestination"`) {
		t.Errorf("entry put by hand: %s", body)
	}

	// Delete, then it is gone.
	if _, err := ses.DeleteSuppressedDestination(ctx, &sesv2.DeleteSuppressedDestinationInput{EmailAddress: aws.String("jane@example.COM")}); err != nil {
		t.Fatal(err)
	}
	_, err = get("jane@example.com")
	wantAPIError(t, "Get after Delete", err, "NotFoundException", 404, "Email address jane@example.com does not exist on your suppression list.")
	_, err = ses.DeleteSuppressedDestination(ctx, &sesv2.DeleteSuppressedDestinationInput{EmailAddress: aws.String("jane@example.com")})
	wantAPIError(t, "Delete twice", err, "NotFoundException", 404, "Email address jane@example.com does not exist on your suppression list.")

	// Bad input.
	wantAPIError(t, "Put a bad address", put("not-an-address", types.SuppressionListReasonBounce), "BadRequestException", 400, "not-an-address")
	wantAPIError(t, "Put a display name", put("Jane <jane@example.com>", types.SuppressionListReasonBounce), "BadRequestException", 400, "Jane <jane@example.com>")
	wantAPIError(t, "Put reason SPAM", put("x@example.com", "SPAM"), "BadRequestException", 400, `Reason "SPAM" is not valid`)
	wantAPIError(t, "Put reason bounce", put("x@example.com", "bounce"), "BadRequestException", 400, `Reason "bounce" is not valid`)
	_, err = get("nobody@@example.com")
	wantAPIError(t, "Get a bad address", err, "BadRequestException", 400, "nobody@@example.com")
	_, err = ses.GetSuppressedDestination(ctx, &sesv2.GetSuppressedDestinationInput{EmailAddress: aws.String("x@example.com"), TenantName: aws.String("t1")})
	wantAPIError(t, "Get with a TenantName", err, "BadRequestException", 400, "TenantName")
	for _, body := range []string{`{"Reason":"BOUNCE"}`, `{"EmailAddress":"x@example.com"}`, `{"EmailAddress":7,"Reason":"BOUNCE"}`} {
		if status, code, out := signedCall(t, srv, tenants["acme"], "PUT", "/v2/email/suppression/addresses", []byte(body)); status != 400 || code != "BadRequestException" {
			t.Errorf("Put %s: %d %s %s", body, status, code, out)
		}
	}
	if _, err := get("x@example.com"); err == nil {
		t.Error("a refused Put stored the address")
	}
}

// listAll pages through ListSuppressedDestinations with the SDK's
// paginator and returns the addresses and the number of pages.
func listAll(t *testing.T, ses *sesv2.Client, in sesv2.ListSuppressedDestinationsInput) ([]string, int) {
	t.Helper()
	var out []string
	pages := 0
	p := sesv2.NewListSuppressedDestinationsPaginator(ses, &in)
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("ListSuppressedDestinations(%+v): %v", in, err)
		}
		pages++
		for _, d := range page.SuppressedDestinationSummaries {
			out = append(out, *d.EmailAddress)
		}
	}
	return out, pages
}

// TestListSuppressedDestinations: the SDK's paginator walks 10,000 entries,
// each once, in pages of the size asked (1000 by default); Reason,
// StartDate and EndDate filter alone and together, the dates inclusive and
// given as the SDK sends them (ISO 8601) or as epoch seconds; bad
// PageSize, Reason, dates and NextToken are refused as SES refuses them.
func TestListSuppressedDestinations(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testListSuppressedDestinations(t, backend) })
	}
}

func testListSuppressedDestinations(t *testing.T, backend string) {
	srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme", "small")
	ctx := t.Context()

	t.Run("paging", func(t *testing.T) {
		ses := sesClient(srv.URL, tenants["acme"], 1)
		var entries []suppression.Entry
		want := make([]string, 10000)
		for i := range want {
			want[i] = fmt.Sprintf("user%05d@example.com", i)
			r := suppression.Bounce
			if i%3 == 0 {
				r = suppression.Complaint
			}
			entries = append(entries, suppression.Entry{Address: mustAddr(t, want[i]), Reason: r})
		}
		if err := s.Suppression.PutMany(ctx, "acme", entries); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			size  *int32
			pages int
		}{{nil, 10}, {aws.Int32(1000), 10}, {aws.Int32(333), 31}} {
			// Each address exactly once: as many as stored, and sorted
			// they are the stored ones.
			got, pages := listAll(t, ses, sesv2.ListSuppressedDestinationsInput{PageSize: c.size})
			if pages != c.pages || !slices.Equal(slices.Sorted(slices.Values(got)), want) {
				t.Errorf("PageSize %v: %d addresses in %d pages, want 10000 in %d", aws.ToInt32(c.size), len(got), pages, c.pages)
			}
		}
		got, _ := listAll(t, ses, sesv2.ListSuppressedDestinationsInput{Reasons: []types.SuppressionListReason{types.SuppressionListReasonComplaint}, PageSize: aws.Int32(500)})
		if len(got) != 3334 {
			t.Errorf("COMPLAINT: %d addresses, want 3334", len(got))
		}
	})

	ses := sesClient(srv.URL, tenants["small"], 1)
	day := func(d int) time.Time { return time.Date(2026, 3, d, 12, 0, 0, 0, time.UTC) }
	for _, f := range []struct {
		local  string
		reason suppression.Reason
		day    int
	}{{"a", suppression.Bounce, 1}, {"b", suppression.Complaint, 2}, {"c", suppression.Bounce, 3}, {"d", suppression.Complaint, 4}, {"e", suppression.Bounce, 5}} {
		if err := s.Suppression.Put(ctx, "small", suppression.Entry{Address: mustAddr(t, f.local+"@example.org"), Reason: f.reason, LastUpdate: day(f.day)}); err != nil {
			t.Fatal(err)
		}
	}
	locals := func(addrs []string) string {
		var b strings.Builder
		for _, a := range addrs {
			b.WriteString(strings.TrimSuffix(a, "@example.org"))
		}
		return b.String()
	}
	bounce, complaint := types.SuppressionListReasonBounce, types.SuppressionListReasonComplaint

	t.Run("filters", func(t *testing.T) {
		for _, c := range []struct {
			name       string
			reasons    []types.SuppressionListReason
			start, end time.Time
			want       string
		}{
			{"none", nil, time.Time{}, time.Time{}, "abcde"},
			{"BOUNCE", []types.SuppressionListReason{bounce}, time.Time{}, time.Time{}, "ace"},
			{"COMPLAINT", []types.SuppressionListReason{complaint}, time.Time{}, time.Time{}, "bd"},
			{"both reasons", []types.SuppressionListReason{bounce, complaint}, time.Time{}, time.Time{}, "abcde"},
			{"StartDate", nil, day(3), time.Time{}, "cde"},
			{"StartDate between", nil, day(3).Add(time.Millisecond), time.Time{}, "de"},
			{"EndDate", nil, time.Time{}, day(2), "ab"},
			{"StartDate and EndDate", nil, day(2), day(4), "bcd"},
			{"same day", nil, day(4), day(4), "d"},
			{"StartDate after EndDate", nil, day(4), day(2), ""},
			{"dates and BOUNCE", []types.SuppressionListReason{bounce}, day(2), day(5), "ce"},
			{"dates and COMPLAINT", []types.SuppressionListReason{complaint}, day(1), day(3), "b"},
		} {
			in := sesv2.ListSuppressedDestinationsInput{Reasons: c.reasons, PageSize: aws.Int32(2)}
			if !c.start.IsZero() {
				in.StartDate = aws.Time(c.start)
			}
			if !c.end.IsZero() {
				in.EndDate = aws.Time(c.end)
			}
			got, _ := listAll(t, ses, in)
			if locals(got) != c.want {
				t.Errorf("%s: %q, want %q", c.name, locals(got), c.want)
			}
		}
	})

	// The same filters as the SDK (ISO 8601) and other clients (epoch
	// seconds, whole or fractional; a bare date) write them.
	t.Run("date forms", func(t *testing.T) {
		for _, c := range []struct{ query, want string }{
			{"StartDate=2026-03-03T12%3A00%3A00Z", "cde"},
			{"StartDate=2026-03-03T12%3A00%3A00.001Z", "de"},
			{"StartDate=2026-03-03T14%3A00%3A00%2B02%3A00", "cde"},
			{fmt.Sprintf("StartDate=%d", day(3).Unix()), "cde"},
			{fmt.Sprintf("StartDate=%d.001", day(3).Unix()), "de"},
			{fmt.Sprintf("EndDate=%d.5", day(2).Unix()), "ab"},
			{"StartDate=2026-03-02&EndDate=2026-03-04", "bc"},
			{"Reason=BOUNCE&Reason=COMPLAINT&EndDate=2026-03-02T12%3A00%3A00Z", "ab"},
		} {
			status, _, body := signedCall(t, srv, tenants["small"], "GET", "/v2/email/suppression/addresses?"+c.query, nil)
			var out struct {
				SuppressedDestinationSummaries []struct{ EmailAddress string }
			}
			if err := json.Unmarshal(body, &out); status != 200 || err != nil {
				t.Errorf("%s: %d %s", c.query, status, body)
				continue
			}
			var got []string
			for _, d := range out.SuppressedDestinationSummaries {
				got = append(got, d.EmailAddress)
			}
			if locals(got) != c.want {
				t.Errorf("%s: %q, want %q", c.query, locals(got), c.want)
			}
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, c := range []struct {
			in   sesv2.ListSuppressedDestinationsInput
			code string
			msg  string
		}{
			{sesv2.ListSuppressedDestinationsInput{PageSize: aws.Int32(0)}, "BadRequestException", "PageSize must be an integer between 1 and 1000."},
			{sesv2.ListSuppressedDestinationsInput{PageSize: aws.Int32(1001)}, "BadRequestException", "PageSize must be an integer between 1 and 1000."},
			{sesv2.ListSuppressedDestinationsInput{Reasons: []types.SuppressionListReason{"SPAM"}}, "BadRequestException", `Reason "SPAM" is not valid`},
			{sesv2.ListSuppressedDestinationsInput{NextToken: aws.String("bm90IGEgdG9rZW4")}, "InvalidNextTokenException", "The NextToken is not valid."},
			{sesv2.ListSuppressedDestinationsInput{NextToken: aws.String("!!")}, "InvalidNextTokenException", "The NextToken is not valid."},
		} {
			_, err := ses.ListSuppressedDestinations(ctx, &c.in)
			wantAPIError(t, fmt.Sprintf("%+v", c.in), err, c.code, 400, c.msg)
		}
		for _, q := range []string{"StartDate=yesterday", "EndDate=2026-13-01", "PageSize=ten", "PageSize=-1"} {
			if status, code, body := signedCall(t, srv, tenants["small"], "GET", "/v2/email/suppression/addresses?"+q, nil); status != 400 || code != "BadRequestException" {
				t.Errorf("%s: %d %s %s", q, status, code, body)
			}
		}
	})
}

// TestAccountSuppressionAttributes: GetAccount shows SES's default
// (BOUNCE, COMPLAINT) until PutAccountSuppressionAttributes sets the
// reasons; an absent SuppressedReasons is the empty list; Petrel's
// SoftBouncePolicy is set, kept by a request without it (as the SDK
// sends), shown by GetAccount, and removed with null.
func TestAccountSuppressionAttributes(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testAccountSuppressionAttributes(t, backend) })
	}
}

func testAccountSuppressionAttributes(t *testing.T, backend string) {
	srv, _, tenants, _ := startAPIOn(t, backend, 256<<20, "acme", "other")
	ses := sesClient(srv.URL, tenants["acme"], 1)
	ctx := t.Context()
	reasons := func(ses *sesv2.Client) []types.SuppressionListReason {
		t.Helper()
		out, err := ses.GetAccount(ctx, &sesv2.GetAccountInput{})
		if err != nil {
			t.Fatal(err)
		}
		return out.SuppressionAttributes.SuppressedReasons
	}
	rawAccount := func() string {
		t.Helper()
		status, _, body := signedCall(t, srv, tenants["acme"], "GET", "/v2/email/account", nil)
		if status != 200 {
			t.Fatalf("GetAccount: %d %s", status, body)
		}
		return string(body)
	}
	putRaw := func(body string) (int, string, string) {
		t.Helper()
		status, code, out := signedCall(t, srv, tenants["acme"], "PUT", "/v2/email/account/suppression", []byte(body))
		return status, code, string(out)
	}
	bounce, complaint := types.SuppressionListReasonBounce, types.SuppressionListReasonComplaint

	if got := reasons(ses); !slices.Equal(got, []types.SuppressionListReason{bounce, complaint}) {
		t.Fatalf("default: %v", got)
	}
	for _, c := range []struct{ set, want []types.SuppressionListReason }{
		{[]types.SuppressionListReason{complaint}, []types.SuppressionListReason{complaint}},
		{[]types.SuppressionListReason{bounce}, []types.SuppressionListReason{bounce}},
		{[]types.SuppressionListReason{}, nil},
		{[]types.SuppressionListReason{complaint, bounce, complaint}, []types.SuppressionListReason{complaint, bounce}},
	} {
		if _, err := ses.PutAccountSuppressionAttributes(ctx, &sesv2.PutAccountSuppressionAttributesInput{SuppressedReasons: c.set}); err != nil {
			t.Fatal(err)
		}
		if got := reasons(ses); !slices.Equal(got, c.want) {
			t.Errorf("set %v: GetAccount shows %v", c.set, got)
		}
	}
	if _, err := ses.PutAccountSuppressionAttributes(ctx, &sesv2.PutAccountSuppressionAttributesInput{}); err != nil {
		t.Fatal(err)
	}
	if got := reasons(ses); len(got) != 0 || !strings.Contains(rawAccount(), `"SuppressedReasons":[]`) {
		t.Errorf("absent SuppressedReasons: %v", got)
	}
	if got := reasons(sesClient(srv.URL, tenants["other"], 1)); len(got) != 2 {
		t.Errorf("another account's reasons changed: %v", got)
	}

	// Petrel's soft-bounce policy.
	if status, code, out := putRaw(`{"SuppressedReasons":["BOUNCE"],"SoftBouncePolicy":{"BounceCount":3,"WindowSeconds":259200,"SuppressSeconds":604800,"Reasons":["mailbox-full"]}}`); status != 200 {
		t.Fatalf("set SoftBouncePolicy: %d %s %s", status, code, out)
	}
	const policy = `"SoftBouncePolicy":{"BounceCount":3,"WindowSeconds":259200,"SuppressSeconds":604800,"Reasons":["mailbox-full"]}`
	if acct := rawAccount(); !strings.Contains(acct, `"SuppressionAttributes":{`+policy+`,"SuppressedReasons":["BOUNCE"]}`) {
		t.Errorf("GetAccount: %s", acct)
	}
	if _, err := ses.PutAccountSuppressionAttributes(ctx, &sesv2.PutAccountSuppressionAttributesInput{SuppressedReasons: []types.SuppressionListReason{complaint}}); err != nil {
		t.Fatal(err)
	}
	if acct := rawAccount(); !strings.Contains(acct, `"SuppressionAttributes":{`+policy+`,"SuppressedReasons":["COMPLAINT"]}`) {
		t.Errorf("an SDK request without SoftBouncePolicy kept it: %s", acct)
	}
	if got := reasons(ses); !slices.Equal(got, []types.SuppressionListReason{complaint}) {
		t.Errorf("the SDK reads GetAccount with the extension: %v", got)
	}
	if status, _, out := putRaw(`{"SuppressedReasons":["COMPLAINT"],"SoftBouncePolicy":null}`); status != 200 {
		t.Fatalf("SoftBouncePolicy null: %d %s", status, out)
	}
	if acct := rawAccount(); strings.Contains(acct, "SoftBouncePolicy") {
		t.Errorf("after null: %s", acct)
	}

	for _, c := range []struct{ body, msg string }{
		{`{"SuppressedReasons":["SPAM"]}`, `Reason \"SPAM\" is not valid`},
		{`{"SuppressedReasons":"BOUNCE"}`, "SuppressedReasons"},
		{`{"SoftBouncePolicy":{"BounceCount":1,"WindowSeconds":3600,"SuppressSeconds":3600}}`, "BounceCount 1 is out of range"},
		{`{"SoftBouncePolicy":{"BounceCount":2,"WindowSeconds":60,"SuppressSeconds":3600}}`, "WindowSeconds 60 is out of range"},
		{`{"SoftBouncePolicy":"3/72h/7d"}`, "SoftBouncePolicy is not valid"},
	} {
		if status, code, out := putRaw(c.body); status != 400 || code != "BadRequestException" || !strings.Contains(out, c.msg) {
			t.Errorf("%s: %d %s %s; want 400 BadRequestException %q", c.body, status, code, out, c.msg)
		}
	}
	if got := reasons(ses); !slices.Equal(got, []types.SuppressionListReason{complaint}) {
		t.Errorf("refused requests changed the reasons: %v", got)
	}
}

// TestSuppressionTenantIsolation: account B cannot see, remove or change
// what account A suppressed: Get and Delete are NotFoundException (A's
// entry stays), List is empty, and B's Put makes B's own entry.
func TestSuppressionTenantIsolation(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "a", "b")
			ctx := t.Context()
			a, b := sesClient(srv.URL, tenants["a"], 1), sesClient(srv.URL, tenants["b"], 1)
			addr := aws.String("shared@example.com")
			if _, err := a.PutSuppressedDestination(ctx, &sesv2.PutSuppressedDestinationInput{EmailAddress: addr, Reason: types.SuppressionListReasonComplaint}); err != nil {
				t.Fatal(err)
			}
			_, err := b.GetSuppressedDestination(ctx, &sesv2.GetSuppressedDestinationInput{EmailAddress: addr})
			wantAPIError(t, "B's Get", err, "NotFoundException", 404, "does not exist on your suppression list")
			_, err = b.DeleteSuppressedDestination(ctx, &sesv2.DeleteSuppressedDestinationInput{EmailAddress: addr})
			wantAPIError(t, "B's Delete", err, "NotFoundException", 404, "does not exist on your suppression list")
			if got, _ := listAll(t, b, sesv2.ListSuppressedDestinationsInput{}); len(got) != 0 {
				t.Errorf("B's List: %q", got)
			}
			if _, err := b.PutSuppressedDestination(ctx, &sesv2.PutSuppressedDestinationInput{EmailAddress: aws.String("SHARED@example.com"), Reason: types.SuppressionListReasonBounce}); err != nil {
				t.Fatal(err)
			}
			ea, err := s.Suppression.Get(ctx, "a", mustAddr(t, "shared@example.com"))
			if err != nil || ea.Reason != suppression.Complaint || ea.Address.Email() != "shared@example.com" {
				t.Errorf("A's entry: %+v %v", ea, err)
			}
			out, err := b.GetSuppressedDestination(ctx, &sesv2.GetSuppressedDestinationInput{EmailAddress: addr})
			if err != nil || out.SuppressedDestination.Reason != types.SuppressionListReasonBounce || *out.SuppressedDestination.EmailAddress != "SHARED@example.com" {
				t.Errorf("B's own entry: %+v %v", out, err)
			}
			if got, _ := listAll(t, a, sesv2.ListSuppressedDestinationsInput{}); !slices.Equal(got, []string{"shared@example.com"}) {
				t.Errorf("A's List: %q", got)
			}
		})
	}
}

// TestSuppressionBoto3: boto3 (botocore's sesv2 model) puts, gets, lists
// and deletes; its StartDate and EndDate arrive in the query string as
// ISO 8601 and filter; the extension members of GetSuppressedDestination
// do not disturb it. It runs when python3 can import boto3.
func TestSuppressionBoto3(t *testing.T) {
	skipWithoutBoto3(t)
	srv, s, tenants, _ := startAPI(t, 256<<20, "acme")
	if err := s.Suppression.Put(t.Context(), "acme", suppression.Entry{Address: mustAddr(t, "old@example.com"), Reason: suppression.Bounce,
		LastUpdate: time.Now().Add(-48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	out := runBoto3(t, "boto3_suppression.py", srv.URL, tenants["acme"].creds)
	var res struct {
		Get      map[string]string
		Listed   []string
		Requests []string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("boto3 printed %q: %v", out, err)
	}
	if res.Get["EmailAddress"] != "Jane+tag@example.com" || res.Get["Reason"] != "BOUNCE" {
		t.Errorf("boto3 get: %v", res.Get)
	}
	if !slices.Equal(res.Listed, []string{"bob@example.com", "Jane+tag@example.com"}) {
		t.Errorf("boto3 listed %q; want the two put in the last hour", res.Listed)
	}
	isoDate := regexp.MustCompile(`StartDate=20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}%3A[0-9]{2}%3A[0-9]{2}`)
	t.Logf("boto3 sent %q", res.Requests)
	if len(res.Requests) != 1 || !isoDate.MatchString(res.Requests[0]) || !strings.Contains(res.Requests[0], "Reason=BOUNCE&Reason=COMPLAINT") {
		t.Errorf("boto3's requests: %q", res.Requests)
	}
	if _, err := s.Suppression.Get(t.Context(), "acme", mustAddr(t, "jane+tag@example.com")); !errors.Is(err, suppression.ErrNotFound) {
		t.Errorf("after boto3's delete: %v", err)
	}
}
