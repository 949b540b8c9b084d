package importjob

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/suppression"
)

func TestParse(t *testing.T) {
	type rec struct {
		line   int
		addr   string
		reason suppression.Reason
	}
	for _, tc := range []struct {
		name      string
		data      string
		format    Format
		action    Action
		recs      []rec
		failLines []int
	}{
		{"SES's CSV example, blank after the comma", "recipient1@example.com,BOUNCE\nrecipient2@example.com, COMPLAINT\n", CSV, Put,
			[]rec{{1, "recipient1@example.com", "BOUNCE"}, {2, "recipient2@example.com", "COMPLAINT"}}, nil},
		{"header, CRLF, BOM, blank lines", "\ufeffemailAddress,reason\r\n\r\na@x.example,BOUNCE\r\n  \r\nb@x.example,COMPLAINT", CSV, Put,
			[]rec{{3, "a@x.example", "BOUNCE"}, {5, "b@x.example", "COMPLAINT"}}, nil},
		{"quoted fields", "\"a@x.example\",\"BOUNCE\"\n\"\"\"q\"\"@x.example\" , BOUNCE\n", CSV, Put,
			[]rec{{1, "a@x.example", "BOUNCE"}, {2, "q@x.example", "BOUNCE"}}, nil},
		{"bad rows kept apart", "a@x.example,BOUNCE\nnot-an-address,BOUNCE\nb@x.example,bounce\nc@x.example\nd@x.example,BOUNCE,extra\n\"e@x.example,BOUNCE\nf@x.ex\"ample,BOUNCE\ng@x.example,COMPLAINT\n", CSV, Put,
			[]rec{{1, "a@x.example", "BOUNCE"}, {8, "g@x.example", "COMPLAINT"}}, []int{2, 3, 4, 5, 6, 7}},
		{"a first row without @ that is not a header is a failed record", "address\na@x.example,BOUNCE\n", CSV, Put,
			[]rec{{2, "a@x.example", "BOUNCE"}}, []int{1}},
		{"a bad first record is not taken for a header", "nope,BOUNCE\na@x.example,BOUNCE\n", CSV, Put,
			[]rec{{2, "a@x.example", "BOUNCE"}}, []int{1}},
		{"header names in any case, quoted, after blank lines", "\n\"EMAIL\" ,Reason\na@x.example,BOUNCE\n", CSV, Put,
			[]rec{{3, "a@x.example", "BOUNCE"}}, nil},
		{"header emailaddress alone (DELETE)", "EmailAddress\na@x.example\n", CSV, Delete,
			[]rec{{2, "a@x.example", ""}}, nil},
		{"a header-like field that is not exactly the name is a record", "emailAddresses,reason\nmail,reason\n", CSV, Put,
			nil, []int{1, 2}},
		{"CR-only line ends split lines", "emailAddress,reason\ra@x.example,BOUNCE\r\rb@x.example,COMPLAINT\r", CSV, Put,
			[]rec{{2, "a@x.example", "BOUNCE"}, {4, "b@x.example", "COMPLAINT"}}, nil},
		{"CR, CRLF and LF mixed", "a@x.example,BOUNCE\rb@x.example,BOUNCE\r\nc@x.example,BOUNCE\nd@x.example,BOUNCE", CSV, Put,
			[]rec{{1, "a@x.example", "BOUNCE"}, {2, "b@x.example", "BOUNCE"}, {3, "c@x.example", "BOUNCE"}, {4, "d@x.example", "BOUNCE"}}, nil},
		{"JSON CR-only line ends", `{"emailAddress":"a@x.example","reason":"BOUNCE"}` + "\r" + `{"emailAddress":"b@x.example","reason":"BOUNCE"}`, JSON, Put,
			[]rec{{1, "a@x.example", "BOUNCE"}, {2, "b@x.example", "BOUNCE"}}, nil},
		{"JSON member names are case-sensitive", `{"EmailAddress":"a@x.example","reason":"BOUNCE"}` + "\n" + `{"emailaddress":"b@x.example","reason":"BOUNCE"}` + "\n" +
			`{"emailAddress":"c@x.example","Reason":"BOUNCE"}` + "\n" + `{"emailAddress":"d@x.example","reason":"BOUNCE"}`, JSON, Put,
			[]rec{{4, "d@x.example", "BOUNCE"}}, []int{1, 2, 3}},
		{"JSON null members are absent, other types fail", `{"emailAddress":null}` + "\n" + `{"emailAddress":1,"reason":"BOUNCE"}` + "\n" +
			`{"emailAddress":"a@x.example","reason":["BOUNCE"]}` + "\nnull\n\"a@x.example\"\n", JSON, Put,
			nil, []int{1, 2, 3, 4, 5}},
		{"only the first row can be a header", "a@x.example,BOUNCE\nemail,reason\n", CSV, Put,
			[]rec{{1, "a@x.example", "BOUNCE"}}, []int{2}},
		{"DELETE: the address alone, further fields ignored", "emailAddress\na@x.example\nb@x.example,BOUNCE\nbad\n", CSV, Delete,
			[]rec{{2, "a@x.example", ""}, {3, "b@x.example", ""}}, []int{4}},
		{"display names are not addresses here", "Jane <jane@x.example>,BOUNCE\n", CSV, Put, nil, []int{1}},
		{"JSON", `{"emailAddress":"a@x.example","reason":"BOUNCE"}` + "\r\n\n" + `{"emailAddress": " b@x.example ", "reason": "COMPLAINT", "other": 1}`, JSON, Put,
			[]rec{{1, "a@x.example", "BOUNCE"}, {3, "b@x.example", "COMPLAINT"}}, nil},
		{"JSON bad lines", `{"emailAddress":"a@x.example"}` + "\n" + `{"reason":"BOUNCE"}` + "\nnot json\n" + `{"emailAddress":"b@x.example","reason":"SPAM"}` + "\n[1]\n", JSON, Put,
			nil, []int{1, 2, 3, 4, 5}},
		{"JSON DELETE ignores reason", `{"emailAddress":"a@x.example"}` + "\n" + `{"emailAddress":"b@x.example","reason":"x"}`, JSON, Delete,
			[]rec{{1, "a@x.example", ""}, {2, "b@x.example", ""}}, nil},
		{"empty", "", CSV, Put, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Parse([]byte(tc.data), tc.format, tc.action, 100)
			recs, fails := p.Records, p.Failures
			if p.Over || p.Failed != len(fails) {
				t.Errorf("Over %v, Failed %d", p.Over, p.Failed)
			}
			if len(recs) != len(tc.recs) {
				t.Fatalf("records %+v, want %+v (failures %+v)", recs, tc.recs, fails)
			}
			for i, r := range recs {
				w := tc.recs[i]
				if r.Line != w.line || r.Address.Email() != w.addr || r.Reason != w.reason {
					t.Errorf("record %d: line %d %s %s, want line %d %s %s", i, r.Line, r.Address.Email(), r.Reason, w.line, w.addr, w.reason)
				}
			}
			if len(fails) != len(tc.failLines) {
				t.Fatalf("failures %+v, want lines %v", fails, tc.failLines)
			}
			for i, f := range fails {
				if f.Line != tc.failLines[i] || f.Error == "" || f.Record == "" {
					t.Errorf("failure %d: %+v, want line %d with a record and an error", i, f, tc.failLines[i])
				}
			}
		})
	}
}

// JSON records' errors say what is wrong in JSON's terms, never with Go's
// type names (encoding/json's "Go struct field", "struct {", "map[").
func TestParseJSONErrors(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{`{"emailAddress":1,"reason":"BOUNCE"}`, `"emailAddress" is not a JSON string`},
		{`{"emailAddress":"a@x.example","reason":true}`, `"reason" is not a JSON string`},
		{`[1]`, jsonShape},
		{`"a@x.example"`, jsonShape},
		{`null`, jsonShape},
		{`{"emailAddress":`, jsonShape + ": unexpected end of JSON input"},
		{`{bad}`, jsonShape + ": invalid character 'b'"},
		{`{"EmailAddress":"a@x.example","reason":"BOUNCE"}`, `no "emailAddress" member ("EmailAddress" is not it: member names are case-sensitive)`},
		{`{"reason":"BOUNCE"}`, `no "emailAddress" member`},
	} {
		p := Parse([]byte(tc.line), JSON, Put, 10)
		if len(p.Failures) != 1 {
			t.Errorf("%s: failures %+v, want 1", tc.line, p.Failures)
			continue
		}
		msg := p.Failures[0].Error
		if !strings.HasPrefix(msg, tc.want) {
			t.Errorf("%s: error %q, want it to begin %q", tc.line, msg, tc.want)
		}
		for _, gotype := range []string{"Go ", "struct", "map[", "json.RawMessage", "*string"} {
			if strings.Contains(msg, gotype) {
				t.Errorf("%s: error %q names a Go type (%q)", tc.line, msg, gotype)
			}
		}
	}
}

// A bad line's echo is cut to MaxRecordEcho bytes of valid UTF-8.
func TestParseEchoBounded(t *testing.T) {
	line := "a@x.example,BOUNCE\n" + strings.Repeat("é", MaxRecordEcho) + ",BOUNCE"
	fails := Parse([]byte(line), CSV, Put, 10).Failures
	if len(fails) != 1 || len(fails[0].Record) > MaxRecordEcho || !utf8.ValidString(fails[0].Record) {
		t.Fatalf("failures %+v", fails)
	}
}

// Parse stops past the limit, and keeps the first MaxFailures failures
// while counting them all.
func TestParseLimits(t *testing.T) {
	data := []byte(strings.Repeat("bad\n", MaxFailures+10))
	p := Parse(append([]byte("a@x.example,BOUNCE\n"), data...), CSV, Put, 1<<20)
	if p.Over || len(p.Records) != 1 || p.Failed != MaxFailures+10 || len(p.Failures) != MaxFailures || p.Failures[MaxFailures-1].Line != MaxFailures+1 {
		t.Errorf("Over %v, %d records, Failed %d, %d failures", p.Over, len(p.Records), p.Failed, len(p.Failures))
	}
	for _, tc := range []struct {
		rows  int
		limit int
		over  bool
	}{{5, 5, false}, {6, 5, true}, {1000, 5, true}, {0, 0, false}, {1, 0, true}} {
		data := strings.Repeat("a@x.example,BOUNCE\n", tc.rows)
		p := Parse([]byte(data), CSV, Put, tc.limit)
		if p.Over != tc.over || p.Total() > tc.limit+1 {
			t.Errorf("%d rows, limit %d: Over %v, %d read", tc.rows, tc.limit, p.Over, p.Total())
		}
	}
}

// FuzzParse: Parse never panics; every non-blank line but a skipped header
// is one record or one failure, in line order, until the limit; records
// hold addresses that parse again to the same key and, for PUT, a valid
// reason; failures are bounded valid UTF-8.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"a@x.example,BOUNCE\r\nb@x.example, COMPLAINT\n",
		"emailAddress,reason\n\"a\"\"b\"@x.example,\"BOUNCE\"\n",
		`{"emailAddress":"a@x.example","reason":"BOUNCE"}` + "\n{bad\n",
		"\ufeff\"unterminated,BOUNCE\nx@y,\n,,,\n",
	} {
		f.Add([]byte(s), false, false, uint8(255))
		f.Add([]byte(s), true, true, uint8(1))
	}
	for _, s := range []string{
		"emailAddress,reason\ra@x.example,BOUNCE\r\rb@x.example,COMPLAINT\r",
		"a@x.example,BOUNCE\rb@x.example,BOUNCE\r\nc@x.example\n\r",
		"EMAIL\na@x.example\n",
		"address,reason\nnope,BOUNCE\n",
		"\"Email\" ,reason\r\n\"\"\r",
		`{"EmailAddress":"a@x.example","reason":"BOUNCE"}` + "\r" + `{"emailAddress":1}` + "\r\n[1]\rnull\n",
		`{"emailAddress":"a@x.example","Reason":"BOUNCE","reason":null}`,
	} {
		f.Add([]byte(s), false, false, uint8(255))
		f.Add([]byte(s), true, false, uint8(255))
		f.Add([]byte(s), false, true, uint8(3))
	}
	// Found by fuzzing: an invalid byte made the echo longer than its bound.
	f.Add([]byte("\xd0"+strings.Repeat("\f", 600)), true, false, uint8(255))
	f.Fuzz(func(t *testing.T, data []byte, json, del bool, limit uint8) {
		format, action := CSV, Put
		if json {
			format = JSON
		}
		if del {
			action = Delete
		}
		p := Parse(data, format, action, int(limit))
		recs, fails := p.Records, p.Failures
		lines := 0
		text := strings.TrimPrefix(string(data), "\ufeff")
		text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
		var first string
		for _, l := range strings.Split(text, "\n") {
			if strings.TrimSpace(l) != "" {
				if lines == 0 {
					first = l
				}
				lines++
			}
		}
		if n := p.Total(); !p.Over && n == lines-1 && lines > 0 {
			f, err := csvFields(first)
			if json || err != nil || !isHeader(f[0]) {
				t.Fatalf("first line %q skipped, and it is not a CSV header", first)
			}
		}
		switch n := p.Total(); {
		case p.Over && n != int(limit)+1:
			t.Fatalf("over the limit %d after %d records", limit, n)
		case !p.Over && (n > int(limit) || n != lines && n != lines-1):
			t.Fatalf("%d records and %d failures from %d non-blank lines (limit %d)", len(recs), p.Failed, lines, limit)
		case len(fails) != min(p.Failed, MaxFailures):
			t.Fatalf("%d failures kept of %d", len(fails), p.Failed)
		}
		last := 0
		ri, fi := 0, 0
		for ri < len(recs) || fi < len(fails) {
			var line int
			if fi >= len(fails) || ri < len(recs) && recs[ri].Line < fails[fi].Line {
				r := recs[ri]
				line = r.Line
				ri++
				again, err := address.ParseMailbox(r.Address.Email())
				if err != nil || again.Key() != r.Address.Key() {
					t.Fatalf("record %+v does not parse again: %v", r, err)
				}
				if (action == Put) != (r.Reason != "") {
					t.Fatalf("record %+v: reason for %s", r, action)
				}
				if action == Put {
					if _, err := suppression.ParseReason(string(r.Reason)); err != nil {
						t.Fatal(err)
					}
				}
			} else {
				fl := fails[fi]
				line = fl.Line
				fi++
				if fl.Error == "" || len(fl.Record) > MaxRecordEcho || !utf8.ValidString(fl.Record) ||
					strings.Contains(fl.Error, "Go ") || strings.Contains(fl.Error, "struct {") || strings.Contains(fl.Error, "map[") {
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
