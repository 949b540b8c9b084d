package resourcetag

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestMerge: TagResource replaces the values of keys the resource has, in
// place, and appends the others in the order given, for both forms, without
// changing its input; past MaxTags it is ErrTooMany.
func TestMerge(t *testing.T) {
	many := make([][2]string, MaxTags)
	for i := range many {
		many[i] = [2]string{fmt.Sprint("k", i), "v"}
	}
	cases := []struct {
		name      string
		have, add [][2]string
		want      [][2]string
		tooMany   bool
	}{
		{"into none", nil, [][2]string{{"a", "1"}}, [][2]string{{"a", "1"}}, false},
		{"replace and append", [][2]string{{"a", "1"}, {"b", "2"}}, [][2]string{{"c", "3"}, {"a", "9"}},
			[][2]string{{"a", "9"}, {"b", "2"}, {"c", "3"}}, false},
		{"full, replacing", many, [][2]string{{"k3", "w"}}, append(append(append([][2]string{}, many[:3]...), [2]string{"k3", "w"}), many[4:]...), false},
		{"one too many", many, [][2]string{{"new", ""}}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := append([][2]string(nil), tc.have...)
			got, err := Merge(tc.have, tc.add)
			if errors.Is(err, ErrTooMany) != tc.tooMany || !tc.tooMany && err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Merge = %v, %v; want %v (too many %v)", got, err, tc.want, tc.tooMany)
			}
			if !reflect.DeepEqual(tc.have, before) {
				t.Errorf("Merge changed its input: %v", tc.have)
			}
		})
	}
	got, err := Merge([]Tag{{"env", "prod"}}, []Tag{{"env", "staging"}, {"team", ""}})
	if err != nil || !reflect.DeepEqual(got, []Tag{{"env", "staging"}, {"team", ""}}) {
		t.Errorf("Merge of Tags = %v, %v", got, err)
	}
}

// TestDrop: UntagResource removes the tags of the keys given, ignoring
// keys the resource does not have, for both forms, without changing its
// input.
func TestDrop(t *testing.T) {
	have := [][2]string{{"a", "1"}, {"b", "2"}, {"c", "3"}}
	cases := []struct {
		keys []string
		want [][2]string
	}{
		{[]string{"b"}, [][2]string{{"a", "1"}, {"c", "3"}}},
		{[]string{"x", "a", "c"}, [][2]string{{"b", "2"}}},
		{[]string{"x"}, have},
		{[]string{"a", "b", "c"}, [][2]string{}},
	}
	for _, tc := range cases {
		if got := Drop(have, tc.keys); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Drop(%v) = %v, want %v", tc.keys, got, tc.want)
		}
	}
	if !reflect.DeepEqual(have, [][2]string{{"a", "1"}, {"b", "2"}, {"c", "3"}}) {
		t.Errorf("Drop changed its input: %v", have)
	}
	if got := Drop([]Tag{{"env", "prod"}, {"team", "x"}}, []string{"env"}); !reflect.DeepEqual(got, []Tag{{"team", "x"}}) {
		t.Errorf("Drop of Tags = %v", got)
	}
}

// TestValidate: SES's Tag rules; the error names what is wrong.
func TestValidate(t *testing.T) {
	tooMany := make([]Tag, MaxTags+1)
	for i := range tooMany {
		tooMany[i] = Tag{Key: fmt.Sprint(i)}
	}
	cases := []struct {
		name string
		tags []Tag
		want string // in the error; "" valid
	}{
		{"longest", []Tag{{Key: strings.Repeat("ü", MaxKeyLen), Value: strings.Repeat("é", MaxValueLen)}}, ""},
		{"every character", []Tag{{Key: "Ünï 2_.:/=+-@", Value: "データ ٣ _.:/=+-@"}, {Key: "no-value"}}, ""},
		{"none", nil, ""},
		{"too many", tooMany, "too many tags"},
		{"empty key", []Tag{{Key: ""}}, "Key"},
		{"key of 129", []Tag{{Key: strings.Repeat("k", MaxKeyLen+1)}}, "Key"},
		{"key aws:", []Tag{{Key: "AWS:x"}}, "reserved"},
		{"key with *", []Tag{{Key: "k*"}}, "Key"},
		{"key not UTF-8", []Tag{{Key: "k\xff"}}, "Key"},
		{"value of 257", []Tag{{Key: "k", Value: strings.Repeat("é", MaxValueLen+1)}}, "Value"},
		{"value aws:", []Tag{{Key: "k", Value: "aws:v"}}, "reserved"},
		{"value with <", []Tag{{Key: "k", Value: "<v>"}}, "Value"},
		{"key twice", []Tag{{Key: "k"}, {Key: "k", Value: "v"}}, "twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.tags)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
	if err := ValidateKey(strings.Repeat("k", 200)); err == nil || !strings.Contains(err.Error(), "…") {
		t.Errorf("a long key is quoted shortened: %v", err)
	}
}

// TestEncode: the stored forms, "[]" for none.
func TestEncode(t *testing.T) {
	for _, tc := range []struct {
		got  func() (string, error)
		want string
	}{
		{func() (string, error) { return Encode[Tag](nil) }, `[]`},
		{func() (string, error) { return Encode[[2]string](nil) }, `[]`},
		{func() (string, error) { return Encode([]Tag{{"k", "v"}}) }, `[{"Key":"k","Value":"v"}]`},
		{func() (string, error) { return Encode([][2]string{{"k", ""}}) }, `[["k",""]]`},
	} {
		if got, err := tc.got(); err != nil || got != tc.want {
			t.Errorf("Encode = %s, %v; want %s", got, err, tc.want)
		}
	}
}
