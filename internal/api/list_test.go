package api

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go"

	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/store"
)

// listFixture creates, besides the tenant's verified acme.example, domain
// and address identities, two of them verified, and returns all names in
// byte order (the store's order on SQLite).
func listFixture(t *testing.T, s *Server) []string {
	t.Helper()
	for _, c := range []struct {
		name     string
		verified bool
	}{
		{"shop.example", true}, {"Shop-EU.example", false}, {"news.example", false},
		{"sales@shop.example", true}, {"Ann@news.example", false}, {"ops@acme.example", false},
	} {
		if _, err := s.Identities.Create(t.Context(), "acme", c.name, c.verified); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"Ann@news.example", "acme.example", "news.example", "ops@acme.example", "sales@shop.example", "shop-eu.example", "shop.example"}
}

// TestListEmailIdentities (issue 11): aws-sdk-go-v2 service/sesv2 v1.79.7
// sends ListEmailIdentities as POST /v2/email/list-identities with
// NextToken, PageSize and Filter in a JSON body; Petrel served only GET
// /v2/email/identities (botocore's route, with the query string), so the
// SDK got UnknownOperationException. Both routes now list, page alike, and
// the body's Filter (IdentityFilter: IDENTITY_NAME_CONTAINS,
// IDENTITY_TYPE, VERIFICATION_STATUS, all of them applying) selects.
func TestListEmailIdentities(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testListEmailIdentities(t, backend) })
	}
}

func testListEmailIdentities(t *testing.T, backend string) {
	srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme", "other")
	ses := sesClient(srv.URL, tenants["acme"], 1)
	names := listFixture(t, s)

	// list pages through ListEmailIdentities with the SDK's paginator and
	// returns the names and the size of each page.
	list := func(t *testing.T, pageSize int32, filter map[string]string) ([]string, []int) {
		t.Helper()
		var names []string
		var sizes []int
		p := sesv2.NewListEmailIdentitiesPaginator(ses, &sesv2.ListEmailIdentitiesInput{PageSize: aws.Int32(pageSize), Filter: filter})
		for p.HasMorePages() {
			out, err := p.NextPage(t.Context())
			if err != nil {
				t.Fatalf("ListEmailIdentities(PageSize %d, Filter %v): %v", pageSize, filter, err)
			}
			for _, id := range out.EmailIdentities {
				names = append(names, *id.IdentityName)
			}
			sizes = append(sizes, len(out.EmailIdentities))
		}
		return names, sizes
	}
	// The order is the store's (its collation's, on PostgreSQL): all is
	// every identity in it, in one page.
	all, _ := list(t, 1000, nil)
	if !slices.Equal(slices.Sorted(slices.Values(all)), names) {
		t.Fatalf("one page: %q, want %q", all, names)
	}
	// only is all the names in want, in all's order.
	only := func(want ...string) []string {
		var out []string
		for _, n := range all {
			if slices.Contains(want, n) {
				out = append(out, n)
			}
		}
		return out
	}

	t.Run("paging", func(t *testing.T) {
		for _, c := range []struct {
			pageSize int32
			sizes    []int
		}{{0, []int{7}}, {1, []int{1, 1, 1, 1, 1, 1, 1}}, {3, []int{3, 3, 1}}, {7, []int{7}}, {1000, []int{7}}} {
			got, sizes := list(t, c.pageSize, nil)
			if !slices.Equal(got, all) || !slices.Equal(sizes, c.sizes) {
				t.Errorf("PageSize %d: %q in pages of %v, want %q in pages of %v", c.pageSize, got, sizes, all, c.sizes)
			}
		}
	})

	t.Run("filter", func(t *testing.T) {
		for _, c := range []struct {
			filter map[string]string
			want   []string
		}{
			{map[string]string{}, all},
			{map[string]string{"IDENTITY_TYPE": "DOMAIN"}, only("acme.example", "news.example", "shop-eu.example", "shop.example")},
			{map[string]string{"IDENTITY_TYPE": "EMAIL_ADDRESS"}, only("Ann@news.example", "ops@acme.example", "sales@shop.example")},
			{map[string]string{"IDENTITY_TYPE": "MANAGED_DOMAIN"}, nil},
			{map[string]string{"VERIFICATION_STATUS": "SUCCESS"}, only("acme.example", "sales@shop.example", "shop.example")},
			{map[string]string{"VERIFICATION_STATUS": "PENDING"}, only("Ann@news.example", "news.example", "ops@acme.example", "shop-eu.example")},
			{map[string]string{"VERIFICATION_STATUS": "FAILED"}, nil},
			{map[string]string{"IDENTITY_NAME_CONTAINS": "shop"}, only("sales@shop.example", "shop-eu.example", "shop.example")},
			{map[string]string{"IDENTITY_NAME_CONTAINS": " ANN@ "}, only("Ann@news.example")},
			{map[string]string{"IDENTITY_NAME_CONTAINS": "nowhere"}, nil},
			{map[string]string{"IDENTITY_NAME_CONTAINS": "shop", "IDENTITY_TYPE": "DOMAIN", "VERIFICATION_STATUS": "PENDING"}, only("shop-eu.example")},
		} {
			for _, pageSize := range []int32{0, 1, 2} {
				got, sizes := list(t, pageSize, c.filter)
				if !slices.Equal(got, c.want) {
					t.Errorf("Filter %v, PageSize %d: %q, want %q", c.filter, pageSize, got, c.want)
				}
				// Every page but the last is full, and the last is not
				// followed by an empty one.
				for i, n := range sizes {
					if pageSize > 0 && i < len(sizes)-1 && n != int(pageSize) || i > 0 && i == len(sizes)-1 && n == 0 {
						t.Errorf("Filter %v, PageSize %d: pages of %v", c.filter, pageSize, sizes)
					}
				}
			}
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, c := range []struct {
			in   sesv2.ListEmailIdentitiesInput
			want string
		}{
			{sesv2.ListEmailIdentitiesInput{Filter: map[string]string{"IDENTITY_OWNER": "me"}}, `Filter key "IDENTITY_OWNER" is not supported`},
			{sesv2.ListEmailIdentitiesInput{Filter: map[string]string{"IDENTITY_TYPE": "domain"}}, `Filter IDENTITY_TYPE "domain" is not valid`},
			{sesv2.ListEmailIdentitiesInput{Filter: map[string]string{"VERIFICATION_STATUS": "Success"}}, `Filter VERIFICATION_STATUS "Success" is not valid`},
			{sesv2.ListEmailIdentitiesInput{PageSize: aws.Int32(1001)}, "PageSize must be an integer between 0 and 1000."},
			{sesv2.ListEmailIdentitiesInput{PageSize: aws.Int32(-1)}, "PageSize must be an integer between 0 and 1000."},
			{sesv2.ListEmailIdentitiesInput{NextToken: aws.String("not base64!")}, "NextToken is not valid."},
			// Base64 that no token Petrel gives decodes to (a tester's garbage).
			{sesv2.ListEmailIdentitiesInput{NextToken: aws.String("zzzzzzzz")}, "NextToken is not valid."},
			{sesv2.ListEmailIdentitiesInput{NextToken: aws.String("AAECAw")}, "NextToken is not valid."},
		} {
			_, err := ses.ListEmailIdentities(t.Context(), &c.in)
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "BadRequestException" || !strings.Contains(ae.ErrorMessage(), c.want) {
				t.Errorf("ListEmailIdentities(%+v): %v, want BadRequestException %q", c.in, err, c.want)
			}
		}
	})

	// GET /v2/email/identities (older SDKs, boto3, the AWS CLI) pages as the
	// POST route does, with the same tokens; a POST with no body lists all.
	t.Run("routes", func(t *testing.T) {
		type page struct {
			EmailIdentities []struct{ IdentityName string }
			NextToken       string
		}
		get := func(t *testing.T, method, path, body string) page {
			t.Helper()
			status, _, b := signedCall(t, srv, tenants["acme"], method, path, []byte(body))
			var p page
			if err := json.Unmarshal(b, &p); status != 200 || err != nil {
				t.Fatalf("%s %s: HTTP %d %s", method, path, status, b)
			}
			return p
		}
		var got []string
		token := ""
		for {
			p := get(t, "GET", "/v2/email/identities?PageSize=3&NextToken="+token, "")
			q := get(t, "POST", "/v2/email/list-identities", `{"PageSize":3,"NextToken":"`+token+`"}`)
			if p.NextToken != q.NextToken || len(p.EmailIdentities) != len(q.EmailIdentities) {
				t.Fatalf("after %q: GET gave %+v, POST %+v", token, p, q)
			}
			for _, id := range p.EmailIdentities {
				got = append(got, id.IdentityName)
			}
			if token = p.NextToken; token == "" {
				break
			}
		}
		if !slices.Equal(got, all) {
			t.Errorf("GET pages: %q, want %q", got, all)
		}
		if p := get(t, "POST", "/v2/email/list-identities", ""); len(p.EmailIdentities) != len(all) || p.NextToken != "" {
			t.Errorf("POST without a body: %+v", p)
		}
		status, code, b := signedCall(t, srv, tenants["acme"], "POST", "/v2/email/list-identities", []byte(`{"PageSize":"3"}`))
		if status != 400 || code != "BadRequestException" {
			t.Errorf("PageSize as a string: HTTP %d %s %s", status, code, b)
		}
	})

	// Another account sees only its own identities.
	other := sesClient(srv.URL, tenants["other"], 1)
	out, err := other.ListEmailIdentities(t.Context(), &sesv2.ListEmailIdentitiesInput{})
	if err != nil || len(out.EmailIdentities) != 1 || *out.EmailIdentities[0].IdentityName != "other.example" {
		t.Fatalf("other: %+v, %v", out, err)
	}
}

// TestListEmailIdentitiesBoto3: boto3 (botocore's sesv2 model) lists with
// GET /v2/email/identities and NextToken/PageSize in the query string; its
// paginator walks Petrel's pages. It runs when python3 can import boto3.
func TestListEmailIdentitiesBoto3(t *testing.T) {
	skipWithoutBoto3(t)
	srv, s, tenants, _ := startAPI(t, 256<<20, "acme")
	all := listFixture(t, s)
	out := runBoto3(t, "boto3_list_identities.py", srv.URL, tenants["acme"].creds)
	var res struct {
		Requests []string
		Pages    [][]string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("boto3 printed %q: %v", out, err)
	}
	var names []string
	for _, p := range res.Pages {
		names = append(names, p...)
	}
	if !slices.Equal(names, all) || len(res.Pages) != 3 || len(res.Requests) != 3 {
		t.Errorf("boto3 pages %q in %d requests, want %q in 3 pages of 3", res.Pages, len(res.Requests), all)
	}
	for _, r := range res.Requests {
		if !strings.HasPrefix(r, "GET /v2/email/identities?") {
			t.Errorf("boto3 sent %s, want GET /v2/email/identities?…", r)
		}
	}
}

// skipWithoutBoto3 skips t unless python3 can import boto3.
func skipWithoutBoto3(t *testing.T) {
	t.Helper()
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skipf("python3 with boto3 is not available: %v", err)
	}
}

// runBoto3 runs the Python script testdata/script with the API's URL as
// its argument and creds in the environment (and no AWS configuration
// file), and returns what it printed; a failure fails t with its stderr.
func runBoto3(t *testing.T, script, url string, creds aws.Credentials) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "python3", "testdata/"+script, url)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("boto3: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	return out
}

// FuzzListEmailIdentitiesInput: any body of POST /v2/email/list-identities
// is either refused with a 400 or gives a page size of 1-1000, a known
// identity type, and a filter that lists an identity whose name contains
// IDENTITY_NAME_CONTAINS and whose type and status are the filter's.
func FuzzListEmailIdentitiesInput(f *testing.F) {
	f.Add([]byte(`{"PageSize":3,"NextToken":"YQ","Filter":{"IDENTITY_NAME_CONTAINS":" Shop ","IDENTITY_TYPE":"DOMAIN"}}`))
	f.Add([]byte(`{"Filter":{"VERIFICATION_STATUS":"PENDING"}}`))
	f.Add([]byte(`{"Filter":{"OTHER":"x"}}`))
	f.Add([]byte(`{"PageSize":1e3}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := decodeListInput(body)
		var r listRequest
		if err == nil {
			r, err = in.check()
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 {
				t.Fatalf("%q: %v, want a 400", body, err)
			}
			return
		}
		if r.size < 1 || r.size > 1000 {
			t.Fatalf("%q: page size %d", body, r.size)
		}
		if !slices.Contains([]identity.Kind{"", identity.Domain, identity.EmailAddress, "MANAGED_DOMAIN"}, r.filter.kind) {
			t.Fatalf("%q: identity type %q", body, r.filter.kind)
		}
		id := identity.Identity{Name: "x" + strings.TrimSpace(in.Filter["IDENTITY_NAME_CONTAINS"]) + "y",
			Kind: r.filter.kind, Verified: r.filter.status == "SUCCESS"}
		if !r.filter.match(id, r.filter.status) {
			t.Fatalf("%q: filter %+v does not match %+v", body, r.filter, id)
		}
	})
}
