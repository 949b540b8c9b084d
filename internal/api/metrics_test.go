package api

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/petrelmail/petrel/internal/metrics"
)

// TestRouteOperations: every route of the API is counted under the name of
// its SES operation — a method of the AWS SDK's SESv2 client — except
// Petrel's own UploadImportData and UnknownOperation; requests are counted
// with their result, the SES error code.
func TestRouteOperations(t *testing.T) {
	m := metrics.New(metrics.Config{})
	h := (&Server{Metrics: m}).Handler()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	client := reflect.TypeFor[*sesv2.Client]()
	ops := map[string]bool{}
	for _, f := range fams {
		if f.GetName() != "petrel_api_requests_total" {
			continue
		}
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "operation" {
					ops[l.GetValue()] = true
				}
			}
		}
	}
	if len(ops) < 38 {
		t.Fatalf("%d operations named, want every route's: %v", len(ops), ops)
	}
	v1 := reflect.TypeFor[*ses.Client]()
	for op := range ops {
		if name, ok := strings.CutPrefix(op, "v1:"); ok {
			// The v1 API's actions (v1.go): SES v1 operations.
			if _, ok := v1.MethodByName(name); !ok && name != "InvalidAction" {
				t.Errorf("v1 operation %q is not an SES v1 operation", op)
			}
			continue
		}
		if _, ok := client.MethodByName(op); !ok && op != "UploadImportData" && op != "UnknownOperation" {
			t.Errorf("route operation %q is not an SESv2 operation", op)
		}
	}

	for _, req := range []*http.Request{
		httptest.NewRequest("GET", "/v2/email/account", nil),
		httptest.NewRequest("GET", "/v2/email/no-such-thing", nil),
	} {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	fams, _ = m.Registry().Gather()
	got := map[[2]string]float64{}
	for _, f := range fams {
		if f.GetName() != "petrel_api_requests_total" {
			continue
		}
		for _, mt := range f.GetMetric() {
			var k [2]string
			for _, l := range mt.GetLabel() {
				switch l.GetName() {
				case "operation":
					k[0] = l.GetValue()
				case "result":
					k[1] = l.GetValue()
				}
			}
			got[k] = mt.GetCounter().GetValue()
		}
	}
	if v := got[[2]string{"GetAccount", "MissingAuthenticationTokenException"}]; v != 1 {
		t.Errorf("unsigned GetAccount counted %v, want 1", v)
	}
	if v := got[[2]string{"UnknownOperation", "MissingAuthenticationTokenException"}]; v != 1 {
		t.Errorf("unknown path counted %v, want 1", v)
	}
}
