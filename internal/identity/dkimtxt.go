package identity

import "strings"

// dkimTags parses a DKIM key record (RFC 6376 §3.2 tag=value list, §3.6.1
// tags) into its tags: names are case-sensitive, whitespace around names
// and values is dropped, and whitespace inside a value is removed (folding
// whitespace may split the base64 of p=). ok is false when the text is not
// a tag list: an empty tag name, a tag without "=", or a tag given twice.
func dkimTags(txt string) (tags map[string]string, ok bool) {
	tags = map[string]string{}
	for _, part := range strings.Split(txt, ";") {
		if strings.TrimSpace(part) == "" {
			continue // empty (a trailing ";" is allowed)
		}
		name, value, found := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if !found || name == "" {
			return nil, false
		}
		if _, dup := tags[name]; dup {
			return nil, false
		}
		tags[name] = strings.Join(strings.Fields(value), "")
	}
	return tags, true
}

// dkimKeyOf returns the public key (p=) of a DKIM key record and whether
// txt is one: a tag list whose v=, when present, is DKIM1.
func dkimKeyOf(txt string) (string, bool) {
	tags, ok := dkimTags(txt)
	if !ok {
		return "", false
	}
	if v, has := tags["v"]; has && v != "DKIM1" {
		return "", false
	}
	p, has := tags["p"]
	return p, has
}
