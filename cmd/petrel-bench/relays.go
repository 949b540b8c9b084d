package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver, to give each Petrel run a fresh database
)

// relay is a mail relay under test: started fresh for each run, routed to
// the sink, its processes in their own cgroup.
type relay interface {
	name() string
	start(ctx context.Context) error
	stop()
	smtpAddr() string
	apiAddr() string // "" when it has no SESv2 API
	credentials() aws.Credentials
	group() *cgroup
	// peakRSS is the kernel's high-water mark of resident memory for a
	// single-process relay (VmHWM), 0 when not known.
	peakRSS() int64
}

// ---------------------------------------------------------------- Petrel

type petrelRelay struct {
	label    string
	bin      string // the petrel binary
	database string // "" = SQLite; else a postgres:// URL of a server to create a database on
	sink     string
	workDir  string
	cg       *cgroup
	// extraArgs are more "petrel serve" flags.
	extraArgs []string
	debug     bool // serve /debug/pprof, for profile
	debugAddr string

	cmd       *exec.Cmd
	dataDir   string
	http      string
	smtp      string
	creds     aws.Credentials
	exited    chan struct{}
	statusHWM int64
}

func (p *petrelRelay) name() string                 { return p.label }
func (p *petrelRelay) smtpAddr() string             { return p.smtp }
func (p *petrelRelay) apiAddr() string              { return p.http }
func (p *petrelRelay) credentials() aws.Credentials { return p.creds }
func (p *petrelRelay) group() *cgroup               { return p.cg }

func (p *petrelRelay) start(ctx context.Context) error {
	p.dataDir = filepath.Join(p.workDir, p.label)
	os.RemoveAll(p.dataDir)
	if err := os.MkdirAll(p.dataDir, 0o700); err != nil {
		return err
	}
	dbURL, err := p.freshDatabase(ctx)
	if err != nil {
		return err
	}
	p.http, p.smtp = freeAddr(), freeAddr()
	args := []string{p.bin, "serve", "--data-dir", p.dataDir, "--http", p.http, "--smtp", p.smtp,
		"--smtps", "", "--inbound", "", "--relay-host", p.sink, "--hostname", "petrel.bench.localdomain",
		"--log-level", "warn"}
	if dbURL != "" {
		args = append(args, "--database", dbURL)
	}
	args = append(args, p.extraArgs...)
	if p.debug {
		p.debugAddr = freeAddr()
		args = append(args, "--debug", p.debugAddr)
	}
	argv := p.cg.joinCommand(args...) // sh execs petrel: the pid is petrel's
	p.cmd = exec.Command(argv[0], argv[1:]...)
	logf, err := os.Create(filepath.Join(p.workDir, p.label+".log"))
	if err != nil {
		return err
	}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.exited = make(chan struct{})
	go func() { p.cmd.Wait(); logf.Close(); close(p.exited) }()
	if err := waitHTTP(ctx, "http://"+p.http+"/readyz", p.exited); err != nil {
		return fmt.Errorf("petrel did not start (see %s): %w", logf.Name(), err)
	}
	admin := func(a ...string) error {
		a = append(a, "--data-dir", p.dataDir)
		if dbURL != "" {
			a = append(a, "--database", dbURL)
		}
		out, err := exec.CommandContext(ctx, p.bin, a...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("petrel %s: %v: %s", strings.Join(a, " "), err, out)
		}
		return nil
	}
	// The sender's domain, and the loopback network as a network credential:
	// the load generator submits without AUTH, as it does to Postfix.
	if err := admin("identity", "add", "bench.localdomain", "--verified", "--dkim", "none"); err != nil {
		return err
	}
	if err := admin("credentials", "create", "--account", "default", "--network", "127.0.0.0/8"); err != nil {
		return err
	}
	p.creds, err = readCredentials(filepath.Join(p.dataDir, "credentials"))
	return err
}

func (p *petrelRelay) freshDatabase(ctx context.Context) (string, error) {
	if p.database == "" {
		return "", nil
	}
	db, err := sql.Open("pgx", p.database)
	if err != nil {
		return "", err
	}
	defer db.Close()
	name := "petrel_bench"
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("dropping %s: %w", name, err)
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("creating %s: %w", name, err)
	}
	return replaceDBName(p.database, name), nil
}

// replaceDBName swaps the database of a postgres:// URL.
func replaceDBName(url, name string) string {
	rest, query, _ := strings.Cut(url, "?")
	if i := strings.LastIndex(rest, "/"); i > len("postgres://") {
		rest = rest[:i]
	}
	out := rest + "/" + name
	if query != "" {
		out += "?" + query
	}
	return out
}

// profile writes a CPU profile of the next seconds to path.
func (p *petrelRelay) profile(ctx context.Context, path string, seconds int) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.debugAddr, seconds), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer resp.Body.Close()
	os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer f.Close()
	io.Copy(f, resp.Body)
}

func (p *petrelRelay) peakRSS() int64 { return p.statusHWM }

func (p *petrelRelay) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.statusHWM = procField(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid), "VmHWM:")
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

// readCredentials reads the access key of the "petrel" profile that
// "petrel serve" writes on first start.
func readCredentials(path string) (aws.Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return aws.Credentials{}, err
	}
	var c aws.Credentials
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			c.AccessKeyID = strings.TrimSpace(v)
		case "aws_secret_access_key":
			c.SecretAccessKey = strings.TrimSpace(v)
		}
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return c, fmt.Errorf("%s: no access key", path)
	}
	return c, nil
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitHTTP(ctx context.Context, url string, exited <-chan struct{}) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("process exited")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("not ready after 60s")
}

// ---------------------------------------------------------------- Postfix

// postfixRelay is Debian's Postfix configured as a pure relay to the sink,
// as ../shared/bench/postfix_setup.sh does: smtpd on 127.0.0.1:25, the
// fsynced queue, the smtp client to [sink]; no DNS, no local delivery;
// everything else Debian's defaults.
type postfixRelay struct {
	sink string
	cg   *cgroup
}

const postfixMainCF = `# written by petrel-bench: a pure relay to the benchmark sink
compatibility_level = 3.6
myhostname = bench.localdomain
mydomain = localdomain
myorigin = $myhostname
mydestination =
local_transport = error:local delivery disabled
alias_maps =
alias_database =
append_dot_mydomain = no
biff = no
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [%s]:%s
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtp_tls_security_level = none
smtpd_tls_security_level = none
maillog_file = /var/log/postfix-bench.log
`

func (p *postfixRelay) name() string                 { return "postfix" }
func (p *postfixRelay) smtpAddr() string             { return "127.0.0.1:25" }
func (p *postfixRelay) apiAddr() string              { return "" }
func (p *postfixRelay) credentials() aws.Credentials { return aws.Credentials{} }
func (p *postfixRelay) group() *cgroup               { return p.cg }
func (p *postfixRelay) peakRSS() int64               { return 0 }

// postfixVersion returns Postfix's version, or an error when it is not installed.
func postfixVersion() (string, error) {
	out, err := exec.Command("postconf", "-d", "-h", "mail_version").Output()
	if err != nil {
		return "", fmt.Errorf("postfix is not installed (apt-get install -y postfix, or make bench-deps): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func (p *postfixRelay) configure() error {
	host, port, err := net.SplitHostPort(p.sink)
	if err != nil {
		return err
	}
	if err := os.WriteFile("/etc/postfix/main.cf", fmt.Appendf(nil, postfixMainCF, host, port), 0o644); err != nil {
		return err
	}
	os.WriteFile("/etc/mailname", []byte("bench.localdomain\n"), 0o644)
	// chroot support files, as Debian's init script prepares them
	exec.Command("/usr/lib/postfix/configure-instance.sh", "-").Run()
	if out, err := exec.Command("postfix", "check").CombinedOutput(); err != nil {
		return fmt.Errorf("postfix check: %v: %s", err, out)
	}
	return nil
}

func (p *postfixRelay) start(ctx context.Context) error {
	p.stop()
	exec.Command("postsuper", "-d", "ALL").Run()
	os.WriteFile("/var/log/postfix-bench.log", nil, 0o644)
	argv := p.cg.joinCommand("postfix", "start")
	if out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("postfix start: %v: %s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := dialSMTPLoad(p.smtpAddr()); err == nil {
			c.cmd(221, "QUIT")
			c.c.Close()
			time.Sleep(time.Second) // let master start its helper processes
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("postfix did not answer on 127.0.0.1:25")
}

func (p *postfixRelay) stop() {
	exec.Command("postfix", "stop").Run()
	for range 100 {
		if len(p.cg.pids()) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
