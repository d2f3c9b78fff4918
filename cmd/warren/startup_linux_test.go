package main

import (
	"syscall"
	"time"
)

// On Linux TestStartupTime polls with nanosleep(2): 200 µs take about 270 µs where
// time.Sleep takes 1.08 ms (cmd/bench/startup_linux.go).
func init() {
	startupPoll = func(d time.Duration) {
		ts := syscall.NsecToTimespec(d.Nanoseconds())
		for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
		}
	}
}
