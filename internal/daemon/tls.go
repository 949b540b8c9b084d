package daemon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/petrelmail/petrel/internal/config"
)

// certificate is the SMTP listeners' TLS certificate, read from a PEM
// certificate (chain) file and its key file, and swapped atomically when
// they are read again (SIGHUP), so a renewed certificate is served to new
// connections without a restart; connections already open keep theirs.
type certificate struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

// loadCertificate reads --tls-cert/--tls-key, or the self-signed
// certificate kept in the data dir (generated on first start, for the
// hostname, localhost, 127.0.0.1 and ::1).
func loadCertificate(cfg config.Config) (*certificate, error) {
	c := &certificate{certFile: cfg.TLSCert, keyFile: cfg.TLSKey}
	if c.certFile == "" {
		c.certFile, c.keyFile = filepath.Join(cfg.DataDir, "tls-cert.pem"), filepath.Join(cfg.DataDir, "tls-key.pem")
		if _, err := os.Stat(c.certFile); errors.Is(err, os.ErrNotExist) {
			if err := selfSigned(cfg.Hostname, c.certFile, c.keyFile); err != nil {
				return nil, fmt.Errorf("generating self-signed certificate: %w", err)
			}
		}
	}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the files again; on any error (unreadable, not PEM, key
// not matching the certificate) the certificate in use stays.
func (c *certificate) reload() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("loading TLS certificate %s, key %s: %w", c.certFile, c.keyFile, err)
	}
	c.current.Store(&cert)
	return nil
}

// config is the TLS configuration of the SMTP listeners: the current
// certificate for every handshake, TLS 1.2 at least.
func (c *certificate) config() *tls.Config {
	return &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.current.Load(), nil },
		MinVersion:     tls.VersionTLS12,
	}
}

// ReloadTLS reads the TLS certificate and key files again (SIGHUP): new
// connections get the new certificate. A pair that cannot be loaded leaves
// the certificate in use, and the error is logged and returned.
func (d *Daemon) ReloadTLS() error {
	if err := d.cert.reload(); err != nil {
		d.log.Error("TLS certificate not reloaded; the previous one stays in use", "err", err)
		return err
	}
	leaf := d.cert.current.Load().Leaf
	d.log.Info("TLS certificate reloaded", "file", d.cert.certFile, "subject", leaf.Subject.String(),
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

func selfSigned(host, certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host, "localhost"},
		// The listeners' default addresses, so that a client given this
		// file as its trust anchor can verify 127.0.0.1 too.
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:   time.Now().Add(-time.Hour),
		NotAfter:    time.Now().AddDate(10, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFileSync(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return writeFileSync(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
