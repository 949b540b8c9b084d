package daemon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/smtp"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/config"
)

// writeCert writes a self-signed certificate for name, and its key, to
// certFile and keyFile.
func writeCert(t *testing.T, name, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// servedCerts returns the common names of the certificates a new
// connection gets on the implicit-TLS listener and after STARTTLS.
func servedCerts(t *testing.T, d *Daemon) (implicit, starttls string) {
	t.Helper()
	c, err := tls.Dial("tcp", d.Addr("smtps"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	implicit = c.ConnectionState().PeerCertificates[0].Subject.CommonName
	c.Close()
	sc, err := smtp.Dial(d.Addr("smtp"))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	st, _ := sc.TLSConnectionState()
	return implicit, st.PeerCertificates[0].Subject.CommonName
}

// TestTLSReload (issue 11, finding 7): a renewed certificate needed a
// restart. Now SIGHUP reads --tls-cert/--tls-key again and new
// connections, on both SMTP listeners, get the new certificate; a pair
// that does not load leaves the one in use and is logged.
func TestTLSReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, "old.petrel.test", certFile, keyFile)
	td := startDaemon(t, func(c *config.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	if i, s := servedCerts(t, td.d); i != "old.petrel.test" || s != "old.petrel.test" {
		t.Fatalf("served %q (implicit TLS), %q (STARTTLS), want old.petrel.test", i, s)
	}

	writeCert(t, "new.petrel.test", certFile, keyFile)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	td.waitLog(t, "TLS certificate reloaded", "CN=new.petrel.test")
	if i, s := servedCerts(t, td.d); i != "new.petrel.test" || s != "new.petrel.test" {
		t.Fatalf("after SIGHUP: served %q (implicit TLS), %q (STARTTLS), want new.petrel.test", i, s)
	}

	// A broken pair: a key that is not the certificate's, then a file
	// that is not PEM.
	writeCert(t, "other.petrel.test", filepath.Join(dir, "other.pem"), keyFile)
	if err := td.d.ReloadTLS(); err == nil {
		t.Fatal("a key not matching the certificate was loaded")
	}
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := td.d.ReloadTLS(); err == nil {
		t.Fatal("a file that is not PEM was loaded")
	}
	td.waitLog(t, "level=ERROR", "TLS certificate not reloaded; the previous one stays in use", certFile)
	if i, s := servedCerts(t, td.d); i != "new.petrel.test" || s != "new.petrel.test" {
		t.Fatalf("after failed reloads: served %q (implicit TLS), %q (STARTTLS), want new.petrel.test still", i, s)
	}
}

// The generated self-signed certificate verifies for the listeners'
// default address 127.0.0.1 when used as the trust anchor, as a verifying
// client (Python's smtplib with cafile=, docs/tls.md) uses it.
func TestSelfSignedVerifies(t *testing.T) {
	td := startDaemon(t, nil)
	pemBytes, err := os.ReadFile(filepath.Join(td.cfg.DataDir, "tls-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatal("tls-cert.pem holds no certificate")
	}
	for _, name := range []string{"127.0.0.1", "localhost", "petrel.test"} {
		c, err := tls.Dial("tcp", td.d.Addr("smtps"), &tls.Config{RootCAs: roots, ServerName: name})
		if err != nil {
			t.Errorf("verifying as %s: %v", name, err)
			continue
		}
		c.Close()
	}
}
