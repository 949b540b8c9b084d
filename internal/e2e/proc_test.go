package e2e

import (
	"bytes"
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// killable is a `petrel serve` child that a crash test SIGKILLs and starts
// again with the same arguments.
type killable struct {
	t    *testing.T
	bin  string
	args []string // serve's arguments; --http must be addr
	addr string   // the API's address
	proc *exec.Cmd
	log  bytes.Buffer // the current run's stderr
}

// startKillable runs petrelBinary's `petrel args…` and waits until its API
// port accepts connections; the child is killed when the test ends.
func startKillable(t *testing.T, addr string, args []string) *killable {
	t.Helper()
	k := &killable{t: t, bin: petrelBinary(t), args: args, addr: addr}
	k.start()
	t.Cleanup(func() { k.proc.Process.Kill(); k.proc.Wait() })
	return k
}

// start runs the child again (after kill) and waits for its API port.
func (k *killable) start() {
	k.t.Helper()
	k.proc = exec.Command(k.bin, k.args...)
	k.log.Reset()
	k.proc.Stderr = &k.log
	if err := k.proc.Start(); err != nil {
		k.t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", k.addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("server did not start:\n%s", k.log.String())
		}
	}
}

// kill SIGKILLs the child and reaps it.
func (k *killable) kill() {
	k.proc.Process.Signal(syscall.SIGKILL)
	k.proc.Wait()
}

// stop is a graceful stop: SIGTERM must drain and exit 0.
func (k *killable) stop() {
	k.t.Helper()
	k.proc.Process.Signal(syscall.SIGTERM)
	if err := k.proc.Wait(); err != nil {
		k.t.Fatalf("after SIGTERM: %v\n%s", err, k.log.String())
	}
}
