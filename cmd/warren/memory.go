package main

import (
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/rs/zerolog"
)

// returnMemory gives freed heap back to the operating system, e.g. after a
// backlog of messages has drained. The Go runtime's scavenger returns free
// heap slowly, and when the broker goes idle after a drain no collection runs
// at all, so the drained messages keep their memory. Every interval it looks
// at the heap: when a lot of it is free, or when it is large and no
// collection has run for idleAfter, it forces one and returns what is free.
// A forced collection that frees little (a large live backlog) doubles the
// wait before the next idle check, up to maxBackoff, so an idle broker with a
// big queue is not collected over and over. It returns when stop is closed.
func returnMemory(log zerolog.Logger, interval time.Duration, threshold uint64, stop <-chan struct{}) {
	const (
		idleAfter  = time.Second
		maxBackoff = time.Minute
	)
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastCycles uint64
	lastGC := time.Now()
	backoff := idleAfter
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		metrics.Read(samples)
		for _, s := range samples {
			if s.Value.Kind() != metrics.KindUint64 {
				return // not supported by this runtime
			}
		}
		free, objects, cycles := samples[0].Value.Uint64(), samples[1].Value.Uint64(), samples[2].Value.Uint64()
		if cycles != lastCycles {
			lastCycles, lastGC = cycles, time.Now()
		}
		idle := objects+free > 2*threshold && time.Since(lastGC) > backoff
		if free <= threshold && !idle {
			continue
		}
		start := time.Now()
		debug.FreeOSMemory()
		metrics.Read(samples)
		after := samples[1].Value.Uint64()
		lastCycles, lastGC = samples[2].Value.Uint64(), time.Now()
		if idle && objects-min(after, objects) < threshold {
			backoff = min(2*backoff, maxBackoff) // the heap is live: look again later
		} else {
			backoff = idleAfter
		}
		log.Debug().Uint64("heap_before", objects+free).Uint64("heap_live", after).
			Dur("took", time.Since(start)).Msg("returned free memory to the OS")
	}
}
