package importjob

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/suppression"
)

// Record is one good record of an import file.
type Record struct {
	Line    int // 1-based line of the file
	Address address.Address
	Reason  suppression.Reason // "" for DELETE
}

// Failure is one record that could not be imported.
type Failure struct {
	Line   int    // 1-based line of the file
	Record string // the line as read (at most MaxRecordEcho bytes)
	Error  string // why, in words
}

// MaxRecordEcho bounds the bytes of a bad line kept in its Failure.
const MaxRecordEcho = 512

// Parse reads an import file as SES does (../shared/spec/ses.md §1.13):
//
//   - CSV: one record a line, "address,REASON" for PUT, the address alone
//     (any further fields ignored) for DELETE; fields may be quoted
//     ("a@b.example","BOUNCE", "" for a quote inside) and are trimmed of
//     blanks ("a@b.example, COMPLAINT" as SES's own example has it);
//   - JSON: newline-delimited objects {"emailAddress": …, "reason": …}
//     ("reason" is ignored for DELETE; other members are ignored).
//
// Lines end in LF, CRLF or CR alone; blank lines and a leading UTF-8 byte
// order mark are skipped. In CSV the first non-blank line is a header, and
// skipped, when its first field is "emailAddress" or "email" in any case
// (e.g. "emailAddress,reason"); any other first line is a record. JSON
// member names are SES's exactly ("emailAddress", "reason": case
// matters, as in SES's own format); a member of another case is another
// member. REASON is BOUNCE or
// COMPLAINT exactly (suppression.ParseReason); it is required for PUT.
// Addresses are RFC 5321 mailboxes without display names
// (address.ParseMailbox).
//
// Every line that is not blank or the header is one record, good (a
// Record) or not (counted in Failed, the first MaxFailures kept as
// Failures), in line order. Parse stops, Over set, at the record past
// limit.
func Parse(data []byte, format Format, action Action, limit int) Parsed {
	var p Parsed
	p.Over = eachRecord(data, format, limit, func() int { return p.Total() }, func(n int, line []byte, fields []string, err error) {
		var addr, reason string
		switch {
		case err != nil:
		case format == JSON:
			addr, reason, err = jsonRecord(line)
		default:
			addr = fields[0]
			switch {
			case action == Delete:
			case len(fields) < 2 || fields[1] == "":
				err = errors.New("no reason: a PUT record is address,REASON (BOUNCE or COMPLAINT)")
			case len(fields) > 2:
				err = fmt.Errorf("%d fields: a PUT record is address,REASON", len(fields))
			default:
				reason = fields[1]
			}
		}
		if err == nil {
			var r Record
			if r, err = record(n, addr, reason, action); err == nil {
				p.Records = append(p.Records, r)
				return
			}
		}
		if p.Failed++; len(p.Failures) < MaxFailures {
			p.Failures = append(p.Failures, Failure{Line: n, Record: echo(line), Error: err.Error()})
		}
	})
	return p
}

// eachRecord walks the records of an import file, the one reading both
// kinds of import share: a UTF-8 byte order mark is skipped, then each
// line that is not blank is a record, except a CSV file's first when it
// is a header (isHeader). rec is called with the record's line number
// (from 1), the line, and for CSV its fields, or err when the line does
// not split into fields. count is how many records were read so far:
// eachRecord stops, reporting over, once it passes limit.
func eachRecord(data []byte, format Format, limit int, count func() int, rec func(n int, line []byte, fields []string, err error)) (over bool) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	first := true
	for n := 1; len(data) > 0; n++ {
		if count() > limit {
			return true
		}
		var line []byte
		line, data = nextLine(data)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var fields []string
		var err error
		if format != JSON {
			fields, err = csvFields(string(line))
			if err == nil && first && isHeader(fields[0]) {
				first = false
				continue
			}
		}
		first = false
		rec(n, line, fields, err)
	}
	return count() > limit
}

// Parsed is what Parse read of a file.
type Parsed struct {
	Records  []Record
	Failures []Failure // the first MaxFailures failed records
	Failed   int       // every failed record
	Over     bool      // the file has more than the limit's records; Parse stopped there
}

// Total is the records read, good and failed.
func (p Parsed) Total() int { return len(p.Records) + p.Failed }

// record checks one record's address and reason.
func record(line int, addr, reason string, action Action) (Record, error) {
	a, err := address.ParseMailbox(addr)
	if err != nil {
		return Record{}, err
	}
	r := Record{Line: line, Address: a}
	if action == Put {
		if reason == "" {
			return Record{}, errors.New("no reason: a PUT record needs BOUNCE or COMPLAINT")
		}
		if r.Reason, err = suppression.ParseReason(reason); err != nil {
			return Record{}, err
		}
	}
	return r, nil
}

// nextLine splits data at its first line end (LF, CRLF or CR alone),
// returning the line without it and the rest.
func nextLine(data []byte) (line, rest []byte) {
	i := bytes.IndexAny(data, "\r\n")
	switch {
	case i < 0:
		return data, nil
	case data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n':
		return data[:i], data[i+2:]
	}
	return data[:i], data[i+1:]
}

// isHeader reports whether a CSV file's first field of its first line
// names the address column: "emailAddress" or "email", in any case.
func isHeader(field string) bool {
	return strings.EqualFold(field, "emailAddress") || strings.EqualFold(field, "email")
}

// jsonShape is the one JSON record shape, for error messages.
const jsonShape = `not a JSON object {"emailAddress": …, "reason": …}`

// jsonRecord reads one line of newline-delimited JSON: an object whose
// members "emailAddress" and "reason" (names matched exactly, as SES
// does; encoding/json's struct decoding would match any case) are strings
// or null (null is absent); other members are ignored. Its errors name
// JSON things only, never Go types.
func jsonRecord(line []byte) (addr, reason string, err error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return "", "", fmt.Errorf("%s: %s", jsonShape, syn.Error())
		}
		return "", "", errors.New(jsonShape)
	}
	if m == nil {
		return "", "", errors.New(jsonShape)
	}
	member := func(name string) (string, bool, error) {
		raw, ok := m[name]
		if !ok || string(raw) == "null" {
			return "", false, nil
		}
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return "", false, fmt.Errorf("%q is not a JSON string", name)
		}
		return strings.TrimSpace(v), true, nil
	}
	addr, ok, err := member("emailAddress")
	if err != nil {
		return "", "", err
	}
	if !ok {
		for k := range m {
			if strings.EqualFold(k, "emailAddress") && k != "emailAddress" {
				return "", "", fmt.Errorf("no \"emailAddress\" member (%q is not it: member names are case-sensitive)", k)
			}
		}
		return "", "", errors.New("no \"emailAddress\" member")
	}
	if reason, _, err = member("reason"); err != nil {
		return "", "", err
	}
	return addr, reason, nil
}

// csvFields splits one CSV line (RFC 4180 fields, without line breaks
// inside quotes) into its fields, each trimmed of blanks. It returns at
// least one field.
func csvFields(line string) ([]string, error) {
	var fields []string
	for {
		line = strings.TrimLeft(line, " \t")
		var f string
		if strings.HasPrefix(line, `"`) {
			var b strings.Builder
			i := 1
			for {
				j := strings.IndexByte(line[i:], '"')
				if j < 0 {
					return nil, errors.New("malformed CSV: a quoted field is not closed")
				}
				b.WriteString(line[i : i+j])
				i += j + 1
				if strings.HasPrefix(line[i:], `"`) {
					b.WriteByte('"')
					i++
					continue
				}
				break
			}
			f, line = b.String(), strings.TrimLeft(line[i:], " \t")
			if line != "" && line[0] != ',' {
				return nil, errors.New("malformed CSV: text after a quoted field")
			}
		} else {
			end := strings.IndexByte(line, ',')
			if end < 0 {
				end = len(line)
			}
			f = strings.TrimRight(line[:end], " \t")
			if strings.Contains(f, `"`) {
				return nil, errors.New("malformed CSV: a quote inside an unquoted field")
			}
			line = line[end:]
		}
		fields = append(fields, f)
		if line == "" {
			return fields, nil
		}
		line = line[1:] // the comma
	}
}

// echo returns line for a Failure: made valid UTF-8, then cut at
// MaxRecordEcho bytes (at a rune boundary).
func echo(line []byte) string {
	s := strings.ToValidUTF8(string(line), "\uFFFD")
	if len(s) > MaxRecordEcho {
		cut := MaxRecordEcho
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}
