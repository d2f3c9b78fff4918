//go:build race

package wire

// raceEnabled skips allocation guards: the race detector allocates on its own.
const raceEnabled = true
