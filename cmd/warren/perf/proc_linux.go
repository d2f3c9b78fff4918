package perf

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on every Linux
// architecture Go supports (the kernel's ABI, independent of CONFIG_HZ).
const clockTick = 10 * time.Millisecond

// ProcUsage reads a process's CPU time (user + system, all threads) and resident
// memory (VmRSS) from /proc.
func ProcUsage(pid int) (cpu time.Duration, rss int64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// proc(5): the command name is in parentheses and may hold spaces; fields after
	// it start with state (field 3); utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("perf: /proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("perf: /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("perf: /proc/%d/stat: bad utime or stime", pid)
	}
	rss, err = ResidentMemory(pid)
	return time.Duration(utime+stime) * clockTick, rss, err
}

// ResidentMemory returns a process's resident set size in bytes (VmRSS, proc(5)).
func ResidentMemory(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(status) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("perf: /proc/%d/status: bad VmRSS", pid)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("perf: /proc/%d/status: no VmRSS (a kernel thread or a zombie)", pid)
}

// selfCPU is the tool's own CPU time (user + system).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
