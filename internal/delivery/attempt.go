package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/smtpreply"
)

// outcome is the result of one attempt for one recipient.
type outcome struct {
	reply    smtpreply.Reply
	command  string // the SMTP command the reply answered: HELO, MAIL, RCPT or DATA; "" for the greeting and before a connection
	remoteIP string // the server's address; "" when no connection was made
	tls      bool   // the transaction ran over STARTTLS
	// verdict, when set, is Petrel's own decision about a transaction it
	// did not start (the server lacks SMTPUTF8 or 8BITMIME): the bounce
	// rules, written for receivers' answers, are not asked.
	verdict *bounce.Verdict
	start   time.Time // when the attempt began; zero for one that did not run
}

// attempt delivers e over the worker's connection, opening one when it has
// none. It returns the outcome to record, or ok false when there is nothing
// to record: a failure caused by our own shutdown is not the destination's,
// and the entry's lease brings it back.
func (w *worker) attempt(e *queue.Entry) (outcome, bool) {
	d := w.d
	ctx := d.ctx
	start := time.Now()
	rp := e.MailFrom // system mail: as given, "" being the null reverse-path <>
	if !e.System {
		// At the identity's custom MAIL FROM domain when acceptance chose
		// it (SES §9.3), else at the deployment's return-path domain.
		domain := e.ReturnPathDomain
		if domain == "" {
			domain = d.cfg.ReturnPathDomain
		}
		rp = bounce.ReturnPath(e.MessageID, rcptIndex(e.ID), domain, d.cfg.VERPSecret)
	}
	if r, command, ok := checkPaths(rp, e.Rcpt); !ok {
		// An address that cannot be written safely (accepted by an older
		// version, say) bounces at once, without a connection.
		return outcome{reply: r, command: command, start: start}, true
	}
	body := e.Body
	e.Body = nil // the entry may wait for a retry: do not hold the body in memory
	if body == nil {
		var err error
		body, err = d.spool.Body(ctx, e.MessageID)
		if err != nil && ctx.Err() != nil {
			return outcome{}, false // shutting down: the entry stays leased and is reclaimed at restart
		}
		if err != nil {
			d.log.Error("loading message for delivery", "message_id", e.MessageID, "err", err)
			return outcome{reply: smtpreply.Reply{Code: 451, Enhanced: "4.3.0", Text: "Temporary local problem: message body unavailable"}, start: start}, true
		}
	}
	if w.c != nil && (w.c.used >= 100 || e.TLSRequired && !w.c.tls) {
		// A connection in plain text (kept from an entry of the site that
		// did not require TLS) never carries an entry that does: it is
		// closed, and the new one must reach TLS.
		w.hangUp()
	}
	if w.c == nil {
		o := w.connect(ctx, e.Domain, e.TLSRequired)
		if w.c == nil {
			o.start = start
			return o, ctx.Err() == nil
		}
	}
	o, err := w.c.send(ctx, rp, e.Rcpt, body)
	o.start = start
	if err != nil {
		w.drop()
		if ctx.Err() != nil {
			// Shutting down mid-attempt: leave the entry leased; a restart of
			// this node reclaims it at once, another node after the lease.
			return outcome{}, false
		}
		o.reply = smtpreply.Reply{Code: 451, Enhanced: "4.4.2", Text: "Connection lost during delivery: " + err.Error()}
	}
	return o, true
}

func rcptIndex(entryID string) string {
	_, idx, _ := strings.Cut(entryID, "/")
	return idx
}

// connect finds and connects to the destination of domain, leaving the
// connection (and its slot) with the worker. On failure the worker has
// neither, and the outcome to record is returned. With requireTLS (the
// entry's configuration set has TlsPolicy REQUIRE) only a connection
// upgraded by STARTTLS is kept: a host that does not offer STARTTLS, refuses
// it or fails the handshake is hung up on before any transaction, and the
// next address is tried (see tlsRequired).
func (w *worker) connect(ctx context.Context, domain string, requireTLS bool) outcome {
	d := w.d
	addrs, o := d.destinations(ctx, domain)
	if len(addrs) == 0 {
		return o
	}
	if !w.acquire(ctx) {
		return outcome{reply: smtpreply.Reply{Code: 451, Enhanced: "4.3.2", Text: "Shutting down"}}
	}
	var last outcome
	for _, addr := range addrs {
		host, _, _ := net.SplitHostPort(addr)
		c, err := dialSMTP(ctx, addr, d.cfg.Hostname, d.cfg.Timeouts, false)
		var te *tlsError
		if errors.As(err, &te) {
			if requireTLS {
				last = tlsRequired(host, 5, "the TLS handshake with host "+host+" failed: "+te.err.Error())
				continue
			}
			c, err = dialSMTP(ctx, addr, d.cfg.Hostname, d.cfg.Timeouts, true)
		}
		if err == nil && requireTLS && !c.tls {
			c.quit()
			if c.tlsRefused.Code != 0 {
				last = tlsRequired(host, 4, "host "+host+" refused STARTTLS: "+c.tlsRefused.String())
			} else {
				last = tlsRequired(host, 4, "host "+host+" did not offer STARTTLS")
			}
			continue
		}
		if err == nil {
			w.c = c
			return outcome{}
		}
		var r *refusal
		if errors.As(err, &r) {
			// Refusing the connection or Petrel's HELO name is about the
			// sending host, never a recipient: temporary, whatever the code,
			// recorded as an answer to the command that was refused.
			stage := "Greeting refused: "
			if r.command != "" {
				stage = r.command + " refused: "
			}
			last = outcome{reply: smtpreply.Reply{Code: 421, Enhanced: "4.4.1", Text: stage + r.reply.String()}, command: r.command, remoteIP: host}
		} else {
			last = outcome{reply: smtpreply.Reply{Code: 421, Enhanced: "4.4.1", Text: "Unable to connect to remote host: " + err.Error()}, remoteIP: host}
		}
	}
	w.release()
	return last
}

// verdictTLSRequired is Petrel's verdict on an entry it did not send because
// its configuration set requires TLS and the host offered none: Transient,
// the address is not in question; its delay type is
// TransientCommunicationFailure (bounce.DelayType of ReasonNetworkError).
var verdictTLSRequired = bounce.Verdict{Type: bounce.Transient, SubType: bounce.General,
	Reason: bounce.ReasonNetworkError, Rule: bounce.RuleTLSRequired}

// tlsRequired is the outcome of a connection that did not reach TLS for an
// entry that requires it (SES TlsPolicy REQUIRE, ../shared/spec/ses.md
// §1.8, §7): "421 4.7.4 TLS is required by the configuration set, but host
// <ip> did not offer STARTTLS". Nothing of the transaction was sent.
//
// The codes: 421 because Petrel closes the connection and the failure is
// temporary — the host may offer TLS later or another MX may, and the entry
// is retried until its deadline, when it bounces Transient through the
// expiry path (SES retries and then bounces, §7); a 5xx would end it at
// once, and RFC 7504's 521/556 are for hosts that accept no mail at all.
// The enhanced code follows RFC 3463 §3.8, as Postfix does for its own
// "TLS is required" deferrals: X.7.4 "Security features not supported"
// when STARTTLS is not offered or is refused (the security the message
// needs is not supported by the destination), X.7.5 "Cryptographic
// failure" when the handshake fails. Like every 4.7.x reply it is about
// the connection, not the recipient.
func tlsRequired(host string, detail int, what string) outcome {
	return outcome{reply: smtpreply.Reply{Code: 421, Enhanced: "4.7." + strconv.Itoa(detail), Text: "TLS is required by the configuration set, but " + what},
		remoteIP: host, verdict: &verdictTLSRequired}
}

// destinations returns the "ip:port" addresses to try for domain in order:
// the relay host, or the addresses of its MX hosts (RFC 5321 §5.1). When
// there are none it returns the outcome to record instead.
func (d *Deliverer) destinations(ctx context.Context, domain string) ([]string, outcome) {
	if d.cfg.RelayHost != "" {
		return []string{d.cfg.RelayHost}, outcome{}
	}
	hosts, nullMX, err := d.dns.mxHosts(ctx, domain)
	if nullMX {
		return nil, outcome{reply: smtpreply.Reply{Code: 556, Enhanced: "5.1.10",
			Text: "Recipient address rejected: " + domain + " does not accept mail (null MX)"}}
	}
	if err != nil {
		return nil, outcome{reply: smtpreply.Reply{Code: 451, Enhanced: "4.4.3", Text: "DNS lookup failed: " + err.Error()}}
	}
	var addrs []string
	var lastErr error
	for _, h := range hosts {
		ips, err := d.dns.addrs(ctx, h)
		if err != nil {
			lastErr = err
			continue
		}
		for _, ip := range ips {
			addrs = append(addrs, net.JoinHostPort(ip.String(), strconv.Itoa(d.cfg.Port)))
		}
	}
	if len(addrs) == 0 {
		return nil, outcome{reply: smtpreply.Reply{Code: 451, Enhanced: "4.4.3", Text: fmt.Sprintf("DNS lookup failed for the MX hosts of %s: %v", domain, lastErr)}}
	}
	return addrs, outcome{}
}
