package admission

import (
	"bufio"
	"net"
	"runtime/debug"
	"runtime/metrics"
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
	if zero := NewBudget(0); !unlimited.TryAcquire(1<<40) || !zero.TryAcquire(1<<40) {
		t.Fatal("nil and zero budgets are unlimited")
	} else {
		zero.Release(1 << 40)
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

// gcPercent reads the GC percent in effect (GOGC) without changing it.
func gcPercent() int64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// While a budget holds GCThreshold bytes or more of bodies, the GC percent
// is GCPercent; below it, the setting the process had is back: counted
// over budgets, never above an operator's lower setting, and right after
// any interleaving of concurrent crossings.
func TestBudgetLowersGCPercent(t *testing.T) {
	const big = GCThreshold
	for _, tc := range []struct {
		name     string
		operator int   // GOGC before
		steps    []int // +n acquires n on budget 0, -n releases it; 1000+ on budget 1
		want     []int64
	}{
		{"small bodies never", 100, []int{5000, 5000, -5000, -5000}, []int64{100, 100, 100, 100}},
		{"one large body", 100, []int{big, -big}, []int64{GCPercent, 100}},
		{"many small bodies add up", 100, []int{big / 2, big / 2, -big / 2, -big / 2}, []int64{100, GCPercent, 100, 100}},
		{"an operator's GOGC is restored", 300, []int{big + 1, -(big + 1)}, []int64{GCPercent, 300}},
		{"a lower GOGC is kept", GCPercent / 2, []int{big, -big}, []int64{GCPercent / 2, GCPercent / 2}},
		{"GOGC=off is kept", -1, []int{big, -big}, []int64{-1, -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer debug.SetGCPercent(debug.SetGCPercent(tc.operator))
			b := NewBudget(0)
			for i, n := range tc.steps {
				if n > 0 {
					b.TryAcquire(int64(n))
				} else {
					b.Release(int64(-n))
				}
				if got := gcPercent(); got != tc.want[i] && !(tc.want[i] < 0 && int64(int32(got)) < 0) {
					t.Fatalf("after step %d (%+d): GC percent %d, want %d", i, n, got, tc.want[i])
				}
			}
		})
	}

	t.Run("counted over budgets", func(t *testing.T) {
		defer debug.SetGCPercent(debug.SetGCPercent(100))
		a, b := NewBudget(0), NewBudget(0)
		a.TryAcquire(big)
		b.TryAcquire(big)
		a.Release(big)
		if got := gcPercent(); got != GCPercent {
			t.Fatalf("one budget still over: GC percent %d", got)
		}
		b.Release(big)
		if got := gcPercent(); got != 100 {
			t.Fatalf("both below: GC percent %d", got)
		}
	})

	t.Run("concurrent crossings", func(t *testing.T) {
		defer debug.SetGCPercent(debug.SetGCPercent(100))
		budgets := []*Budget{NewBudget(0), NewBudget(3 * big)}
		var wg sync.WaitGroup
		for i := range 8 {
			b := budgets[i%2]
			wg.Go(func() {
				for range 2000 {
					if b.TryAcquire(big / 2) {
						b.Release(big / 2)
					}
				}
			})
		}
		wg.Wait()
		if got := gcPercent(); got != 100 {
			t.Fatalf("after concurrent crossings: GC percent %d, want 100", got)
		}
		for _, b := range budgets {
			b.TryAcquire(big)
		}
		if got := gcPercent(); got != GCPercent {
			t.Fatalf("over again: GC percent %d", got)
		}
		for _, b := range budgets {
			b.Release(big)
		}
		if got := gcPercent(); got != 100 {
			t.Fatalf("GC percent %d, want 100", got)
		}
	})
}

// Finding C of the hardening review: one holder may hold at most its share
// (a quarter of the budget, at least HolderFloor), so bodies of another
// holder still fit while it holds all it may; bodies held for no one
// (TryAcquire) are bounded by the budget alone.
func TestBudgetHolderShare(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name      string
		max, want int64
	}{
		{"quarter", 256 * mib, 64 * mib},
		{"floor", 200 * mib, HolderFloor},
		{"small budget", 16 * mib, 16 * mib},
		{"unlimited", 0, 0},
	} {
		if got := NewBudget(tc.max).HolderMax(); got != tc.want {
			t.Errorf("%s: HolderMax of %d = %d, want %d", tc.name, tc.max, got, tc.want)
		}
	}

	b := NewBudget(256 * mib)
	taken := 0
	for b.TryAcquireFor("A", 59*mib) {
		taken++
	}
	if taken != 1 || b.HeldBy("A") != 59*mib {
		t.Fatalf("holder A took %d bodies of 59 MiB (%d bytes), want 1", taken, b.HeldBy("A"))
	}
	if !b.TryAcquireFor("A", 5*mib) || b.TryAcquireFor("A", 1) {
		t.Fatalf("holder A at its share: held %d, share %d", b.HeldBy("A"), b.HolderMax())
	}
	for i := range 3 {
		if !b.TryAcquireFor("B", 20*mib) {
			t.Fatalf("holder B's body %d refused while A holds its share (in use %d)", i+1, b.InUse())
		}
	}
	b.ReleaseFor("A", 64*mib)
	if b.HeldBy("A") != 0 || !b.TryAcquireFor("A", 59*mib) {
		t.Fatalf("holder A after release: held %d", b.HeldBy("A"))
	}
	// No one's bytes count against the budget only.
	if !b.TryAcquire(130*mib) || b.TryAcquireFor("C", 8*mib) {
		t.Fatalf("budget full: in use %d of %d", b.InUse(), b.Max())
	}
	b.Release(130 * mib)
	b.ReleaseFor("A", 59*mib)
	b.ReleaseFor("B", 60*mib)
	if b.InUse() != 0 || b.HeldBy("B") != 0 {
		t.Fatalf("after releasing all: in use %d, B holds %d", b.InUse(), b.HeldBy("B"))
	}

	// Concurrent takers of one holder never exceed its share together.
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak := int64(0)
	for range 16 {
		wg.Go(func() {
			for range 200 {
				if b.TryAcquireFor("A", 7*mib) {
					mu.Lock()
					peak = max(peak, b.HeldBy("A"))
					mu.Unlock()
					b.ReleaseFor("A", 7*mib)
				}
			}
		})
	}
	wg.Wait()
	if peak > b.HolderMax() || b.InUse() != 0 {
		t.Fatalf("concurrent holder peak %d > share %d, or in use %d after", peak, b.HolderMax(), b.InUse())
	}
}
