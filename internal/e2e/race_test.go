//go:build race

package e2e

// raceEnabled: the tests run under the race detector, whose instrumented
// neighbours (go test -race ./... runs packages side by side) load the
// machine so much that the child's memory measurement says nothing (see
// TestHostileHTTPTraffic's 40 MB send, measured without it by make test).
const raceEnabled = true
