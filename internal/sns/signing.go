package sns

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// signer is the key that signs notifications and its certificate.
type signer struct {
	id      string // hex; the certificate is SimpleNotificationService-<id>.pem
	key     *rsa.PrivateKey
	certPEM []byte
}

func signingBinding(id string) string { return "sns-signing-key:" + id }

// loadSigner returns the oldest signing key in the database, creating one
// (RSA 2048, self-signed certificate valid 10 years) when there is none.
// Nodes racing to create the first key each insert their own; all then use
// the oldest, so they agree.
func (s *Service) loadSigner(ctx context.Context) (*signer, error) {
	sg, err := s.oldestSigner(ctx)
	if err == nil || !errors.Is(err, sql.ErrNoRows) {
		return sg, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	var idb [16]byte
	rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	now := s.cfg.Now()
	cn := s.cfg.Hostname
	if cn == "" {
		cn = "petrel"
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Petrel SNS-compatible notifications"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	sealed := s.sealer.Seal(pk, signingBinding(id))
	if _, err := s.db.ExecContext(ctx, s.db.Rebind("INSERT INTO sns_signing_keys (id, key_sealed, cert_pem, created_ms) VALUES (?, ?, ?, ?)"),
		id, sealed, string(certPEM), now.UnixMilli()); err != nil {
		return nil, fmt.Errorf("storing the SNS signing key: %w", err)
	}
	return s.oldestSigner(ctx)
}

func (s *Service) oldestSigner(ctx context.Context) (*signer, error) {
	var id, certPEM string
	var sealed []byte
	err := s.db.QueryRowContext(ctx, "SELECT id, key_sealed, cert_pem FROM sns_signing_keys ORDER BY created_ms, id LIMIT 1").Scan(&id, &sealed, &certPEM)
	if err != nil {
		return nil, err
	}
	der, err := s.sealer.Open(sealed, signingBinding(id))
	if err != nil {
		return nil, fmt.Errorf("opening the SNS signing key %s (is this the data directory's key?): %w", id, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("SNS signing key %s is not RSA", id)
	}
	return &signer{id: id, key: rk, certPEM: []byte(certPEM)}, nil
}

// certPEM returns the PEM certificate of the signing key id, for serving.
func (s *Service) certPEM(ctx context.Context, id string) ([]byte, error) {
	if id == s.signer.id {
		return s.signer.certPEM, nil
	}
	var c string
	err := s.db.QueryRowContext(ctx, s.db.Rebind("SELECT cert_pem FROM sns_signing_keys WHERE id = ?"), id).Scan(&c)
	if err != nil {
		return nil, err
	}
	return []byte(c), nil
}

// SigningCertURL is the URL of the certificate that verifies the signatures
// this Service makes: <PublicURL>/sns/SimpleNotificationService-<id>.pem.
func (s *Service) SigningCertURL() string {
	return s.cfg.PublicURL + "/sns/SimpleNotificationService-" + s.signer.id + ".pem"
}

// StringToSign builds the string SNS signs for a message (SignatureVersion
// 1 and 2 alike; ../shared/spec/ses.md §4.8): "name\nvalue\n" for, in this
// order, Message, MessageId, Subject (Notification only, when present),
// SubscribeURL (confirmations), Timestamp, Token (confirmations), TopicArn
// and Type.
func StringToSign(m *Envelope) string {
	var b strings.Builder
	add := func(k, v string) { b.WriteString(k); b.WriteByte('\n'); b.WriteString(v); b.WriteByte('\n') }
	add("Message", m.Message)
	add("MessageId", m.MessageID)
	if m.Type == TypeNotification {
		if m.Subject != "" {
			add("Subject", m.Subject)
		}
		add("Timestamp", m.Timestamp)
		add("TopicArn", m.TopicArn)
		add("Type", m.Type)
		return b.String()
	}
	add("SubscribeURL", m.SubscribeURL)
	add("Timestamp", m.Timestamp)
	add("Token", m.Token)
	add("TopicArn", m.TopicArn)
	add("Type", m.Type)
	return b.String()
}

// sign sets m's SignatureVersion ("1": SHA1withRSA, "2": SHA256withRSA,
// PKCS #1 v1.5), Signature (base64) and SigningCertURL.
func (s *Service) sign(m *Envelope, version string) error {
	var h crypto.Hash
	var sum []byte
	msg := []byte(StringToSign(m))
	switch version {
	case "2":
		d := sha256.Sum256(msg)
		h, sum = crypto.SHA256, d[:]
	default:
		version = "1"
		d := sha1.Sum(msg)
		h, sum = crypto.SHA1, d[:]
	}
	sig, err := rsa.SignPKCS1v15(nil, s.signer.key, h, sum)
	if err != nil {
		return err
	}
	m.SignatureVersion = version
	m.Signature = base64.StdEncoding.EncodeToString(sig)
	m.SigningCertURL = s.SigningCertURL()
	return nil
}

// Verify checks m's signature with the certificate certPEM (as served at
// SigningCertURL), for SignatureVersion 1 and 2. It is what an SNS
// subscriber does, for tests and tools.
func Verify(m *Envelope, certPEM []byte) error {
	blk, _ := pem.Decode(certPEM)
	if blk == nil {
		return errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("certificate key is not RSA")
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return err
	}
	msg := []byte(StringToSign(m))
	switch m.SignatureVersion {
	case "1":
		d := sha1.Sum(msg)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA1, d[:], sig)
	case "2":
		d := sha256.Sum256(msg)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig)
	}
	return fmt.Errorf("unknown SignatureVersion %q", m.SignatureVersion)
}
