package mxtest

import (
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// send delivers one message through c and returns the error of the first
// step that failed.
func send(c *smtp.Client, from string, opts *smtp.MailOptions, to, data string) error {
	if err := c.Mail(from, opts); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(data)); err != nil {
		return err
	}
	return w.Close()
}

func code(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// TestScriptDefaults: with an empty Script the server accepts mail,
// advertises the default extensions, takes BODY= and SMTPUTF8, and records
// the message dot-unstuffed with its commands.
func TestScriptDefaults(t *testing.T) {
	s := StartScript(t, "127.0.0.1", 0, Script{})
	c, err := smtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE"} {
		if ok, _ := c.Extension(ext); !ok {
			t.Errorf("%s not offered", ext)
		}
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Errorf("STARTTLS offered without Script.TLS")
	}
	data := "Subject: caf\xc3\xa9\r\n\r\n.leading dot\r\n..two\r\n"
	if err := send(c, "j\xc3\xb6@from.test", &smtp.MailOptions{Body: smtp.Body8BitMIME, UTF8: true}, "a@to.test", data); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	m := s.Messages()
	if len(m) != 1 || string(m[0].Data) != data || m[0].From != "j\xc3\xb6@from.test" || !slices.Equal(m[0].To, []string{"a@to.test"}) || m[0].TLS {
		t.Fatalf("messages %+v", m)
	}
	cmds := s.Commands()
	if len(cmds) != 2 || !strings.Contains(cmds[0], "BODY=8BITMIME") || !strings.Contains(cmds[0], "SMTPUTF8") || cmds[1] != "RCPT TO:<a@to.test>" {
		t.Fatalf("commands %q", cmds)
	}
	if s.Connections() != 1 || s.Attempts("a@to.test") != 1 {
		t.Fatalf("connections %d, attempts %d", s.Connections(), s.Attempts("a@to.test"))
	}
}

// TestScriptHooks: each stage answers as its hook says: another reply,
// late, or by closing the connection; the EHLO lines are sent as given.
func TestScriptHooks(t *testing.T) {
	var mu sync.Mutex
	var seen []Call
	s := StartScript(t, "127.0.0.1", 0, Script{
		Greeting: "220 custom.test ready",
		EHLO:     []string{"250-custom.test", "250-SIZE 1000", "250 X-THING arg"},
		Mail: func(c Call) Step {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, c)
			return Step{}
		},
		Rcpt: func(c Call) Step {
			if c.N == 1 {
				return Step{Reply: "451-4.3.0 first line\r\n451 4.3.0 Try again"}
			}
			return Step{Delay: 50 * time.Millisecond}
		},
		DataEnd: func(c Call) Step {
			if strings.Contains(string(c.Message.Data), "hang up") {
				return Step{Close: true}
			}
			return Step{Reply: "554 5.7.1 Refused"}
		},
	})
	c, err := smtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, arg := c.Extension("X-THING"); !ok || arg != "arg" {
		t.Errorf("X-THING %v %q", ok, arg)
	}
	if ok, _ := c.Extension("PIPELINING"); ok {
		t.Errorf("default extensions sent despite Script.EHLO")
	}
	err = send(c, "f@from.test", nil, "r@to.test", "x\r\n")
	if code(err) != 451 || !strings.Contains(err.Error(), "Try again") {
		t.Fatalf("first RCPT: %v, want 451", err)
	}
	c.Reset()
	if err := send(c, "f@from.test", &smtp.MailOptions{Size: 20}, "r@to.test", "refuse me\r\n"); code(err) != 554 {
		t.Fatalf("end of data: %v, want 554", err)
	}
	if err := send(c, "f@from.test", nil, "r@to.test", "hang up\r\n"); err == nil || code(err) != 0 {
		t.Fatalf("end of data closing: %v, want a connection error", err)
	}
	if len(s.Messages()) != 0 {
		t.Errorf("refused messages recorded: %+v", s.Messages())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 || seen[0].Path != "f@from.test" || seen[1].N != 2 || !slices.Equal(seen[1].Params, []string{"SIZE=20"}) {
		t.Errorf("MAIL calls %+v", seen)
	}
	if s.Attempts("r@to.test") != 3 {
		t.Errorf("attempts %d, want 3", s.Attempts("r@to.test"))
	}
}

// TestScriptSTARTTLS: STARTTLS is offered with Script.TLS (not again under
// TLS) and messages received under it are marked so; a greeting hook can
// hang up at once.
func TestScriptSTARTTLS(t *testing.T) {
	s := StartScript(t, "127.0.0.1", 0, Script{TLS: true})
	c, err := smtp.DialStartTLS(s.Addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Errorf("STARTTLS offered under TLS")
	}
	if err := send(c, "f@from.test", nil, "r@to.test", "secret\r\n"); err != nil {
		t.Fatal(err)
	}
	if m := s.Messages(); len(m) != 1 || !m[0].TLS {
		t.Fatalf("messages %+v, want one under TLS", m)
	}
	if cmds := s.Commands(); len(cmds) != 2 {
		t.Fatalf("commands under TLS %q", cmds)
	}

	closing := StartScript(t, "127.0.0.1", 0, Script{Greet: func(Call) Step { return Step{Close: true} }})
	c2, err := smtp.Dial(closing.Addr)
	if err == nil {
		err = c2.Hello("client.test") // go-smtp reads the greeting with the first command
		c2.Close()
	}
	if err == nil {
		t.Fatal("greeting hook closing: the conversation went on")
	}
}
