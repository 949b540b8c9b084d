package daemon

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/identity"
)

// IdentitySettingNames are petrel serve's flags that identity work depends
// on: what Checker, the DKIM publication style, the DMARC report and the
// address verification emails are built from. The daemon records their
// values at start (RecordIdentitySettings) and the administrative
// commands apply them (ApplyIdentitySettings), so that `petrel identity
// check` judges records as the daemon does.
var IdentitySettingNames = []string{
	"hostname", "return-path-domain", "mail-from-mx", "spf-include", "dns", "dkim-cname-zone",
	"verify-window", "verify-grace", "verify-recheck", "verify-pending-fast", "verify-pending-slow",
	"public-url", "verification-from", "message-id-domain", "region", "max-delivery-time",
}

// serveFlags is cfg's fields as petrel serve's flags, bound to cfg.
func serveFlags(cfg *config.Config) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	config.Flags(fs, cfg)
	return fs
}

// IdentitySettings are cfg's identity settings (IdentitySettingNames) in
// flag syntax, with public-url the base URL the daemon's links are
// actually built on (publicURL: the bound HTTP address when --public-url
// is unset).
func IdentitySettings(cfg config.Config, publicURL string) map[string]string {
	fs := serveFlags(&cfg)
	out := make(map[string]string, len(IdentitySettingNames))
	for _, n := range IdentitySettingNames {
		out[n] = fs.Lookup(n).Value.String()
	}
	out["public-url"] = publicURL
	return out
}

// RecordIdentitySettings stores cfg's identity settings as those of the
// running daemon (node, at now); the daemon calls it at start. With
// several nodes on one database the last one started wins.
func RecordIdentitySettings(ctx context.Context, ids *identity.Service, cfg config.Config, publicURL, node string, now time.Time) error {
	return ids.RecordSettings(ctx, identity.Settings{Values: IdentitySettings(cfg, publicURL), Node: node, Recorded: now})
}

// ApplyIdentitySettings sets cfg's fields to the recorded values, except
// those keep names (flags the operator gave the command). Values of
// settings this version does not know are ignored.
func ApplyIdentitySettings(cfg *config.Config, set identity.Settings, keep func(name string) bool) error {
	fs := serveFlags(cfg)
	for _, n := range IdentitySettingNames {
		v, ok := set.Values[n]
		if !ok || keep(n) {
			continue
		}
		if err := fs.Set(n, v); err != nil {
			return fmt.Errorf("the daemon's recorded %s: %w", n, err)
		}
	}
	return nil
}
