package identity

import (
	"testing"
	"time"
)

// TestPreview: Preview reports what a check with other settings would
// find (here the CNAME publication style, which the published TXT record
// does not meet) and writes nothing: the stored SUCCESS, its schedule and
// the verified flag stay.
func TestPreview(t *testing.T) {
	e := newCheckerEnv(t, "sqlite", "")
	d := e.domain("preview.example")
	name := DKIMRecordName(d.Selector, "preview.example")
	e.dns.TXT(name, d.Record)
	if _, err := e.c.Check(e.ctx, "a", "preview.example"); err != nil {
		t.Fatal(err)
	}
	before, err := e.s.Records(e.ctx, "a", "preview.example")
	if err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(time.Minute)
	e.s.DKIMCNAMEZone = "dkim.petrel.test"
	rep, err := e.c.Preview(e.ctx, "a", "preview.example")
	if err != nil {
		t.Fatal(err)
	}
	var dk Record
	for _, r := range rep.Records {
		if r.Purpose == PurposeDKIM {
			dk = r
		}
	}
	if !rep.ReportOnly || !rep.Verified || dk.Type != "CNAME" || dk.Status != StatusTemporaryFailure || dk.Expected != d.Selector+".dkim.petrel.test" {
		t.Fatalf("preview %+v", rep)
	}
	after, err := e.s.Records(e.ctx, "a", "preview.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("records %+v, were %+v", after, before)
	}
	for i := range after {
		if after[i].Status != before[i].Status || after[i].Type != before[i].Type || !after[i].NextCheck.Equal(before[i].NextCheck) || !after[i].LastChecked.Equal(before[i].LastChecked) {
			t.Errorf("record changed: %+v, was %+v", after[i], before[i])
		}
	}
}
