//go:build !race

package bounce

// raceEnabled: the tests run without the race detector (see race_test.go).
const raceEnabled = false
