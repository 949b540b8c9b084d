package awsquery

import (
	"bytes"
	"errors"
	"flag"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err != nil {
		return "?"
	}
	return ""
}

// TestParse: form bodies and query strings as the AWS SDKs write them.
func TestParse(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		query   string
		action  string
		get     map[string]string
		list    map[string][]string
		maps    map[[3]string]map[string]string
		errCode string
	}{
		{name: "simple", body: "Action=CreateTopic&Name=t&Version=2010-03-31", action: "CreateTopic", get: map[string]string{"Name": "t", "Version": ""}},
		{name: "query only", query: "Action=ConfirmSubscription&TopicArn=arn%3Aaws%3Asns%3Ax&Token=abc", action: "ConfirmSubscription",
			get: map[string]string{"TopicArn": "arn:aws:sns:x", "Token": "abc"}},
		{name: "body wins over query", body: "Action=A&X=body", query: "X=query&Y=q", action: "A", get: map[string]string{"X": "body", "Y": "q"}},
		{name: "list", body: "Action=A&Ids.member.2=b&Ids.member.1=a&Ids.member.10=j", action: "A", list: map[string][]string{"Ids": {"a", "b", "j"}, "None": nil}},
		{name: "attributes map", body: "Action=A&Attributes.entry.1.key=DisplayName&Attributes.entry.1.value=D&Attributes.entry.2.key=Policy&Attributes.entry.2.value=%7B%7D",
			action: "A", maps: map[[3]string]map[string]string{{"Attributes", "key", "value"}: {"DisplayName": "D", "Policy": "{}"}}},
		{name: "message attributes", body: "Action=Publish&MessageAttributes.entry.1.Name=eventType&MessageAttributes.entry.1.Value.DataType=String&MessageAttributes.entry.1.Value.StringValue=Bounce",
			action: "Publish", maps: map[[3]string]map[string]string{
				{"MessageAttributes", "Name", "Value.StringValue"}: {"eventType": "Bounce"},
				{"MessageAttributes", "Name", "Value.DataType"}:    {"eventType": "String"},
				{"MessageAttributes", "Name", "Value.BinaryValue"}: {},
			}},
		{name: "empty map", body: "Action=A", action: "A", maps: map[[3]string]map[string]string{{"Attributes", "key", "value"}: nil}},
		{name: "bad encoding", body: "Action=%zz", errCode: "MalformedQueryString"},
		{name: "conflicting duplicate", body: "Action=A&Name=x&Name=y", errCode: "MalformedQueryString"},
		{name: "same duplicate", body: "Action=A&Name=x&Name=x", action: "A", get: map[string]string{"Name": "x"}},
		{name: "bad list index", body: "Action=A&Ids.member.0=a", action: "A", list: map[string][]string{"Ids": {"error"}}},
		{name: "leading zero index", body: "Action=A&Ids.member.01=a", action: "A", list: map[string][]string{"Ids": {"error"}}},
		{name: "huge index", body: "Action=A&Ids.member.1001=a", action: "A", list: map[string][]string{"Ids": {"error"}}},
		{name: "map entry without key", body: "Action=A&Attributes.entry.1.value=v", action: "A",
			maps: map[[3]string]map[string]string{{"Attributes", "key", "value"}: {"error": ""}}},
		{name: "map duplicate key", body: "Action=A&Attributes.entry.1.key=k&Attributes.entry.1.value=1&Attributes.entry.2.key=k&Attributes.entry.2.value=2", action: "A",
			maps: map[[3]string]map[string]string{{"Attributes", "key", "value"}: {"error": ""}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			r, err := Parse([]byte(tc.body), q)
			if code(err) != tc.errCode {
				t.Fatalf("error %v, want %q", err, tc.errCode)
			}
			if err != nil {
				return
			}
			if r.Action != tc.action {
				t.Fatalf("Action %q, want %q", r.Action, tc.action)
			}
			if r.Has("Action") {
				t.Fatal("Action left in Params")
			}
			for k, v := range tc.get {
				if r.Get(k) != v {
					t.Errorf("Get(%s) = %q, want %q", k, r.Get(k), v)
				}
			}
			for k, want := range tc.list {
				got, err := r.List(k)
				if len(want) == 1 && want[0] == "error" {
					if err == nil {
						t.Errorf("List(%s) = %v, want an error", k, got)
					}
					continue
				}
				if err != nil || !reflect.DeepEqual(got, want) && len(got)+len(want) > 0 {
					t.Errorf("List(%s) = %v %v, want %v", k, got, err, want)
				}
			}
			for k, want := range tc.maps {
				got, err := r.Map(k[0], k[1], k[2])
				if _, bad := want["error"]; bad {
					if err == nil {
						t.Errorf("Map(%v) = %v, want an error", k, got)
					}
					continue
				}
				if err != nil || len(got)+len(want) > 0 && !reflect.DeepEqual(got, want) {
					t.Errorf("Map(%v) = %v %v, want %v", k, got, err, want)
				}
			}
		})
	}
}

// TestTypedGetters: Required and Bool with the caller's errors.
func TestTypedGetters(t *testing.T) {
	r, err := Parse([]byte("Action=A&T=true&F=FALSE&X=maybe&E="), nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := func(n string) error { return &Error{Code: "InvalidParameter", Message: n} }
	if v, err := r.Required("T", bad); v != "true" || err != nil {
		t.Fatal(v, err)
	}
	if _, err := r.Required("E", bad); code(err) != "InvalidParameter" {
		t.Fatal("empty required parameter accepted")
	}
	if _, err := r.Required("Absent", bad); code(err) != "InvalidParameter" {
		t.Fatal("absent required parameter accepted")
	}
	for _, c := range []struct {
		name     string
		def, out bool
		err      bool
	}{{"T", false, true, false}, {"F", true, false, false}, {"Absent", true, true, false}, {"X", false, false, true}} {
		v, err := r.Bool(c.name, c.def, bad)
		if v != c.out || (err != nil) != c.err {
			t.Errorf("Bool(%s) = %v %v", c.name, v, err)
		}
	}
}

type sampleResult struct {
	Topics     []struct{ TopicArn string } `xml:"Topics>member"`
	Attributes []Entry                     `xml:"Attributes>entry"`
	NextToken  string                      `xml:"NextToken,omitempty"`
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(path, got, 0o644)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s:\n got %s\nwant %s", name, got, want)
	}
}

// TestResponses: the XML documents of a result, an empty result and an
// error, against golden files; characters needing escapes are escaped.
func TestResponses(t *testing.T) {
	ns := "http://sns.amazonaws.com/doc/2010-03-31/"
	res := sampleResult{Attributes: Entries(map[string]string{"b": "<&>", "a": "1"}), NextToken: "tok"}
	res.Topics = append(res.Topics, struct{ TopicArn string }{"arn:1"}, struct{ TopicArn string }{"arn:2"})
	b, err := Marshal(ns, "ListTopics", "req-1", res)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "result.xml", b)
	w := httptest.NewRecorder()
	if err := WriteResponse(w, ns, "DeleteTopic", "req-2", nil); err != nil {
		t.Fatal(err)
	}
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/xml" || w.Header().Get("x-amzn-RequestId") != "req-2" {
		t.Fatalf("WriteResponse: %d %v", w.Code, w.Header())
	}
	golden(t, "empty.xml", w.Body.Bytes())
	w = httptest.NewRecorder()
	WriteError(w, ns, "req-3", &Error{Type: Sender, Code: "NotFound", Status: 404, Message: "Topic does not exist"})
	if w.Code != 404 {
		t.Fatalf("WriteError status %d", w.Code)
	}
	golden(t, "error.xml", w.Body.Bytes())
}

// FuzzParse: no input makes the decoder panic; whatever decodes gives
// List and Map answers without panicking, and Action never stays in Params.
func FuzzParse(f *testing.F) {
	f.Add("Action=Publish&MessageAttributes.entry.1.Name=a&MessageAttributes.entry.1.Value.StringValue=b", "")
	f.Add("Action=A&Ids.member.1=x&Ids.member.3=y", "Token=t")
	f.Add("%zz", "a=%")
	f.Add("Attributes.entry.99999999999999999999.key=k", "")
	f.Add("RawMessage.Data=abc%2B%2F%3D+x&Source=a%40b.c", "")
	f.Add("a=1&a=2", "")
	f.Add("Tags.member.1.Name=n&Tags.member.1.Value=vvvvvvvvvvvvvvvvvvvv", "")
	f.Fuzz(func(t *testing.T, body, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			q = nil
		}
		// Values of 16 octets or more take the in-place path.
		largeValue = 16
		defer func() { largeValue = LargeValue }()
		want, wantErr := url.ParseQuery(body)
		r, err := Parse([]byte(body), q)
		if err == nil && wantErr != nil {
			t.Fatalf("Parse accepted %q, url.ParseQuery: %v", body, wantErr)
		}
		if err == nil {
			// The same values as url.ParseQuery's (Parse refuses a name
			// given twice with different values).
			for k, vs := range want {
				if k == "Action" || k == "Version" {
					continue
				}
				if got := r.Get(k); got != vs[0] || !bytes.Equal(r.Bytes(k), []byte(vs[0])) {
					t.Fatalf("%q: %q = %q, url.ParseQuery %q", body, k, got, vs[0])
				}
			}
		}
		if err != nil {
			if code(err) == "?" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if r.Has("Action") || r.Has("Version") {
			t.Fatal("Action/Version left in Params")
		}
		for _, n := range []string{"Ids", "Attributes", "MessageAttributes"} {
			r.List(n)
			if ms, err := r.Members(n); err == nil {
				for _, m := range ms {
					if len(m.Params) == 0 {
						t.Fatalf("member of %s with no fields", n)
					}
				}
			} else if code(err) == "?" {
				t.Fatalf("untyped error %v", err)
			}
			r.Sub(n).List("member")
			r.Map(n, "key", "value")
			m, merr := r.Map(n, "Name", "Value.StringValue")
			keys, kerr := r.MapKeys(n, "Name")
			if merr == nil && kerr == nil {
				// Every key Map returns is among MapKeys'.
				set := map[string]bool{}
				for _, k := range keys {
					set[k] = true
				}
				for k := range m {
					if !set[k] {
						t.Fatalf("Map key %q missing from MapKeys %q", k, keys)
					}
				}
			}
		}
	})
}

// TestMapKeys: MapKeys lists every entry's key in index order, also those
// without a value field (which Map drops), and refuses a bad index.
func TestMapKeys(t *testing.T) {
	r, err := Parse([]byte("M.entry.2.Name=b&M.entry.2.Value.DataType=String&M.entry.10.Name=c&M.entry.1.Name=a&M.entry.1.Value.StringValue=x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := r.MapKeys("M", "Name")
	if err != nil || strings.Join(keys, ",") != "a,b,c" {
		t.Fatalf("MapKeys = %q %v", keys, err)
	}
	if m, _ := r.Map("M", "Name", "Value.DataType"); len(m) != 1 {
		t.Fatalf("Map = %v", m)
	}
	r, _ = Parse([]byte("M.entry.0.Name=a"), nil)
	if _, err := r.MapKeys("M", "Name"); code(err) != "MalformedQueryString" {
		t.Fatalf("index 0: %v", err)
	}
}

// TestMembers: lists of structures (Tags.member.N.Name) and nested
// structures (Destination.ToAddresses.member.N) as the SES v1 Query API
// sends them; a bad index or a member without a field is refused.
func TestMembers(t *testing.T) {
	r, err := Parse([]byte("Action=SendEmail&Tags.member.2.Name=b&Tags.member.1.Name=a&Tags.member.1.Value=1&Tags.member.2.Value=2"+
		"&Destination.ToAddresses.member.1=x%40y.z&Destination.CcAddresses.member.1=c%40y.z&Message.Body.Text.Data=hi"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := r.Members("Tags")
	if err != nil || len(tags) != 2 || tags[0].Get("Name") != "a" || tags[0].Get("Value") != "1" || tags[1].Get("Name") != "b" {
		t.Fatalf("Members(Tags) = %v, %v", tags, err)
	}
	to, err := r.Sub("Destination").List("ToAddresses")
	if err != nil || len(to) != 1 || to[0] != "x@y.z" {
		t.Fatalf("Sub(Destination).List(ToAddresses) = %q, %v", to, err)
	}
	if got := r.Sub("Message").Sub("Body").Sub("Text").Get("Data"); got != "hi" {
		t.Fatalf("nested Sub = %q", got)
	}
	if !r.HasSub("Destination") || r.HasSub("Dest") || r.HasSub("Template") {
		t.Fatal("HasSub wrong")
	}
	for _, body := range []string{"Tags.member.0.Name=a", "Tags.member.1=a", "Tags.member.x.Name=a"} {
		r, err := Parse([]byte(body), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Members("Tags"); code(err) != "MalformedQueryString" {
			t.Errorf("%s: %v, want MalformedQueryString", body, err)
		}
	}
}

// TestParseLarge: a value of LargeValue octets or more is decoded in the
// body's own memory (no copy) and reaches Get, Bytes, Sub, Members and
// List like any other; given twice with different values it is refused.
func TestParseLarge(t *testing.T) {
	raw := bytes.Repeat([]byte("ab+/="), LargeValue/5+1) // form-encoded: ab%2B%2F%3D
	enc := url.QueryEscape(string(raw))
	body := []byte("Action=SendRawEmail&Source=a%40b.c&RawMessage.Data=" + enc + "&Destinations.member.1.Data=" + enc + "&Flag=" + strings.Repeat("t", LargeValue))
	r, err := Parse(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := r.Bytes("RawMessage.Data")
	if !bytes.Equal(got, raw) || r.Get("RawMessage.Data") != string(raw) || !r.Has("RawMessage.Data") {
		t.Fatalf("large value decoded wrong (%d octets)", len(got))
	}
	if start, end := &body[0], &body[len(body)-1]; uintptr(unsafe.Pointer(&got[0])) < uintptr(unsafe.Pointer(start)) ||
		uintptr(unsafe.Pointer(&got[0])) > uintptr(unsafe.Pointer(end)) {
		t.Fatal("the large value was copied, not decoded in the body")
	}
	if r.Get("Source") != "a@b.c" || !r.HasSub("RawMessage") {
		t.Fatal("small values wrong beside a large one")
	}
	if v := r.Sub("RawMessage").Bytes("Data"); &v[0] != &got[0] {
		t.Fatal("Sub copied the large value")
	}
	ms, err := r.Members("Destinations")
	if err != nil || len(ms) != 1 || !bytes.Equal(ms[0].Bytes("Data"), raw) {
		t.Fatalf("Members lost the large value: %v", err)
	}
	if _, err := r.Bool("Flag", false, func(string) error { return errors.New("invalid") }); err == nil {
		t.Fatal("a large non-boolean is a boolean")
	}
	for _, dup := range []string{
		"RawMessage.Data=" + enc + "&RawMessage.Data=" + enc + "x",
		"RawMessage.Data=small&RawMessage.Data=" + enc,
		"RawMessage.Data=" + enc + "&RawMessage.Data=small",
		"RawMessage.Data=" + enc[:len(enc)-1] + "%",
	} {
		if _, err := Parse([]byte(dup), nil); code(err) != "MalformedQueryString" {
			t.Errorf("%.40q…: %v, want MalformedQueryString", dup, err)
		}
	}
	if r, err := Parse([]byte("RawMessage.Data="+enc+"&RawMessage.Data="+enc), nil); err != nil || !bytes.Equal(r.Bytes("RawMessage.Data"), raw) {
		t.Errorf("a large value given twice the same: %v", err)
	}
}
