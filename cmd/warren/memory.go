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
// of threshold and no collection has run for a while (idleCollector), it
// forces one and returns what is free. It returns when stop is closed.
//
// It also bounds the heap's growth between collections (gcPercent): with Go's
// default GOGC=100 a heap holding a 300 MB backlog grows to 600 MB before the
// next collection, so a queued message would cost twice its size. Every
// interval it sets GOGC so that the heap may grow by at most threshold or a
// quarter of the live heap, whichever is more, and never by more than the
// default 100%; GOGC set in the environment is left alone.
func returnMemory(log zerolog.Logger, interval time.Duration, threshold uint64, stop <-chan struct{}) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/gc/heap/live:bytes"},
	}
	// An idle heap above threshold/4 is collected (with backoff): memory a
	// library lets go of while the broker is idle (Badger releases a pooled
	// table builder every 2 s after a burst of writes) is garbage that no
	// collection would otherwise find, since nothing allocates.
	ic := newIdleCollector(time.Now(), threshold/4)
	tuneGC := os.Getenv("GOGC") == ""
	percent := 100
	t := time.NewTicker(interval)
	defer t.Stop()
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
		live := samples[3].Value.Uint64()
		if p := gcPercent(live, threshold); tuneGC && p != percent {
			debug.SetGCPercent(p)
			percent = p
		}
		idle := ic.due(time.Now(), cycles, live, objects+free)
		if free <= threshold && !idle {
			continue
		}
		start := time.Now()
		debug.FreeOSMemory()
		metrics.Read(samples)
		after := samples[1].Value.Uint64()
		ic.forced(time.Now(), samples[2].Value.Uint64(), objects, after, idle)
		log.Debug().Uint64("heap_before", objects+free).Uint64("heap_live", after).
			Dur("took", time.Since(start)).Msg("returned free memory to the OS")
	}
}

// idleCollector decides when returnMemory collects an idle heap: once no collection
// ran for backoff and the heap holds more than floor. A forced collection that frees
// less than floor (a live backlog) doubles backoff, up to maxBackoff, so an idle broker
// with a big queue is not collected over and over; it starts over at idleAfter when a
// collection the runtime ran finds the live heap floor smaller than that forced one
// left it (the backlog drained), or when a forced collection frees much.
type idleCollector struct {
	idleAfter, maxBackoff time.Duration
	floor                 uint64
	backoff               time.Duration
	lastGC                time.Time
	lastCycles            uint64
	liveLeft              uint64 // objects the last forced collection found live, 0 after one that freed much
}

func newIdleCollector(now time.Time, floor uint64) *idleCollector {
	return &idleCollector{idleAfter: time.Second, maxBackoff: time.Minute, floor: floor,
		backoff: time.Second, lastGC: now}
}

// due reports whether to force a collection at now, given the runtime's collection
// count, the live heap its last collection found, and the heap's size.
func (ic *idleCollector) due(now time.Time, cycles, live, heap uint64) bool {
	if cycles != ic.lastCycles {
		ic.lastCycles, ic.lastGC = cycles, now
		if ic.liveLeft > 0 && live+ic.floor <= ic.liveLeft {
			ic.backoff, ic.liveLeft = ic.idleAfter, 0
		}
	}
	return heap > ic.floor && now.Sub(ic.lastGC) > ic.backoff
}

// forced records a forced collection at now that left after of before bytes of
// objects; idle: due had asked for it.
func (ic *idleCollector) forced(now time.Time, cycles, before, after uint64, idle bool) {
	ic.lastCycles, ic.lastGC = cycles, now
	if idle && before-min(after, before) < ic.floor {
		ic.backoff, ic.liveLeft = min(2*ic.backoff, ic.maxBackoff), max(after, 1) // live: look again later
	} else {
		ic.backoff, ic.liveLeft = ic.idleAfter, 0
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
