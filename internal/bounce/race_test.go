//go:build race

package bounce

// raceEnabled: the tests run under the race detector, which makes parsing
// multi-megabyte reports a hundred times slower and finds nothing there:
// Parse and the rules share no state between goroutines.
const raceEnabled = true
