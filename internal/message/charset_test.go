package message

import (
	"io"
	"mime"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/ianaindex"
)

// FuzzCharsetField: a Subject written in a charset (charsetField) is
// folded to lines of at most 78 characters when its words allow, and
// decodes (RFC 2047) back to the value; a value the charset cannot hold
// is an error, never a wrong field.
func FuzzCharsetField(f *testing.F) {
	f.Add("Grüße aus Köln", uint8(0))
	f.Add(strings.Repeat("éè ", 60), uint8(1))
	f.Add("日本語の件名です。とても長い件名を書いてみます、折り返しが必要になるまで。", uint8(2))
	f.Add("Привет", uint8(3))
	f.Add("plain ascii", uint8(0))
	charsets := []string{"ISO-8859-1", "ISO-8859-15", "Shift_JIS", "windows-1251", "UTF-8"}
	dec := mime.WordDecoder{CharsetReader: func(cs string, in io.Reader) (io.Reader, error) {
		e, err := ianaindex.MIME.Encoding(cs)
		if err != nil {
			return nil, err
		}
		return e.NewDecoder().Reader(in), nil
	}}
	f.Fuzz(func(t *testing.T, value string, n uint8) {
		if !utf8.ValidString(value) || strings.ContainsAny(value, "\r\n\x00") {
			return
		}
		cs := charsets[int(n)%len(charsets)]
		fl, err := charsetField("Subject", value, cs)
		if err != nil {
			return
		}
		raw := string(fl.Raw)
		if !strings.HasPrefix(raw, "Subject:") || !strings.HasSuffix(raw, "\r\n") {
			t.Fatalf("field %q", raw)
		}
		if plainText(value) {
			return
		}
		for _, line := range strings.Split(strings.TrimSuffix(raw, "\r\n"), "\r\n") {
			if len(line) > 78 {
				t.Fatalf("line of %d characters: %q", len(line), line)
			}
		}
		unfolded := strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(raw, "Subject: "), "\r\n"), "\r\n", "")
		got, err := dec.DecodeHeader(unfolded)
		if err != nil || got != value {
			t.Fatalf("decodes to %q (%v), want %q\n%s", got, err, value, raw)
		}
	})
}
