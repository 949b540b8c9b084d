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
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(s.db.Rebind("SELECT COUNT(*) FROM smtp_networks WHERE cidr = ?"), p.String()).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("network %s: %w", p, ErrExists)
		}
		return s.db.ExecTx(tx, "INSERT INTO smtp_networks (cidr, account, created_ms) VALUES (?, ?, ?)",
			p.String(), account, time.Now().UnixMilli())
	})
	if err != nil {
		return Network{}, err
	}
	s.mu.Lock()
	s.networksLoaded = time.Time{}
	s.mu.Unlock()
	return Network{Prefix: p, Account: account}, nil
}

// DeleteNetwork removes a network credential.
func (s *Service) DeleteNetwork(ctx context.Context, cidr string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("%q: %w", cidr, ErrInvalidNetwork)
	}
	res, err := s.db.ExecContext(ctx, s.db.Rebind("DELETE FROM smtp_networks WHERE cidr = ?"), p.Masked().String())
	if err != nil {
		return fmt.Errorf("deleting network: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("network %s: %w", p.Masked(), ErrNotFound)
	}
	s.mu.Lock()
	s.networksLoaded = time.Time{}
	s.mu.Unlock()
	return nil
}

// Networks lists the network credentials.
func (s *Service) Networks(ctx context.Context) ([]Network, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT cidr, account FROM smtp_networks ORDER BY cidr")
	if err != nil {
		return nil, fmt.Errorf("listing networks: %w", err)
	}
	defer rows.Close()
	var out []Network
	for rows.Next() {
		var cidr string
		var n Network
		if err := rows.Scan(&cidr, &n.Account); err != nil {
			return nil, err
		}
		if n.Prefix, err = netip.ParsePrefix(cidr); err != nil {
			return nil, fmt.Errorf("stored network %q: %w", cidr, err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// AccountForIP returns the account of the most specific network credential
// containing ip, or "" when there is none. The list is cached for cacheTTL.
func (s *Service) AccountForIP(ctx context.Context, ip netip.Addr) (string, error) {
	ip = ip.Unmap()
	s.mu.RLock()
	nets, loaded := s.networks, s.networksLoaded
	s.mu.RUnlock()
	if time.Since(loaded) >= cacheTTL {
		var err error
		if nets, err = s.Networks(ctx); err != nil {
			return "", err
		}
		s.mu.Lock()
		s.networks, s.networksLoaded = nets, time.Now()
		s.mu.Unlock()
	}
	best, bits := "", -1
	for _, n := range nets {
		if n.Prefix.Contains(ip) && n.Prefix.Bits() > bits {
			best, bits = n.Account, n.Prefix.Bits()
		}
	}
	return best, nil
}
