//go:build race

package store

// raceEnabled scales heavy tests down under the race detector, which slows
// Badger's write path about tenfold.
const raceEnabled = true
