package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Network is a network credential: SMTP clients connecting from Prefix may
// submit without AUTH, as Account.
type Network struct {
	Prefix  netip.Prefix
	Account string
	Created time.Time
}

// ErrInvalidNetwork is returned for a network that is not a CIDR prefix.
var ErrInvalidNetwork = errors.New("not a network in CIDR notation (e.g. 10.0.0.0/8, 2001:db8::/32, 192.0.2.7/32)")

// AddNetwork lets SMTP clients from cidr submit as account without AUTH.
func (s *Service) AddNetwork(ctx context.Context, account, cidr string) (Network, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return Network{}, fmt.Errorf("%q: %w", cidr, ErrInvalidNetwork)
	}
	p = p.Masked()
	if _, err := s.Get(ctx, account); err != nil {
		return Network{}, err
	}
	created := time.Now()
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(s.db.Rebind("SELECT COUNT(*) FROM smtp_networks WHERE cidr = ?"), p.String()).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("network %s: %w", p, ErrExists)
		}
		return s.db.ExecTx(tx, "INSERT INTO smtp_networks (cidr, account, created_ms) VALUES (?, ?, ?)",
			p.String(), account, created.UnixMilli())
	})
	if err != nil {
		return Network{}, err
	}
	s.forgetNetworks()
	return Network{Prefix: p, Account: account, Created: time.UnixMilli(created.UnixMilli())}, nil
}

// DeleteNetwork removes account's network credential cidr. Every node stops
// honouring it within Recheck. The error wraps ErrInvalidNetwork for a cidr
// that is not a prefix, ErrNotFound for an unknown one and ErrOtherAccount
// for another account's.
func (s *Service) DeleteNetwork(ctx context.Context, account, cidr string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("%q: %w", cidr, ErrInvalidNetwork)
	}
	p = p.Masked()
	res, err := s.db.ExecContext(ctx, s.db.Rebind("DELETE FROM smtp_networks WHERE cidr = ? AND account = ?"), p.String(), account)
	if err != nil {
		return fmt.Errorf("deleting network: %w", err)
	}
	s.forgetNetworks()
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	var owner string
	err = s.db.QueryRowContext(ctx, s.db.Rebind("SELECT account FROM smtp_networks WHERE cidr = ?"), p.String()).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("network %s: %w", p, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("looking up network: %w", err)
	}
	return fmt.Errorf("network %s: %w (%q, not %q)", p, ErrOtherAccount, owner, account)
}

// Networks lists the network credentials.
func (s *Service) Networks(ctx context.Context) ([]Network, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT cidr, account, created_ms FROM smtp_networks ORDER BY account, cidr")
	if err != nil {
		return nil, fmt.Errorf("listing networks: %w", err)
	}
	defer rows.Close()
	var out []Network
	for rows.Next() {
		var cidr string
		var created int64
		var n Network
		if err := rows.Scan(&cidr, &n.Account, &created); err != nil {
			return nil, err
		}
		n.Created = time.UnixMilli(created)
		if n.Prefix, err = netip.ParsePrefix(cidr); err != nil {
			return nil, fmt.Errorf("stored network %q: %w", cidr, err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// AccountForIP returns the account of the most specific network credential
// containing ip, or "" when there is none, from the list as it was at most
// Recheck (1 s) ago.
//
// Cost per call: a scan of the in-memory list. In addition, at most once per
// Recheck per node, one caller rereads the whole smtp_networks table (one
// SELECT; the table holds one row per credential); concurrent callers wait
// for its result instead of querying.
func (s *Service) AccountForIP(ctx context.Context, ip netip.Addr) (string, error) {
	nets, err := s.currentNetworks(ctx)
	if err != nil {
		return "", err
	}
	ip = ip.Unmap()
	best, bits := "", -1
	for _, n := range nets {
		if n.Prefix.Contains(ip) && n.Prefix.Bits() > bits {
			best, bits = n.Account, n.Prefix.Bits()
		}
	}
	return best, nil
}

// currentNetworks returns the network list read at most Recheck ago.
func (s *Service) currentNetworks(ctx context.Context) ([]Network, error) {
	s.mu.RLock()
	st := s.nets
	s.mu.RUnlock()
	if time.Since(st.checked) < Recheck {
		return st.list, nil
	}
	s.netRefresh.Lock()
	defer s.netRefresh.Unlock()
	s.mu.RLock()
	st = s.nets
	s.mu.RUnlock()
	if time.Since(st.checked) < Recheck {
		return st.list, nil
	}
	start := time.Now() // before the read: a change committed after it is seen by the next one
	list, err := s.Networks(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.nets = netState{list: list, checked: start}
	s.mu.Unlock()
	return list, nil
}

// forgetNetworks makes the next AccountForIP on this node reread the list.
func (s *Service) forgetNetworks() {
	s.mu.Lock()
	s.nets.checked = time.Time{}
	s.mu.Unlock()
}
