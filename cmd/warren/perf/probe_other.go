//go:build !linux

package perf

import "time"

// Off Linux a try is ServesAMQP and a wait time.Sleep (probe_linux.go).
func prober(addr string) func() bool {
	return func() bool { return ServesAMQP(addr) }
}

func nap(d time.Duration) { time.Sleep(d) }
