package smtpsubmit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/admission"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/logtest"
	"github.com/petrelmail/petrel/internal/metrics"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/smtptest"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
)

// testServer is a submission server over a real store, on loopback: the
// STARTTLS listener at addr and the implicit-TLS one at tlsAddr.
type testServer struct {
	addr, tlsAddr string
	accts         *account.Service
	key           account.Key
	pass          string
	be            *Backend
	smtpL         net.Listener
	log           *logtest.Buffer
	db            *store.DB
	ids           *identity.Service
	configsets    *configset.Service
}

type serverOpts struct {
	policy       AuthPolicy
	limits       admission.Limits
	authDeadline time.Duration
	budget       *admission.Budget
	baseContext  func() context.Context // Backend.BaseContext
	backend      string                 // store backend (store.Backends); "" is sqlite
	metrics      *metrics.Metrics       // Backend.Metrics
}

func startServer(t *testing.T, o serverOpts) *testServer {
	t.Helper()
	ctx := context.Background()
	if o.backend == "" {
		o.backend = "sqlite"
	}
	db := store.OpenTest(t, o.backend)
	accts, err := account.New(db, filepath.Join(t.TempDir(), "master.key"), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accts.CreateWith(ctx, "acme", account.CreateOptions{Unlimited: true}); err != nil {
		t.Fatal(err)
	}
	key, err := accts.CreateKey(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.New(db, accts)
	if _, err := ids.Create(ctx, "acme", "example.com", true); err != nil {
		t.Fatal(err)
	}
	configsets := configset.New(db)
	batch := store.NewBatcher(db, 0, 0)
	bctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { batch.Run(bctx); close(done) }()
	sender := sending.New(sending.Config{MessageIDDomain: "petrel.test", Region: "us-east-1", NodeID: "test",
		MaxDelivery: time.Hour, MaxRecipients: MaxRecipients, MaxSize: MaxMessageBytes, LeaseFor: time.Minute},
		accts, ids, configsets, queue.New(db), spool.New(db), event.NewLog(db), batch)
	logs := &logtest.Buffer{}
	be := &Backend{Accounts: accts, Sender: sender, Log: slog.New(slog.NewTextHandler(logs, nil)),
		Budget: o.budget, Auth: NewAuthLimiter(o.policy), BaseContext: o.baseContext, Metrics: o.metrics}
	tlsConfig := testTLS(t)
	ts := &testServer{accts: accts, key: key, pass: account.SMTPPassword(key.SecretAccessKey, "us-east-1"), be: be, log: logs,
		db: db, ids: ids, configsets: configsets}
	var servers []*smtp.Server
	for _, implicit := range []bool{false, true} {
		srv := NewServer(be, "petrel.test", tlsConfig)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg := ListenConfig{Limits: o.limits, AuthDeadline: o.authDeadline}
		if implicit {
			cfg.ImplicitTLS = tlsConfig
			ts.tlsAddr = l.Addr().String()
		} else {
			ts.addr = l.Addr().String()
		}
		wrapped := be.Listen(l, cfg)
		if !implicit {
			ts.smtpL = wrapped
		}
		go srv.Serve(wrapped)
		servers = append(servers, srv)
	}
	t.Cleanup(func() {
		for _, s := range servers {
			s.Close()
		}
		stop()
		<-done
	})
	return ts
}

func testTLS(t *testing.T) *tls.Config {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "petrel.test"},
		DNSNames: []string{"petrel.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: priv}}}
}

// secure dials addr (the STARTTLS listener) from ip and says EHLO under TLS.
func (ts *testServer) secure(t *testing.T, ip string) *smtptest.Client {
	t.Helper()
	c, code, msg := smtptest.Dial(t, ip, ts.addr)
	if code != 220 {
		t.Fatalf("greeting from %s: %d %s", ip, code, msg)
	}
	c.StartTLS()
	return c
}

func plain(user, pass string) string {
	return "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass))
}

const testMessage = "From: sender@example.com\r\nTo: success@simulator.amazonses.com\r\nSubject: hi\r\n\r\nhello\r\n"

func testPolicy() AuthPolicy {
	return AuthPolicy{Free: 2, Delay: 100 * time.Millisecond, MaxDelay: 400 * time.Millisecond, LockAfter: 7,
		Window: time.Minute, LockFor: 600 * time.Millisecond, PerConn: 3, MaxKeys: 1000}
}

// Finding 9: wrong passwords are answered ever more slowly, then the IP is
// locked out (454 4.7.0, the password not even checked) while other IPs
// are served; a connection is closed at its third failure, so 100 guesses
// on one connection are impossible.
func TestAuthThrottling(t *testing.T) {
	ts := startServer(t, serverOpts{policy: testPolicy()})
	c := ts.secure(t, "127.0.0.2")
	type attempt struct {
		code    int
		minWait time.Duration
	}
	// Failures 1–2 free, then 100, 200, 400, 400 ms; the 7th locks out.
	want := []attempt{{535, 0}, {535, 0}, {421, 100 * time.Millisecond},
		{535, 200 * time.Millisecond}, {535, 400 * time.Millisecond}, {421, 400 * time.Millisecond},
		{535, 400 * time.Millisecond}}
	for i, w := range want {
		start := time.Now()
		code, msg := c.Cmd(plain(ts.key.AccessKeyID, "wrong"))
		took := time.Since(start)
		if code != w.code || took < w.minWait || took > w.minWait+300*time.Millisecond {
			t.Fatalf("failure %d: %d %s after %v, want %d after %v", i+1, code, msg, took, w.code, w.minWait)
		}
		if code == 421 {
			if !c.Closed() {
				t.Fatalf("failure %d: connection still open after 421", i+1)
			}
			c = ts.secure(t, "127.0.0.2")
		}
	}
	// Locked out: even the right password gets 454 at once, unchecked.
	start := time.Now()
	if code, msg := c.Cmd(plain(ts.key.AccessKeyID, ts.pass)); code != 454 || !strings.Contains(msg, "4.7.0 Too many authentication failures") {
		t.Fatalf("locked out, right password: %d %s", code, msg)
	}
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Errorf("lockout answered after %v", took)
	}
	// Another client IP is served meanwhile.
	other := ts.secure(t, "127.0.0.3")
	other.Expect(plain(ts.key.AccessKeyID, ts.pass), 235)
	if code, msg := other.Send(testMessage); code != 250 || !strings.HasPrefix(msg, "Ok ") {
		t.Fatalf("send from another IP: %d %s", code, msg)
	}
	// The lockout ends.
	time.Sleep(testPolicy().LockFor)
	c = ts.secure(t, "127.0.0.2")
	c.Expect(plain(ts.key.AccessKeyID, ts.pass), 235)
	if !strings.Contains(ts.log.String(), "cause=\"AUTH locked out\"") {
		t.Errorf("lockout refusal not logged:\n%s", ts.log)
	}
}

// Finding D of the hardening review: failures for one username used to
// lock it out for every IP (30 in 15 minutes, then 454 even for the right
// password), so a stranger could keep a user locked out for ever. Now
// failures for a username from many IPs only slow down the answers to
// further failures; its right password from a clean IP succeeds at once.
func TestAuthUsernameNotLockedOut(t *testing.T) {
	p := testPolicy()
	p.Delay, p.MaxDelay = 10*time.Millisecond, 40*time.Millisecond
	ts := startServer(t, serverOpts{policy: p})
	// 7 IPs × 6 failures (under each IP's lockout at 7): 42 for the
	// username, past the 30 that used to lock it out.
	for i := range 7 {
		ip := fmt.Sprintf("127.0.1.%d", i+1)
		c := ts.secure(t, ip)
		for j := range 6 {
			code, msg := c.Cmd(plain(ts.key.AccessKeyID, "wrong"))
			if code == 421 {
				c = ts.secure(t, ip)
				continue
			}
			if code != 535 {
				t.Fatalf("IP %s failure %d: %d %s, want 535", ip, j+1, code, msg)
			}
		}
	}
	// A further failure from a clean IP is answered after the username's delay.
	c := ts.secure(t, "127.0.2.1")
	start := time.Now()
	if code, msg := c.Cmd(plain(ts.key.AccessKeyID, "wrong")); code != 535 {
		t.Fatalf("failure from a clean IP: %d %s", code, msg)
	}
	if took := time.Since(start); took < p.MaxDelay {
		t.Errorf("failure for a much-failed username answered after %v, want >= %v", took, p.MaxDelay)
	}
	// The right password from a clean IP: accepted at once.
	c = ts.secure(t, "127.0.2.2")
	start = time.Now()
	if code, msg := c.Cmd(plain(ts.key.AccessKeyID, ts.pass)); code != 235 {
		t.Fatalf("right password after 42 failures for the username from other IPs: %d %s, want 235", code, msg)
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("right password answered after %v", took)
	}
	if code, msg := c.Send(testMessage); code != 250 {
		t.Fatalf("send: %d %s", code, msg)
	}
}

// Finding I of the hardening review: a second MAIL FROM within a
// transaction got 250; RFC 5321 §4.1.4 wants 503 (nested MAIL), and the
// open transaction goes on. After RSET or a finished DATA, MAIL is allowed.
func TestNestedMail(t *testing.T) {
	ts := startServer(t, serverOpts{policy: testPolicy()})
	c := ts.secure(t, "127.0.0.2")
	c.Expect(plain(ts.key.AccessKeyID, ts.pass), 235)
	c.Expect("MAIL FROM:<sender@example.com>", 250)
	if code, msg := c.Cmd("MAIL FROM:<other@example.com>"); code != 503 || !strings.HasPrefix(msg, "5.5.1 ") {
		t.Fatalf("nested MAIL: %d %s, want 503 5.5.1", code, msg)
	}
	c.Expect("RCPT TO:<success@simulator.amazonses.com>", 250)
	c.Expect("RSET", 250)
	c.Expect("MAIL FROM:<sender@example.com>", 250)
	c.Expect("RSET", 250)
	if code, msg := c.Send(testMessage); code != 250 {
		t.Fatalf("send: %d %s", code, msg)
	}
	if code, msg := c.Send(testMessage); code != 250 {
		t.Fatalf("second send after DATA: %d %s", code, msg)
	}
}

// Finding I of the hardening review: the 553 for a refused address echoed
// it as go-smtp passed it, without the quotes of a quoted local part, so
// `"a> NOTIFY=NEVER"@dest.test` came back as `<a> NOTIFY=NEVER@dest.test>`.
// A refused path is echoed only when it cannot be read as something else.
func TestRefusedAddressEcho(t *testing.T) {
	ts := startServer(t, serverOpts{policy: testPolicy()})
	c := ts.secure(t, "127.0.0.2")
	c.Expect(plain(ts.key.AccessKeyID, ts.pass), 235)
	for _, tc := range []struct {
		cmd, want string
	}{
		{"MAIL FROM:<bad@@example.com>", "553 5.1.7 <bad@@example.com> Invalid email address"},
		{`MAIL FROM:<"a> NOTIFY=NEVER"@example.com>`, "553 5.1.7 Invalid email address"},
		{"MAIL FROM:<sender@example.com>", "250"},
		{`RCPT TO:<"a> NOTIFY=NEVER"@dest.test>`, "553 5.1.3 address unknown"},
		{`RCPT TO:<"a\"b>"@dest.test>`, "553 5.1.3 address unknown"},
		{"RCPT TO:<x@[127.0.0.1]>", "553 5.1.3 <x@[127.0.0.1]> address unknown"},
	} {
		code, msg := c.Cmd(tc.cmd)
		got := fmt.Sprintf("%d %s", code, msg)
		if !strings.HasPrefix(got, tc.want) || (code != 250 && got != tc.want) {
			t.Errorf("%s: %q, want %q", tc.cmd, got, tc.want)
		}
	}
}

// Finding 10: malformed AUTH data gets permanent 501 replies (RFC 4954 §4),
// not go-smtp's 454; the fourth protocol error closes the connection.
func TestAuthMalformed(t *testing.T) {
	ts := startServer(t, serverOpts{policy: testPolicy()})
	c := ts.secure(t, "127.0.0.2")
	if code, msg := c.Cmd("AUTH PLAIN !!!notbase64"); code != 501 || !strings.HasPrefix(msg, "5.5.2") {
		t.Fatalf("bad base64 initial response: %d %s, want 501 5.5.2", code, msg)
	}
	c.Expect("AUTH LOGIN", 334)
	if code, msg := c.Cmd("%%%"); code != 501 || !strings.HasPrefix(msg, "5.5.2") {
		t.Fatalf("bad base64 response: %d %s, want 501 5.5.2", code, msg)
	}
	c.Expect("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("no separators")), 501)
	c.Expect("NOOP", 250)
	c.Expect("AUTH PLAIN ****", 501)
	c.Expect("AUTH PLAIN ####", 501)
	if code, _ := c.Read(); code != 500 || !c.Closed() {
		t.Fatalf("after four undecodable AUTH responses: %d, connection open", code)
	}
}

// Finding 10: an over-long line in DATA gets a permanent 554 5.6.0 once the
// data has ended, and the session goes on (before: 451 for a line over
// MaxLineLength, then 500 and a reset connection). Lines over 1000 octets
// that fit MaxLineLength get the same reply from the message parser.
func TestDataLineTooLong(t *testing.T) {
	ts := startServer(t, serverOpts{policy: testPolicy()})
	const want = "5.6.0 Transaction failed: malformed message: line longer than 1000 characters"
	for _, tc := range []struct {
		name string
		body string
	}{
		{"over MaxLineLength", testMessage + strings.Repeat("a", MaxLineLength) + "\r\nend\r\n"},
		{"over MaxLineLength, data ends", testMessage + strings.Repeat("b", 5*MaxLineLength)},
		{"over MaxLineLength by its CR, data ends", testMessage + strings.Repeat("c", MaxLineLength-1) + "\r\n"},
		{"megabyte line", testMessage + strings.Repeat("d", 1<<20) + "\r\n"},
		{"over 1000 within MaxLineLength", testMessage + strings.Repeat("f", 1500) + "\r\n"},
		{"long header", "X-Long: " + strings.Repeat("g", 3000) + "\r\n" + testMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.secure(t, "127.0.0.2")
			c.Expect(plain(ts.key.AccessKeyID, ts.pass), 235)
			if code, msg := c.Send(tc.body); code != 554 || msg != want {
				t.Fatalf("over-long line: %d %s, want 554 %s", code, msg, want)
			}
			c.Expect("NOOP", 250)
			if code, msg := c.Send(testMessage); code != 250 {
				t.Fatalf("next message on the same connection: %d %s", code, msg)
			}
		})
	}
	// The longest line allowed passes.
	c := ts.secure(t, "127.0.0.2")
	c.Expect(plain(ts.key.AccessKeyID, ts.pass), 235)
	if code, msg := c.Send(testMessage + strings.Repeat("e", 998) + "\r\n"); code != 250 {
		t.Fatalf("line of 1000 octets with CRLF: %d %s", code, msg)
	}
}

// Finding 4: connections over the per-IP cap get 421 4.7.0 at once (on the
// TLS port: closed, no plaintext), while another IP is served; over the
// total cap everyone new is refused; closed connections free their slots.
func TestConnectionCaps(t *testing.T) {
	ts := startServer(t, serverOpts{policy: testPolicy(), limits: admission.Limits{MaxConns: 8, MaxConnsPerIP: 3}})
	var held []*smtptest.Client
	for i := range 6 {
		c, code, msg := smtptest.Dial(t, "127.0.0.2", ts.addr)
		switch {
		case i < 3 && code != 220:
			t.Fatalf("connection %d: %d %s, want 220", i+1, code, msg)
		case i >= 3 && (code != 421 || msg != "4.7.0 Too many concurrent SMTP connections" || !c.Closed()):
			t.Fatalf("connection %d over the per-IP cap: %d %s, want 421 and close", i+1, code, msg)
		}
		if code == 220 {
			held = append(held, c)
		}
	}
	// A legitimate client from another address is served.
	c := ts.secure(t, "127.0.0.3")
	c.Expect(plain(ts.key.AccessKeyID, ts.pass), 235)
	if code, msg := c.Send(testMessage); code != 250 {
		t.Fatalf("legitimate client: %d %s", code, msg)
	}
	// Total cap: 3 + 1 + 3 + 1 = 8 open, the next is refused whatever its IP.
	for _, ip := range []string{"127.0.0.4", "127.0.0.4", "127.0.0.4", "127.0.0.5"} {
		c, code, _ := smtptest.Dial(t, ip, ts.addr)
		if code != 220 {
			t.Fatalf("from %s: %d", ip, code)
		}
		held = append(held, c)
	}
	if _, code, msg := smtptest.Dial(t, "127.0.0.6", ts.addr); code != 421 {
		t.Fatalf("over the total cap: %d %s, want 421", code, msg)
	}
	if open := ts.smtpL.(*authDeadlineListener).Listener.(*admission.Listener).Open(); open != 8 {
		t.Errorf("open connections = %d, want 8", open)
	}
	// Implicit TLS over the cap: closed without a byte of plaintext.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	for range 3 {
		raw, err := d.Dial("tcp", ts.tlsAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
	}
	raw, err := d.Dial("tcp", ts.tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(raw); len(b) != 0 || err != nil {
		t.Fatalf("TLS port over the cap sent %q (%v), want a bare close", b, err)
	}
	// Closing frees the slots.
	held[0].Conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, code, _ := smtptest.Dial(t, "127.0.0.2", ts.addr)
		if code == 220 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("slot not freed after close")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(ts.log.String(), "cause=\"connection limit\"") {
		t.Errorf("refusal not logged:\n%s", ts.log)
	}
}

// An unauthenticated connection is closed at its authentication deadline
// however it keeps talking; an authenticated one is not.
func TestAuthDeadline(t *testing.T) {
	ts := startServer(t, serverOpts{policy: testPolicy(), authDeadline: 400 * time.Millisecond})
	idle := ts.secure(t, "127.0.0.2")
	talker := ts.secure(t, "127.0.0.2")
	authed := ts.secure(t, "127.0.0.2")
	authed.Expect(plain(ts.key.AccessKeyID, ts.pass), 235)
	start := time.Now()
	for time.Since(start) < 300*time.Millisecond {
		talker.Expect("NOOP", 250)
		time.Sleep(50 * time.Millisecond)
	}
	for name, c := range map[string]*smtptest.Client{"idle": idle, "talking": talker} {
		if code, msg := c.Read(); code != 421 || !strings.HasPrefix(msg, "4.4.2") {
			t.Errorf("%s unauthenticated connection: %d %s, want 421 4.4.2", name, code, msg)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s connection closed after %v", name, took)
		}
	}
	time.Sleep(200 * time.Millisecond)
	authed.Expect("NOOP", 250)
}

// A key disabled during a session stops it at the next MAIL FROM.
func TestRevokedMidSession(t *testing.T) {
	ts := startServer(t, serverOpts{policy: testPolicy()})
	c := ts.secure(t, "127.0.0.2")
	c.Expect(plain(ts.key.AccessKeyID, ts.pass), 235)
	if code, _ := c.Send(testMessage); code != 250 {
		t.Fatalf("first message: %d", code)
	}
	if err := ts.accts.SetKeyStatus(t.Context(), "acme", ts.key.AccessKeyID, account.Inactive); err != nil {
		t.Fatal(err)
	}
	if code, msg := c.Cmd("MAIL FROM:<sender@example.com>"); code != 421 || !strings.HasPrefix(msg, "4.7.0") {
		t.Fatalf("MAIL after the key was disabled: %d %s, want 421 4.7.0", code, msg)
	}
	if !c.Closed() {
		t.Fatal("connection open after 421")
	}
}

// Message bodies come out of the shared memory budget: a body that does
// not fit gets 451 4.3.1 (retry later), nothing is accepted, the session
// goes on, and the budget is whole again afterwards.
func TestBodyBudget(t *testing.T) {
	budget := admission.NewBudget(256 << 10)
	ts := startServer(t, serverOpts{policy: testPolicy(), budget: budget})
	c := ts.secure(t, "127.0.0.2")
	c.Expect(plain(ts.key.AccessKeyID, ts.pass), 235)
	big := testMessage + strings.Repeat(strings.Repeat("x", 998)+"\r\n", 300)
	if code, msg := c.Send(big); code != 451 || msg != "4.3.1 Temporary service failure" {
		t.Fatalf("body over the budget: %d %s, want 451 4.3.1", code, msg)
	}
	if code, msg := c.Send(testMessage); code != 250 {
		t.Fatalf("small message: %d %s", code, msg)
	}
	if n := budget.InUse(); n != 0 {
		t.Errorf("budget in use after the sessions: %d", n)
	}
}

func TestReadBody(t *testing.T) {
	long := strings.Repeat("0123456789", 300000) // 3 MB: several chunks
	for _, tc := range []struct {
		name     string
		body     string
		sizeHint int64
		budget   int64
		wantErr  error
		wantHeld int64 // -1: don't check
	}{
		{"small", "hello", 0, 0, nil, 16 << 10},
		{"empty", "", 0, 0, nil, 16 << 10},
		{"exact SIZE", long, int64(len(long)), 0, nil, int64(len(long)) + 1},
		{"SIZE too small", long, 100, 0, nil, int64(len(long))},
		{"chunks joined", long, 0, 0, nil, int64(len(long))},
		{"over budget", long, 0, 1 << 20, admission.ErrOverBudget, 0},
		{"SIZE over budget", "x", 2 << 20, 1 << 20, admission.ErrOverBudget, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := admission.NewBudget(tc.budget)
			got, held, err := readBody(strings.NewReader(tc.body), tc.sizeHint, b, "acme")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && string(got) != tc.body {
				t.Fatalf("body of %d bytes, want %d", len(got), len(tc.body))
			}
			if held != tc.wantHeld || b.InUse() != held || (tc.budget > 0 && b.HeldBy("acme") != held) {
				t.Errorf("held %d (budget in use %d, by the holder %d), want %d", held, b.InUse(), b.HeldBy("acme"), tc.wantHeld)
			}
		})
	}
}

func TestAuthPolicyDelay(t *testing.T) {
	p := DefaultAuthPolicy()
	var got []time.Duration
	for n := 1; n <= 9; n++ {
		got = append(got, p.delay(n))
	}
	s := time.Second
	want := []time.Duration{0, 0, 0, s, 2 * s, 4 * s, 8 * s, 8 * s, 8 * s}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delays %v, want %v", got, want)
		}
	}
}

// The tables stay under MaxKeys whatever the number of addresses.
func TestAuthLimiterBounded(t *testing.T) {
	p := testPolicy()
	p.MaxKeys = 100
	l := NewAuthLimiter(p)
	for i := range 10000 {
		ip := net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)).String()
		l.Failed(ip, "user"+ip)
	}
	if len(l.ips.m) > 100 || len(l.users.m) > 100 {
		t.Fatalf("tables hold %d IPs, %d usernames", len(l.ips.m), len(l.users.m))
	}
	// IPv6 addresses count per /64.
	l.Failed("2001:db8::1", "u")
	l.Failed("2001:db8::2", "v")
	if r := l.ips.m["2001:db8::/64"]; r == nil || r.failures != 2 {
		t.Fatalf("IPv6 /64 record = %+v", r)
	}
}
