package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Protocols the load generator speaks.
const (
	protoSMTP      = "smtp"       // plain SMTP, no AUTH (the relay trusts 127.0.0.0/8)
	protoAPIRaw    = "api-raw"    // SESv2 SendEmail, Content.Raw, SigV4-signed
	protoAPISimple = "api-simple" // SESv2 SendEmail, Content.Simple with an X-Bench-Id header
	protoAPIRawV1  = "api-raw-v1" // SES v1 Query API SendRawEmail, form-encoded, SigV4-signed
)

// load is one load-generation run: sessions clients send messages numbered
// 0..messages-1, either as fast as they are answered (closed loop) or at a
// fixed offered rate (open loop, message i due at start + i/rate).
type load struct {
	proto    string
	target   string // host:port of SMTP, or of the HTTP API
	reuse    bool   // SMTP: keep the connection for the next message
	sessions int
	messages int
	rate     float64
	run      string // tag in X-Bench-Id, so the sink ignores strays
	body     []byte // the message, CRLF, without the X-Bench-Id header
	creds    aws.Credentials
	region   string

	next     atomic.Int64
	start    time.Time
	began    []int64 // unix nanos when the message's transaction began
	accepted []int64 // unix nanos of the final 2xx; 0 = failed
	failed   atomic.Int64
	errMu    sync.Mutex
	errs     map[string]int
}

// loadResult is what a finished load reports.
type loadResult struct {
	start    time.Time
	end      time.Time // last acceptance
	began    []int64
	accepted []int64
	ok       int
	failed   int
	errs     map[string]int
}

func (l *load) runLoad(ctx context.Context) loadResult {
	l.began = make([]int64, l.messages)
	l.accepted = make([]int64, l.messages)
	l.errs = map[string]int{}
	l.start = time.Now()
	var wg sync.WaitGroup
	var client *http.Client
	if l.proto != protoSMTP {
		client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
			MaxIdleConns: l.sessions, MaxIdleConnsPerHost: l.sessions, IdleConnTimeout: time.Minute}}
	}
	for range l.sessions {
		wg.Go(func() {
			if l.proto == protoSMTP {
				l.smtpSession(ctx)
			} else {
				l.apiSession(ctx, client)
			}
		})
	}
	wg.Wait()
	res := loadResult{start: l.start, began: l.began, accepted: l.accepted, failed: int(l.failed.Load()), errs: l.errs}
	for _, a := range l.accepted {
		if a != 0 {
			res.ok++
			if t := time.Unix(0, a); t.After(res.end) {
				res.end = t
			}
		}
	}
	return res
}

// take returns the next message number, waiting for its turn at a fixed
// rate; -1 when all are taken or ctx is done.
func (l *load) take(ctx context.Context) int {
	seq := int(l.next.Add(1) - 1)
	if seq >= l.messages || ctx.Err() != nil {
		return -1
	}
	if l.rate > 0 {
		due := l.start.Add(time.Duration(float64(seq) / l.rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return -1
			}
		}
	}
	return seq
}

func (l *load) fail(seq int, err error) {
	l.failed.Add(1)
	msg := err.Error()
	if len(msg) > 120 {
		msg = msg[:120]
	}
	l.errMu.Lock()
	l.errs[msg]++
	l.errMu.Unlock()
}

func (l *load) header(seq int) string {
	return "X-Bench-Id: " + l.run + "." + strconv.Itoa(seq) + "\r\n"
}

func rcptFor(seq int) string { return "r" + strconv.Itoa(seq) + "@example.com" }

// smtpConn is a minimal SMTP client connection: commands one at a time,
// as smtp-source sends them.
type smtpConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func dialSMTPLoad(target string) (*smtpConn, error) {
	c, err := net.DialTimeout("tcp", target, 30*time.Second)
	if err != nil {
		return nil, err
	}
	s := &smtpConn{c: c, r: bufio.NewReaderSize(c, 4096), w: bufio.NewWriterSize(c, 16<<10)}
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	if err := s.expect(220); err != nil {
		c.Close()
		return nil, err
	}
	if err := s.cmd(250, "EHLO loadgen.localdomain"); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

// expect reads one (possibly multi-line) reply and checks its code.
func (s *smtpConn) expect(code int) error {
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return err
		}
		if len(line) < 4 {
			return fmt.Errorf("short reply %q", line)
		}
		if line[3] == '-' {
			continue
		}
		if got, _ := strconv.Atoi(line[:3]); got != code {
			return fmt.Errorf("%s", strings.TrimSpace(line))
		}
		return nil
	}
}

func (s *smtpConn) cmd(code int, line string) error {
	s.w.WriteString(line)
	s.w.WriteString("\r\n")
	if err := s.w.Flush(); err != nil {
		return err
	}
	return s.expect(code)
}

func (l *load) smtpSession(ctx context.Context) {
	var c *smtpConn
	defer func() {
		if c != nil {
			c.cmd(221, "QUIT")
			c.c.Close()
		}
	}()
	for {
		seq := l.take(ctx)
		if seq < 0 {
			return
		}
		began := time.Now()
		l.began[seq] = began.UnixNano()
		if c == nil {
			var err error
			if c, err = dialSMTPLoad(l.target); err != nil {
				l.fail(seq, err)
				continue
			}
		}
		if err := l.smtpSend(c, seq); err != nil {
			l.fail(seq, err)
			c.c.Close()
			c = nil
			continue
		}
		l.accepted[seq] = time.Now().UnixNano()
		if !l.reuse {
			c.cmd(221, "QUIT")
			c.c.Close()
			c = nil
		}
	}
}

func (l *load) smtpSend(c *smtpConn, seq int) error {
	c.c.SetDeadline(time.Now().Add(2 * time.Minute))
	if err := c.cmd(250, "MAIL FROM:<sender@bench.localdomain>"); err != nil {
		return err
	}
	if err := c.cmd(250, "RCPT TO:<"+rcptFor(seq)+">"); err != nil {
		return err
	}
	if err := c.cmd(354, "DATA"); err != nil {
		return err
	}
	c.w.WriteString(l.header(seq))
	c.w.Write(l.body) // benchMessage has no line starting with "."
	c.w.WriteString(".\r\n")
	if err := c.w.Flush(); err != nil {
		return err
	}
	return c.expect(250)
}

// apiSession sends SendEmail (SESv2) or SendRawEmail (SES v1 Query API)
// requests, SigV4-signed for "ses" as the AWS SDKs sign them, over
// keep-alive HTTP connections.
func (l *load) apiSession(ctx context.Context, client *http.Client) {
	signer := v4.NewSigner()
	path, contentType, parse := "/v2/email/outbound-emails", "application/json", v2MessageID
	if l.proto == protoAPIRawV1 {
		path, contentType, parse = "/", "application/x-www-form-urlencoded; charset=utf-8", v1MessageID
	}
	endpoint := "http://" + l.target + path
	for {
		seq := l.take(ctx)
		if seq < 0 {
			return
		}
		body, err := l.apiBody(seq)
		if err != nil {
			l.fail(seq, err)
			continue
		}
		began := time.Now()
		l.began[seq] = began.UnixNano()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		sum := sha256.Sum256(body)
		if err := signer.SignHTTP(ctx, l.creds, req, hex.EncodeToString(sum[:]), "ses", l.region, began); err != nil {
			l.fail(seq, err)
			continue
		}
		resp, err := client.Do(req)
		if err != nil {
			l.fail(seq, err)
			continue
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if _, err := parse(resp.StatusCode, out); err != nil {
			l.fail(seq, err)
			continue
		}
		l.accepted[seq] = time.Now().UnixNano()
	}
}

// v2MessageID returns the MessageId of a SESv2 SendEmail reply (JSON), or
// an error naming the HTTP status and the reply.
func v2MessageID(status int, reply []byte) (string, error) {
	if status != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %s", status, reply)
	}
	var r struct{ MessageId string }
	if json.Unmarshal(reply, &r) != nil || r.MessageId == "" {
		return "", errors.New("no MessageId in response")
	}
	return r.MessageId, nil
}

// v1MessageID returns the MessageId of an SES v1 SendRawEmailResponse
// (XML in namespace http://ses.amazonaws.com/doc/2010-12-01/, the ID in
// SendRawEmailResult/MessageId; ../shared/spec/ses.md §2.1). Any other
// reply is an error: an ErrorResponse as "HTTP <status>: <Code>:
// <Message>", so that a run's error counts group by code.
func v1MessageID(status int, reply []byte) (string, error) {
	if status != http.StatusOK {
		var e struct {
			XMLName xml.Name `xml:"ErrorResponse"`
			Code    string   `xml:"Error>Code"`
			Message string   `xml:"Error>Message"`
		}
		if xml.Unmarshal(reply, &e) == nil && e.Code != "" {
			return "", fmt.Errorf("HTTP %d: %s: %s", status, e.Code, e.Message)
		}
		return "", fmt.Errorf("HTTP %d: %s", status, reply)
	}
	var r struct {
		XMLName   xml.Name `xml:"http://ses.amazonaws.com/doc/2010-12-01/ SendRawEmailResponse"`
		MessageId string   `xml:"SendRawEmailResult>MessageId"`
	}
	if err := xml.Unmarshal(reply, &r); err != nil {
		return "", fmt.Errorf("not a SendRawEmailResponse: %w", err)
	}
	if r.MessageId == "" {
		return "", errors.New("no MessageId in SendRawEmailResponse")
	}
	return r.MessageId, nil
}

func (l *load) apiBody(seq int) ([]byte, error) {
	type content map[string]any
	req := map[string]any{
		"FromEmailAddress": "Bench Sender <sender@bench.localdomain>",
		"Destination":      map[string]any{"ToAddresses": []string{rcptFor(seq)}},
	}
	switch l.proto {
	case protoAPIRawV1:
		return l.v1RawBody(seq), nil
	case protoAPIRaw:
		raw := append([]byte(l.header(seq)), l.body...)
		req["Content"] = content{"Raw": map[string]string{"Data": base64.StdEncoding.EncodeToString(raw)}}
	case protoAPISimple:
		text, html := benchParts()
		req["Content"] = content{"Simple": map[string]any{
			"Subject": map[string]string{"Data": "Your weekly account summary (benchmark message)"},
			"Body": map[string]any{
				"Text": map[string]string{"Data": text, "Charset": "UTF-8"},
				"Html": map[string]string{"Data": html, "Charset": "UTF-8"},
			},
			"Headers": []map[string]string{
				{"Name": "X-Bench-Id", "Value": l.run + "." + strconv.Itoa(seq)},
				{"Name": "List-Unsubscribe", "Value": "<mailto:unsubscribe@bench.localdomain?subject=unsub>"},
			},
		}}
	default:
		return nil, fmt.Errorf("unknown protocol %q", l.proto)
	}
	return json.Marshal(req)
}

// v1RawBody is the form body of an SES v1 SendRawEmail request carrying the
// message api-raw sends (../shared/spec/ses.md §2.1–2.2): the same raw
// message, envelope sender and recipient, as the AWS SDKs encode it.
func (l *load) v1RawBody(seq int) []byte {
	raw := append([]byte(l.header(seq)), l.body...)
	return []byte(url.Values{
		"Action":                {"SendRawEmail"},
		"Version":               {"2010-12-01"},
		"Source":                {"Bench Sender <sender@bench.localdomain>"},
		"Destinations.member.1": {rcptFor(seq)},
		"RawMessage.Data":       {base64.StdEncoding.EncodeToString(raw)},
	}.Encode())
}
