package admission

import (
	"bufio"
	"net"
	"sync"
	"testing"
	"time"
)

// serve accepts on l and holds every accepted connection open until the
// test closes it through the returned channel's values.
func serve(t *testing.T, l net.Listener) <-chan net.Conn {
	t.Helper()
	accepted := make(chan net.Conn, 100)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	return accepted
}

func dial(t *testing.T, addr string, local string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readReply returns what the server wrote before closing, or "" after 2 s.
func readReply(c net.Conn) string {
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return line
}

func TestListenerLimits(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Listen(raw, Limits{MaxConns: 3, MaxConnsPerIP: 2}, func(c net.Conn, reason string) {
		c.Write([]byte("421 " + reason + "\r\n"))
	})
	defer l.Close()
	accepted := serve(t, l)
	addr := raw.Addr().String()

	// Two from 127.0.0.1 are taken; the third from it is refused per IP.
	dial(t, addr, "127.0.0.1")
	dial(t, addr, "127.0.0.1")
	a1, a2 := <-accepted, <-accepted
	if got := readReply(dial(t, addr, "127.0.0.1")); got != "421 "+ReasonPerIP+"\r\n" {
		t.Fatalf("third connection from one IP: got %q", got)
	}
	// Another address still gets in, up to the total.
	dial(t, addr, "127.0.0.3")
	<-accepted
	if got := readReply(dial(t, addr, "127.0.0.4")); got != "421 "+ReasonTotal+"\r\n" {
		t.Fatalf("connection over the total: got %q", got)
	}
	if l.Open() != 3 || l.Refused() != 2 {
		t.Fatalf("open %d refused %d, want 3 and 2", l.Open(), l.Refused())
	}
	// Closing frees the slot (twice is harmless).
	a1.Close()
	a1.Close()
	a2.Close()
	if l.Open() != 1 {
		t.Fatalf("open after close: %d", l.Open())
	}
	c := dial(t, addr, "127.0.0.1")
	select {
	case a := <-accepted:
		a.Write([]byte("220 hello\r\n"))
	case <-time.After(2 * time.Second):
		t.Fatal("a freed slot was not reused")
	}
	if got := readReply(c); got != "220 hello\r\n" {
		t.Fatalf("got %q", got)
	}
}

func TestBudget(t *testing.T) {
	b := NewBudget(100)
	if !b.TryAcquire(60) || b.TryAcquire(41) || !b.TryAcquire(40) {
		t.Fatal("budget of 100: 60 then 41 (refused) then 40")
	}
	if b.InUse() != 100 {
		t.Fatalf("in use %d", b.InUse())
	}
	b.Release(60)
	if !b.TryAcquire(60) || b.TryAcquire(1) {
		t.Fatal("released bytes are available again, and no more")
	}
	if NewBudget(10).TryAcquire(11) {
		t.Fatal("a body larger than the whole budget is refused")
	}
	var unlimited *Budget
	if !unlimited.TryAcquire(1<<40) || !NewBudget(0).TryAcquire(1<<40) {
		t.Fatal("nil and zero budgets are unlimited")
	}

	// Concurrent takers never exceed the budget.
	b = NewBudget(1000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak := int64(0)
	for range 50 {
		wg.Go(func() {
			for range 200 {
				if b.TryAcquire(300) {
					mu.Lock()
					peak = max(peak, b.InUse())
					mu.Unlock()
					b.Release(300)
				}
			}
		})
	}
	wg.Wait()
	if peak > 1000 || b.InUse() != 0 {
		t.Fatalf("peak %d (max 1000), in use after %d", peak, b.InUse())
	}
}
