//go:build race

package transfer

// raceEnabled scales the large-sheet test down under the race detector,
// which slows the store several times.
const raceEnabled = true
