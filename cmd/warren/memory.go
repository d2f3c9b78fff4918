package main

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/rs/zerolog"
)

// returnMemory gives freed heap back to the operating system, e.g. after a
// backlog of messages has drained. The Go runtime's scavenger returns free
// heap slowly, and when the broker goes idle after a drain no collection runs
// at all, so the drained messages keep their memory. Every interval it looks
// at the heap: when a lot of it is free, or when it holds more than a quarter
// of threshold and no collection has run for idleAfter, it forces one and
// returns what is free.
// A forced collection that frees little (a large live backlog) doubles the
// wait before the next idle check, up to maxBackoff, so an idle broker with a
// big queue is not collected over and over; any other collection (the broker
// was busy again) resets the wait. It returns when stop is closed.
//
// It also bounds the heap's growth between collections (gcPercent): with Go's
// default GOGC=100 a heap holding a 300 MB backlog grows to 600 MB before the
// next collection, so a queued message would cost twice its size. Every
// interval it sets GOGC so that the heap may grow by at most threshold or a
// quarter of the live heap, whichever is more, and never by more than the
// default 100%; GOGC set in the environment is left alone.
func returnMemory(log zerolog.Logger, interval time.Duration, threshold uint64, stop <-chan struct{}) {
	const (
		idleAfter  = time.Second
		maxBackoff = time.Minute
	)
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/gc/heap/live:bytes"},
	}
	// An idle heap above idleFloor is collected (with backoff): memory a
	// library lets go of while the broker is idle (Badger releases a pooled
	// table builder every 2 s after a burst of writes) is garbage that no
	// collection would otherwise find, since nothing allocates.
	idleFloor := threshold / 4
	tuneGC := os.Getenv("GOGC") == ""
	percent := 100
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
		if p := gcPercent(samples[3].Value.Uint64(), threshold); tuneGC && p != percent {
			debug.SetGCPercent(p)
			percent = p
		}
		if cycles != lastCycles {
			// Something allocated: the heap the last forced collection found
			// live may be garbage by now (a backlog drained).
			lastCycles, lastGC, backoff = cycles, time.Now(), idleAfter
		}
		idle := objects+free > idleFloor && time.Since(lastGC) > backoff
		if free <= threshold && !idle {
			continue
		}
		start := time.Now()
		debug.FreeOSMemory()
		metrics.Read(samples)
		after := samples[1].Value.Uint64()
		lastCycles, lastGC = samples[2].Value.Uint64(), time.Now()
		if idle && objects-min(after, objects) < idleFloor {
			backoff = min(2*backoff, maxBackoff) // the heap is live: look again later
		} else {
			backoff = idleAfter
		}
		log.Debug().Uint64("heap_before", objects+free).Uint64("heap_live", after).
			Dur("took", time.Since(start)).Msg("returned free memory to the OS")
	}
}

// gcPercent is the GOGC that lets a heap with live bytes grow by headroom or a
// quarter of live before its next collection, whichever is more: 100 (Go's
// default) for heaps up to headroom, down to 25 for heaps of 4 × headroom and
// more. The collector's CPU cost grows as the percentage falls (each cycle
// marks the live heap), so it only falls where the memory it saves is large.
// It moves in steps of 5 so that a slowly changing heap does not retune it at
// every call.
func gcPercent(live, headroom uint64) int {
	if live <= headroom {
		return 100
	}
	p := int(headroom * 100 / live)
	return max(25, p-p%5)
}
