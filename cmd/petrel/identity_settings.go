package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/identity"
)

// checkSettings are the petrel serve flags `petrel identity check` takes:
// everything a record's verdict and schedule depend on.
var checkSettings = []string{"dns", "dkim-cname-zone", "return-path-domain", "hostname", "mail-from-mx", "spf-include",
	"verify-window", "verify-grace", "verify-recheck", "verify-pending-fast", "verify-pending-slow"}

// daemonFlags are the petrel serve flags an identity command takes
// (daemon.IdentitySettingNames), whose defaults are the settings the
// running daemon recorded at its start: the command checks records
// against, prints and sends what the daemon does. A flag given overrides
// its setting.
type daemonFlags struct {
	fs  *flag.FlagSet
	own config.Config // the values of the flags defined here
}

// define registers petrel serve's flags names on fs (of adminFlags: fs
// also holds its --region, an identity setting too).
func (f *daemonFlags) define(fs *flag.FlagSet, names ...string) {
	f.fs, f.own = fs, config.Default()
	all := flag.NewFlagSet("serve", flag.ContinueOnError)
	config.Flags(all, &f.own)
	for _, n := range names {
		g := all.Lookup(n)
		fs.Var(g.Value, n, g.Usage+"; default: the running petrel serve's")
	}
}

// daemonSettings is what an identity command works with: Config's
// identity settings (daemon.IdentitySettingNames) are the daemon's
// recorded ones, or the flags given; the other fields are defaults.
type daemonSettings struct {
	config.Config
	// Recorded are the daemon's settings as recorded (Values empty when no
	// petrel serve of this version has started on the store).
	Recorded identity.Settings
	// Overridden are the flags given whose value differs from the
	// daemon's, sorted.
	Overridden []string
}

// apply reads the daemon's recorded settings and lays the flags given over
// them; it sets svc's DKIM publication style to the result.
func (f *daemonFlags) apply(ctx context.Context, svc *daemon.Services) (daemonSettings, error) {
	rec, err := svc.Identities.LoadSettings(ctx)
	if err != nil {
		return daemonSettings{}, err
	}
	given := map[string]string{}
	f.fs.Visit(func(fl *flag.Flag) {
		if slices.Contains(daemon.IdentitySettingNames, fl.Name) {
			given[fl.Name] = fl.Value.String()
		}
	})
	theirs := config.Default()
	if err := daemon.ApplyIdentitySettings(&theirs, rec, func(string) bool { return false }); err != nil {
		return daemonSettings{}, err
	}
	ds := daemonSettings{Config: theirs, Recorded: rec}
	set := flag.NewFlagSet("serve", flag.ContinueOnError)
	config.Flags(set, &ds.Config)
	for n, v := range given {
		if err := set.Set(n, v); err != nil {
			return ds, fmt.Errorf("--%s: %w", n, err)
		}
	}
	if len(rec.Values) > 0 {
		a, b := daemon.IdentitySettings(theirs, theirs.PublicBaseURL()), daemon.IdentitySettings(ds.Config, ds.PublicBaseURL())
		for n := range given {
			if a[n] != b[n] {
				ds.Overridden = append(ds.Overridden, n)
			}
		}
		slices.Sort(ds.Overridden)
	}
	svc.Identities.DKIMCNAMEZone = ds.DKIMCNAMEZone
	return ds, nil
}

// overrides returns the Overridden flags among names.
func (ds daemonSettings) overrides(names []string) []string {
	var out []string
	for _, n := range ds.Overridden {
		if slices.Contains(names, n) {
			out = append(out, n)
		}
	}
	return out
}

// describe writes one line saying whose settings the command uses.
func (ds daemonSettings) describe(out io.Writer) {
	if len(ds.Recorded.Values) == 0 {
		fmt.Fprintln(out, "settings: no petrel serve has recorded its settings in this store: the defaults and the flags given")
		return
	}
	fmt.Fprintf(out, "settings: those of petrel serve (node %s, started %s)", ds.Recorded.Node, ds.Recorded.Recorded.UTC().Format(time.RFC3339))
	if len(ds.Overridden) > 0 {
		fmt.Fprintf(out, ", except --%s given here", strings.Join(ds.Overridden, ", --"))
	}
	fmt.Fprintln(out)
}
