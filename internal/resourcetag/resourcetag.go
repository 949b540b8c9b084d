// Package resourcetag holds SES's rules for resource tags
// (../shared/spec/ses.md §11.3; SES API: Tag, TagResource, UntagResource)
// for the resources that keep their tags as one list: configuration sets
// (as Tag), email templates and contact lists (as [2]string{key, value}).
// The owning packages store the list; this package says what a list may
// hold and how the two tagging calls change it:
//
//  1. Validate checks the tags a create call or TagResource gives: each
//     Key 1–MaxKeyLen characters, each Value 0–MaxValueLen, both of SES's
//     tag characters and not beginning with "aws:", each key once, at most
//     MaxTags (ValidateKey checks one key, as UntagResource's TagKeys).
//  2. Merge is TagResource's change: the tags added, a key the resource
//     has getting the new value; past MaxTags in all it is ErrTooMany.
//  3. Drop is UntagResource's: the tags of the keys removed, keys the
//     resource does not have ignored.
//
// Encode is the stored form the owners keep in their tables' tags column.
package resourcetag

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SES's limits (§11.3).
const (
	MaxTags     = 50  // tags per resource
	MaxKeyLen   = 128 // characters
	MaxValueLen = 256 // characters
)

// Tag is a resource tag (SES: Tag).
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// Pair is a tag in either of the forms Petrel keeps: Tag, or
// [2]string{key, value}.
type Pair interface{ Tag | [2]string }

func key[T Pair](t T) string {
	if p, ok := any(t).([2]string); ok {
		return p[0]
	}
	return any(t).(Tag).Key
}

// ErrTooMany is Merge's answer when the resource would have more than
// MaxTags.
var ErrTooMany = errors.New("too many tags")

// ValidateKey checks a tag key (SES: Tag.Key): 1–MaxKeyLen characters of
// SES's tag characters, not beginning with the prefix "aws:" (in any
// case), which AWS reserves. The error says what is wrong.
func ValidateKey(k string) error {
	if n := utf8.RuneCountInString(k); n < 1 || n > MaxKeyLen || !validText(k) {
		return fmt.Errorf("tag Key %q must be 1-%d Unicode letters, digits, spaces and _ . : / = + - @", truncate(k), MaxKeyLen)
	}
	if reserved(k) {
		return fmt.Errorf("tag Key %q: the prefix aws: is reserved for AWS", truncate(k))
	}
	return nil
}

// Validate checks tags against SES's Tag and §11.3: Key as ValidateKey;
// Value 0–MaxValueLen characters of the same characters, not beginning
// with "aws:"; each key once; at most MaxTags. The error says what is
// wrong.
func Validate(tags []Tag) error {
	if len(tags) > MaxTags {
		return fmt.Errorf("too many tags: %d (at most %d per resource)", len(tags), MaxTags)
	}
	for i, t := range tags {
		if err := ValidateKey(t.Key); err != nil {
			return err
		}
		if utf8.RuneCountInString(t.Value) > MaxValueLen || !validText(t.Value) {
			return fmt.Errorf("tag Value of %q must be 0-%d Unicode letters, digits, spaces and _ . : / = + - @", t.Key, MaxValueLen)
		}
		if reserved(t.Value) {
			return fmt.Errorf("tag Value of %q: the prefix aws: is reserved for AWS", t.Key)
		}
		for _, u := range tags[:i] {
			if u.Key == t.Key {
				return fmt.Errorf("tag Key %q is given twice", t.Key)
			}
		}
	}
	return nil
}

// Merge returns have with add applied as TagResource applies it: a tag
// whose key have has replaces that tag's value in place, any other is
// appended, in add's order. have is not modified. More than MaxTags in
// all: an error wrapping ErrTooMany that says how many.
func Merge[T Pair](have, add []T) ([]T, error) {
	out := append([]T(nil), have...)
next:
	for _, t := range add {
		for i := range out {
			if key(out[i]) == key(t) {
				out[i] = t
				continue next
			}
		}
		out = append(out, t)
	}
	if len(out) > MaxTags {
		return nil, fmt.Errorf("%w: the resource would have %d (at most %d per resource)", ErrTooMany, len(out), MaxTags)
	}
	return out, nil
}

// Drop returns have without the tags of keys, as UntagResource removes
// them; keys have does not have are ignored. have is not modified.
func Drop[T Pair](have []T, keys []string) []T {
	out := make([]T, 0, len(have))
	for _, t := range have {
		if !contains(keys, key(t)) {
			out = append(out, t)
		}
	}
	return out
}

func contains(keys []string, k string) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

// validText reports whether s is valid UTF-8 of SES's tag characters:
// Unicode letters, digits and white space, and _ . : / = + - (SES: Tag),
// and '@', which AWS's tagging allows elsewhere.
func validText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsSpace(r) && !strings.ContainsRune("_.:/=+-@", r) {
			return false
		}
	}
	return true
}

func reserved(s string) bool {
	return len(s) >= 4 && strings.EqualFold(s[:4], "aws:")
}

// truncate shortens a key quoted in an error to 64 bytes.
func truncate(s string) string {
	if len(s) <= 64 {
		return s
	}
	return strings.ToValidUTF8(s[:64], "") + "…"
}

// Encode is tags' stored form: their JSON array ("[]" for none), Tag as
// {"Key":…,"Value":…}, a pair as ["key","value"].
func Encode[T Pair](tags []T) (string, error) {
	if tags == nil {
		tags = []T{}
	}
	b, err := json.Marshal(tags)
	return string(b), err
}
