package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// decodeRaw runs Content.Raw.Data through json.Unmarshal as the API does.
func decodeRaw(t testing.TB, lit []byte) (*rawData, error) {
	var in struct{ Data *rawData }
	err := json.Unmarshal(append(append([]byte(`{"Data":`), lit...), '}'), &in)
	return in.Data, err
}

func TestRawDataInPlace(t *testing.T) {
	msg := bytes.Repeat([]byte("From: a@example.com\r\nSubject: x\r\n\r\nbody line\r\n"), 5000)
	body := []byte(`{"Content":{"Raw":{"Data":"` + base64.StdEncoding.EncodeToString(msg) + `"}},"Destination":{}}`)
	var in sendEmailInput
	if err := json.Unmarshal(body, &in); err != nil {
		t.Fatal(err)
	}
	got := in.Content.Raw.Data
	if got.err != nil || !bytes.Equal(got.b, msg) {
		t.Fatalf("decoded %d bytes, err %v", len(got.b), got.err)
	}
	// Decoded where the string was: no copy of the message was made.
	at := bytes.Index(body, got.b[:10])
	if at < 0 || &body[at] != &got.b[0] {
		t.Fatal("the message was not decoded within the request body")
	}

	cases := []struct{ name, lit, want, err string }{
		{"empty", `""`, "", ""},
		{"null", `null`, "", ""},
		{"escaped slash", `"YS9i\/w=="`, "a/b\xff", ""},
		{"bad character", `"!!!"`, "", "illegal base64 data at input byte 0"},
		{"padding in the middle", `"` + strings.Repeat("QUJD", 1023) + `QQ==QUJD"`, "", "illegal base64 data at input byte 4095"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := decodeRaw(t, []byte(c.lit))
			if err != nil {
				t.Fatal(err)
			}
			if c.lit == "null" {
				if d != nil {
					t.Fatalf("null gave %+v", d)
				}
				return
			}
			if c.err != "" {
				if d.err == nil || d.err.Error() != c.err {
					t.Fatalf("err %v, want %q", d.err, c.err)
				}
				return
			}
			if d.err != nil || string(d.b) != c.want {
				t.Fatalf("got %q, %v", d.b, d.err)
			}
		})
	}
	var te *json.UnmarshalTypeError
	if _, err := decodeRaw(t, []byte(`5`)); !errors.As(err, &te) || te.Field != "Data" {
		t.Fatalf("a number: %v", err)
	}
}

// FuzzRawData checks the in-place decoder against the plain one: the same
// bytes, or an error for the same strings.
func FuzzRawData(f *testing.F) {
	f.Add("aGVsbG8=")
	f.Add("YS9i\\/w==")
	f.Add(strings.Repeat("QUJD", 1024) + "QQ==")
	f.Add("QQ=")
	f.Fuzz(func(t *testing.T, s string) {
		lit, _ := json.Marshal(s)
		d, err := decodeRaw(t, lit)
		if err != nil {
			t.Fatalf("%q: %v", lit, err)
		}
		want, wantErr := base64.StdEncoding.DecodeString(s)
		if (d.err != nil) != (wantErr != nil) {
			t.Fatalf("%q: err %v, want %v", s, d.err, wantErr)
		}
		if d.err == nil && !bytes.Equal(d.b, want) {
			t.Fatalf("%q: %q, want %q", s, d.b, want)
		}
	})
}
