package identity

import (
	"context"
	"database/sql"
	"maps"
	"slices"
	"time"
)

// Settings are the running daemon's settings that identity work depends
// on (table identity_settings): the DNS server, the return-path host and
// what custom MAIL FROM records must name, the DKIM publication style, the
// verification timings, the links and sender of verification emails.
// petrel serve records them at start (RecordSettings); the administrative
// commands read them (LoadSettings) so that they check records against,
// print and send what the daemon does, not the CLI's own defaults.
type Settings struct {
	// Values are petrel serve's flag values by flag name ("dns",
	// "return-path-domain", "verify-recheck", …), in flag syntax; package
	// identity stores them without reading them (package daemon, which
	// reads the configuration, chooses and applies them).
	Values map[string]string
	// Node is the id of the node that recorded them; Recorded when (zero
	// when no daemon has recorded any).
	Node     string
	Recorded time.Time
}

// RecordSettings replaces the recorded settings with set, in one
// transaction: with several nodes on one database, the last one started
// wins.
func (s *Service) RecordSettings(ctx context.Context, set Settings) error {
	db := s.db
	return db.Tx(ctx, func(tx *sql.Tx) error {
		if err := db.ExecTx(tx, "DELETE FROM identity_settings"); err != nil {
			return err
		}
		for _, name := range slices.Sorted(maps.Keys(set.Values)) {
			if err := db.ExecTx(tx, "INSERT INTO identity_settings (name, value, node, recorded_ms) VALUES (?, ?, ?, ?)",
				name, set.Values[name], set.Node, timeMS(set.Recorded)); err != nil {
				return err
			}
		}
		return nil
	})
}

// LoadSettings returns the settings the last daemon started recorded;
// Values is empty and Recorded zero when none has.
func (s *Service) LoadSettings(ctx context.Context) (Settings, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT name, value, node, recorded_ms FROM identity_settings")
	if err != nil {
		return Settings{}, err
	}
	defer rows.Close()
	set := Settings{Values: map[string]string{}}
	for rows.Next() {
		var name, value string
		var ms int64
		if err := rows.Scan(&name, &value, &set.Node, &ms); err != nil {
			return Settings{}, err
		}
		set.Values[name], set.Recorded = value, msTime(ms)
	}
	return set, rows.Err()
}
