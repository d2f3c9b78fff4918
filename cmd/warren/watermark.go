package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/warrenmq/warren/vhost"
)

// The memory alarm, as RabbitMQ's vm_memory_high_watermark
// (RW:docs/memory.md): when the broker's memory use passes the watermark,
// the "memory" resource alarm blocks publishing connections
// (connection.blocked) until use falls below it again. The watermark is a
// fraction of the machine's memory (RabbitMQ 3.x's default 0.4), or of the
// container's cgroup limit when one is set, or an absolute size.

// defaultWatermark is RabbitMQ 3.13's vm_memory_high_watermark.relative.
const defaultWatermark = "0.4"

// parseWatermark turns "0.4" (a fraction of total) or "2GiB" into bytes; 0
// disables the alarm.
func parseWatermark(s string, total uint64) (uint64, error) {
	if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
		if f < 0 || f > 1 {
			return 0, fmt.Errorf("a fraction must be between 0 and 1")
		}
		if total == 0 && f > 0 {
			return 0, fmt.Errorf("the machine's memory is unknown: give an absolute size")
		}
		return uint64(f * float64(total)), nil
	}
	n, err := parseSize(s)
	if err != nil {
		return 0, err
	}
	return uint64(n), nil
}

// totalMemory is the cgroup's memory limit if one is set, else the
// machine's memory (0 if neither can be read).
func totalMemory() uint64 {
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			return n
		}
	}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseUint(fields[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// memoryInUse is what the Go runtime holds from the OS and has not given back.
func memoryInUse(samples []metrics.Sample) uint64 {
	metrics.Read(samples)
	total, released := samples[0].Value.Uint64(), samples[1].Value.Uint64()
	return total - min(released, total)
}

// watchMemory sets and clears the broker's memory alarm every interval until
// stop is closed.
func watchMemory(b *vhost.Broker, limit uint64, interval time.Duration, stop <-chan struct{}) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	alarmed := false
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		alarmed = checkMemory(b, memoryInUse(samples), limit, alarmed)
	}
}

// checkMemory applies one reading and returns the new alarm state.
func checkMemory(b *vhost.Broker, used, limit uint64, alarmed bool) bool {
	over := used > limit
	if over != alarmed {
		b.SetAlarm("memory", over)
	}
	return over
}
