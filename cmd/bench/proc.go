package main

import "github.com/warrenmq/warren/cmd/warren/perf"

// vmRSS returns a process's resident set size in bytes (VmRSS, proc(5)).
func vmRSS(pid int) (int64, error) {
	_, rss, err := perf.ProcUsage(pid)
	return rss, err
}
