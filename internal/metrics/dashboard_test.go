package metrics

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/store"
)

// dashboard is the part of Grafana's dashboard JSON model the test reads.
type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name, Type, Query string
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

// exposed returns every family the registry serves once each kind of
// series has a value, with its type.
func exposed(t *testing.T) map[string]dto.MetricType {
	db := store.OpenTest(t, "sqlite")
	m := New(Config{Queue: queue.New(db), Reputation: func(context.Context) ([]AccountReputation, error) {
		return []AccountReputation{{Account: "default", Status: "HEALTHY"}}, nil
	}})
	for _, d := range []event.Detail{
		event.SendDetail{Recipients: []event.SendRecipient{{Address: "a@x.test"}}},
		event.DeliveryDetail{Attempts: 1}, event.BounceDetail{Attempts: 1}, event.ComplaintDetail{},
		event.DeliveryDelayDetail{}, event.RejectDetail{}, event.AutoResponseDetail{},
	} {
		m.Observe(event.Event{Kind: d.Kind(), Value: d})
	}
	m.Operation("SendEmail").Done(time.Now(), "OK")
	m.SMTPCommand(SMTPData, time.Now(), 250)
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]dto.MetricType{}
	for _, f := range fams {
		out[f.GetName()] = f.GetType()
	}
	return out
}

// seriesName finds the metric names in a PromQL expression: identifiers of
// Petrel's, Go's and the process's namespaces.
var seriesName = regexp.MustCompile(`\b(?:petrel|go|process)_[a-zA-Z0-9_]+\b`)

// TestDashboard: docs/grafana-dashboard.json is a Grafana dashboard whose
// every PromQL expression names only series the registry exposes (a
// histogram's through its _bucket, _sum and _count), with a panel for every
// Petrel series family.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 30 || len(d.Panels) == 0 {
		t.Fatalf("not a dashboard: title %q, uid %q, schemaVersion %d, %d panels", d.Title, d.UID, d.SchemaVersion, len(d.Panels))
	}
	hasDS := false
	for _, v := range d.Templating.List {
		hasDS = hasDS || (v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus")
	}
	if !hasDS {
		t.Error("no Prometheus data source variable ${datasource}")
	}

	fams := exposed(t)
	known := map[string]bool{}
	for name, typ := range fams {
		known[name] = true
		if typ == dto.MetricType_HISTOGRAM {
			known[name+"_bucket"], known[name+"_sum"], known[name+"_count"] = true, true, true
		}
	}
	used := map[string]bool{}
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: data source is not ${datasource}", p.Title)
			}
			if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %q: bad gridPos %+v", p.Title, p.GridPos)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				names := seriesName.FindAllString(tg.Expr, -1)
				if len(names) == 0 || tg.RefID == "" {
					t.Errorf("panel %q: query %q names no series (refId %q)", p.Title, tg.Expr, tg.RefID)
				}
				if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") {
					t.Errorf("panel %q: unbalanced parentheses in %q", p.Title, tg.Expr)
				}
				for _, n := range names {
					if !known[n] {
						t.Errorf("panel %q: %s is not a series Petrel exposes", p.Title, n)
					}
					used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")] = true
				}
			}
		}
	}
	walk(d.Panels)
	var missing []string
	for name := range fams {
		if strings.HasPrefix(name, "petrel_") && !used[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("no panel shows %v", missing)
	}
}
