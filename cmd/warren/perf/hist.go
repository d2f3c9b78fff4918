package perf

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Latencies are kept in a log-linear histogram of nanoseconds (HdrHistogram's layout,
// simplified): values below 64 ns have a bucket each, and every power of two above is
// split into 32 buckets, so a bucket's width is at most 1/32 of its value (3%).
const (
	subBits    = 5
	subCount   = 1 << subBits // 32
	maxBits    = 40
	maxLatency = 1 << maxBits // ns (18 minutes); larger values are clamped
	nBuckets   = subCount*(maxBits-subBits-1) + 2*subCount
)

// bucketOf returns the bucket index of v nanoseconds.
func bucketOf(v uint64) int {
	if v >= maxLatency {
		v = maxLatency - 1
	}
	if v < 2*subCount {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1 // v>>e is in [32, 64)
	return subCount*e + int(v>>e)
}

// bucketValue returns the midpoint of bucket i, in nanoseconds.
func bucketValue(i int) uint64 {
	if i < 2*subCount {
		return uint64(i)
	}
	e := i/subCount - 1
	m := uint64(i%subCount + subCount)
	return m<<e + (uint64(1)<<e)/2
}

// hist is one consumer's latency histogram: the consumer adds, the reporter swaps the
// buckets out. All fields are atomics; no locks.
type hist struct {
	b [nBuckets]atomic.Uint64
}

// record adds one latency. Negative values (clocks of two machines) count as 0.
func (h *hist) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.b[bucketOf(uint64(d))].Add(1)
}

// drainInto moves h's counts into c, leaving h empty.
func (h *hist) drainInto(c *counts) {
	for i := range h.b {
		if h.b[i].Load() != 0 {
			c[i] += h.b[i].Swap(0)
		}
	}
}

// counts is a histogram owned by one goroutine (the reporter).
type counts [nBuckets]uint64

func (c *counts) add(o *counts) {
	for i, n := range o {
		c[i] += n
	}
}

func (c *counts) total() uint64 {
	var t uint64
	for _, n := range c {
		t += n
	}
	return t
}

// quantile returns the value below which a fraction q of the recorded latencies fall
// (the bucket midpoint), or 0 if nothing was recorded.
func (c *counts) quantile(q float64) time.Duration {
	t := c.total()
	if t == 0 {
		return 0
	}
	rank := uint64(q*float64(t) + 0.5)
	if rank < 1 {
		rank = 1
	}
	if rank > t {
		rank = t
	}
	var seen uint64
	for i, n := range c {
		seen += n
		if seen >= rank {
			return time.Duration(bucketValue(i))
		}
	}
	return 0
}

// max returns the midpoint of the highest non-empty bucket.
func (c *counts) max() time.Duration {
	for i := len(c) - 1; i >= 0; i-- {
		if c[i] != 0 {
			return time.Duration(bucketValue(i))
		}
	}
	return 0
}

// mean returns the mean of the bucket midpoints.
func (c *counts) mean() time.Duration {
	var sum, t float64
	for i, n := range c {
		if n != 0 {
			sum += float64(n) * float64(bucketValue(i))
			t += float64(n)
		}
	}
	if t == 0 {
		return 0
	}
	return time.Duration(sum / t)
}
