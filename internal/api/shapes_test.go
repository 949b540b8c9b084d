package api

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/responses")

// signedCall sends one request signed as the AWS SDKs sign it (SigV4,
// service "ses") and returns the status, the x-amzn-ErrorType header and
// the body as the server wrote it.
func signedCall(t *testing.T, srv *httptest.Server, ten tenant, method, path string, body []byte) (int, string, []byte) {
	t.Helper()
	status, h, out := signedDo(t, srv, ten, method, path, body)
	return status, h.Get("x-amzn-ErrorType"), out
}

// Values that differ from run to run, replaced before comparing: the
// message ID, and the time a DKIM key was made (epoch seconds, a whole
// number: a fraction would not match and so would show in the diff).
var (
	messageIDRE = regexp.MustCompile(`"MessageId":"[^"]*"`)
	keyTimeRE   = regexp.MustCompile(`"LastKeyGenerationTimestamp":[0-9]+([,}])`)
)

// checkGolden compares the body of a response, its volatile values
// replaced and indented (json.Indent keeps the members' order and the
// numbers as written), with testdata/responses/name.json.
func checkGolden(t *testing.T, name string, body []byte, replace *strings.Replacer) {
	t.Helper()
	b := messageIDRE.ReplaceAll(body, []byte(`"MessageId":"MESSAGE-ID"`))
	b = keyTimeRE.ReplaceAll(b, []byte(`"LastKeyGenerationTimestamp":1700000000$1`))
	b = []byte(replace.Replace(string(b)))
	var ind bytes.Buffer
	if err := json.Indent(&ind, bytes.TrimSuffix(b, []byte("\n")), "", "  "); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", name, err, body)
	}
	ind.WriteByte('\n')
	path := filepath.Join("testdata", "responses", name+".json")
	if *update {
		if err := os.WriteFile(path, ind.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ind.Bytes(), want) {
		t.Errorf("%s: response differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", name, path, ind.Bytes(), want)
	}
}

// TestResponseShapes: the JSON body of every operation's response, and of
// an error, byte for byte (members in order, numbers as written), against
// golden files: SES's member names (../shared/spec/ses.md §1.3, §1.5,
// §1.10, §1.14), members SES leaves out left out, epoch-second timestamps.
// The requests are signed HTTP requests, so each body is what any client
// receives.
func TestResponseShapes(t *testing.T) {
	srv, s, tenants, db := startAPI(t, 256<<20, "acme")
	ten := tenants["acme"]
	ctx := t.Context()
	edKey, err := dkim.Generate(dkim.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	der, err := dkim.MarshalPrivateKey(edKey)
	if err != nil {
		t.Fatal(err)
	}
	// Send and the events of a message are given fixed times.
	const sent = 1700000000250 // ms
	fixSendTime := func(id string) {
		t.Helper()
		if _, err := db.ExecContext(ctx, "UPDATE events SET created_ms = ? WHERE message_id = ? AND kind = 'Send'", sent, id); err != nil {
			t.Fatal(err)
		}
	}
	none := strings.NewReplacer()
	var easySelector *strings.Replacer
	steps := []struct {
		name, method, path, body string
		status                   int
		after                    func(body []byte)
	}{
		{name: "GetAccount", method: "GET", path: "/v2/email/account"},
		{name: "CreateEmailIdentity-domain-easy-dkim", method: "POST", path: "/v2/email/identities",
			body: `{"EmailIdentity":"easy.example","DkimSigningAttributes":{"NextSigningKeyLength":"RSA_1024_BIT"}}`,
			after: func([]byte) {
				d, ok, err := s.Identities.GetDKIM(ctx, "acme", "easy.example")
				if err != nil || !ok {
					t.Fatalf("GetDKIM(easy.example) = %v, %v", ok, err)
				}
				easySelector = strings.NewReplacer(`"`+d.Selector+`"`, `"EASY-SELECTOR"`)
			}},
		{name: "CreateEmailIdentity-domain-byodkim-ed25519", method: "POST", path: "/v2/email/identities",
			body: `{"EmailIdentity":"byo.example","DkimSigningAttributes":{"DomainSigningSelector":"byo1","DomainSigningPrivateKey":"` +
				base64.StdEncoding.EncodeToString(der) + `"}}`},
		{name: "CreateEmailIdentity-address-inherits-dkim", method: "POST", path: "/v2/email/identities",
			body: `{"EmailIdentity":"user@easy.example"}`},
		{name: "CreateEmailIdentity-address-no-dkim", method: "POST", path: "/v2/email/identities",
			body: `{"EmailIdentity":"someone@nodkim.example"}`},
		{name: "GetEmailIdentity-domain", method: "GET", path: "/v2/email/identities/easy.example"},
		{name: "GetEmailIdentity-verified-no-dkim", method: "GET", path: "/v2/email/identities/acme.example"},
		{name: "GetEmailIdentity-address", method: "GET", path: "/v2/email/identities/someone@nodkim.example"},
		{name: "PutEmailIdentityDkimAttributes", method: "PUT", path: "/v2/email/identities/easy.example/dkim",
			body: `{"SigningEnabled":false}`},
		{name: "GetEmailIdentity-signing-disabled", method: "GET", path: "/v2/email/identities/easy.example"},
		{name: "ListEmailIdentities-page1", method: "GET", path: "/v2/email/identities?PageSize=3"},
		{name: "ListEmailIdentities-page2", method: "GET", path: "/v2/email/identities?PageSize=3&NextToken=ZWFzeS5leGFtcGxl"},
		{name: "ListEmailIdentities-filtered", method: "POST", path: "/v2/email/list-identities",
			body: `{"Filter":{"IDENTITY_TYPE":"EMAIL_ADDRESS"},"PageSize":1}`},
		{name: "SendEmail", method: "POST", path: "/v2/email/outbound-emails",
			body: `{"FromEmailAddress":"sender@acme.example","Destination":{"ToAddresses":["a@one.test","b@two.test","c@three.test","d@four.test","e@five.test"]},` +
				`"Content":{"Simple":{"Subject":{"Data":"Hello <you>"},"Body":{"Text":{"Data":"hi"}}}},` +
				`"EmailTags":[{"Name":"team","Value":"ops"},{"Name":"campaign","Value":"spring"},{"Name":"campaign","Value":"summer"}]}`,
			after: func(body []byte) {
				var out struct{ MessageId string }
				if err := json.Unmarshal(body, &out); err != nil {
					t.Fatal(err)
				}
				fixSendTime(out.MessageId)
				addEvents(t, s, db, out.MessageId)
				_, _, ins := signedCall(t, srv, ten, "GET", "/v2/email/insights/"+out.MessageId, nil)
				checkGolden(t, "GetMessageInsights", ins, none)
			}},
		{name: "SendEmail-no-tags", method: "POST", path: "/v2/email/outbound-emails",
			body: `{"FromEmailAddress":"sender@acme.example","Destination":{"ToAddresses":["a@one.test"]},` +
				`"Content":{"Simple":{"Subject":{"Data":"s"},"Body":{"Text":{"Data":"hi"}}}}}`,
			after: func(body []byte) {
				var out struct{ MessageId string }
				if err := json.Unmarshal(body, &out); err != nil {
					t.Fatal(err)
				}
				fixSendTime(out.MessageId)
				_, _, ins := signedCall(t, srv, ten, "GET", "/v2/email/insights/"+out.MessageId+"/", nil)
				checkGolden(t, "GetMessageInsights-no-tags", ins, none)
			}},
		{name: "GetAccount-after-sending", method: "GET", path: "/v2/email/account"},
		{name: "DeleteEmailIdentity", method: "DELETE", path: "/v2/email/identities/byo.example"},
		{name: "error-NotFoundException", method: "GET", path: "/v2/email/identities/byo.example", status: 404},
		{name: "error-BadRequestException", method: "POST", path: "/v2/email/identities", body: `{"EmailIdentity":"a<b>@"}`, status: 400},
	}
	for _, st := range steps {
		status, _, body := signedCall(t, srv, ten, st.method, st.path, []byte(st.body))
		want := st.status
		if want == 0 {
			want = 200
		}
		if status != want {
			t.Fatalf("%s: HTTP %d, want %d: %s", st.name, status, want, body)
		}
		if st.after != nil {
			st.after(body)
		}
		r := none
		if easySelector != nil {
			r = easySelector
		}
		checkGolden(t, st.name, body, r)
	}
}

// addEvents records, at fixed times, one event of each kind
// GetMessageInsights reports for the recipients of message id, and an
// AutoResponse, which it leaves out.
func addEvents(t *testing.T, s *Server, db *store.DB, id string) {
	t.Helper()
	at := func(ms int64) time.Time { return time.UnixMilli(1700000000000 + ms) }
	sub := "OnAccountSuppressionList"
	evs := []struct {
		rcpt string
		at   time.Time
		d    event.Detail
	}{
		{"a@one.test", at(1000), event.DeliveryDetail{Recipients: []string{"a@one.test"}, SMTPResponse: "250 ok"}},
		{"b@two.test", at(1500), event.BounceDetail{BounceType: "Permanent", BounceSubType: "General",
			BouncedRecipients: []event.BouncedRecipient{{EmailAddress: "b@two.test", DiagnosticCode: "smtp; 550 5.1.1 no such user"}}}},
		{"c@three.test", at(2000), event.DeliveryDetail{Recipients: []string{"c@three.test"}}},
		{"c@three.test", at(90000), event.ComplaintDetail{ComplainedRecipients: []event.Recipient{{EmailAddress: "c@three.test"}},
			ComplaintFeedbackType: "abuse"}},
		{"d@four.test", at(3000), event.DeliveryDelayDetail{DelayType: "MailboxFull"}},
		{"d@four.test", at(4000), event.AutoResponseDetail{AutoResponseType: "vacation"}},
		{"e@five.test", at(5000), event.BounceDetail{BounceType: "Transient", BounceSubType: "MailboxFull",
			BouncedRecipients: []event.BouncedRecipient{{EmailAddress: "e@five.test"}}}},
		{"e@five.test", at(6000), event.ComplaintDetail{ComplainedRecipients: []event.Recipient{{EmailAddress: "e@five.test"}},
			ComplaintSubType: &sub}},
	}
	err := db.Tx(t.Context(), func(tx *sql.Tx) error {
		for _, e := range evs {
			if err := s.Events.AddTx(tx, id, "acme", e.rcpt, e.at, e.d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
