package main

import (
	"syscall"
	"time"
	"unsafe"
)

// On Linux TestStartupTime sleeps between tries with nanosleep(2) through RawSyscall:
// time.Sleep takes 1.08 ms for 200 µs, and syscall.Nanosleep keeps the runtime's
// monitor thread waking every 20 µs beside the broker being measured
// (cmd/bench/startup_linux.go).
func init() {
	startupPoll = func(d time.Duration) {
		ts := syscall.NsecToTimespec(d.Nanoseconds())
		for {
			_, _, errno := syscall.RawSyscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), uintptr(unsafe.Pointer(&ts)), 0)
			if errno != syscall.EINTR {
				return
			}
		}
	}
}
