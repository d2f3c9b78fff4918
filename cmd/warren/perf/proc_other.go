//go:build !linux

package perf

import (
	"errors"
	"time"
)

// ProcUsage needs Linux's /proc.
func ProcUsage(pid int) (cpu time.Duration, rss int64, err error) {
	return 0, 0, errors.New("perf: --broker-pid needs Linux's /proc")
}

// ResidentMemory needs Linux's /proc.
func ResidentMemory(pid int) (int64, error) {
	return 0, errors.New("perf: resident memory needs Linux's /proc")
}

// selfCPU is not measured off Linux.
func selfCPU() time.Duration { return 0 }
