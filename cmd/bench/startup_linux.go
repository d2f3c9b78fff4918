package main

import (
	"syscall"
	"time"
)

// On Linux startup polls with nanosleep(2), which blocks the calling thread for the
// time asked plus the timer slack (50 µs): 200 µs take about 270 µs where time.Sleep
// takes 1.08 ms (startup.go, pollSleep).
func init() {
	pollSleep = func(d time.Duration) {
		ts := syscall.NsecToTimespec(d.Nanoseconds())
		for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
		}
	}
}
