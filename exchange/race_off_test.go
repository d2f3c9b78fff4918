//go:build !race

package exchange

// raceEnabled: the race detector allocates, so allocation guards skip.
const raceEnabled = false
