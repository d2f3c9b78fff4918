package perf

import (
	"context"
	"fmt"
	"time"
)

// reporter prints a line per second and gathers the latency histogram. Its fields
// are owned by its goroutine (loop), then by Run once loop has returned.
type reporter struct {
	r        *run
	start    time.Time
	last     time.Time
	total    counts // every latency of the run
	interval counts // latencies since the last line
	pub      int64  // published at the last line
	conf     int64  // confirmed + nacked at the last line
	del      int64  // delivered at the last line
}

func newReporter(r *run, start time.Time) *reporter {
	return &reporter{r: r, start: start, last: start}
}

// loop prints a line a second until ctx is done.
func (rep *reporter) loop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			rep.line(now)
		case <-ctx.Done():
			return
		}
	}
}

// gather moves the consumers' latencies into interval.
func (rep *reporter) gather() {
	for _, k := range rep.r.consumers {
		k.lat.drainInto(&rep.interval)
	}
}

// line prints the rates and latencies since the previous line.
func (rep *reporter) line(now time.Time) {
	rep.gather()
	var pub, conf, del int64
	for _, p := range rep.r.producers {
		pub += p.published.Load()
		conf += p.settled()
	}
	del = rep.r.delivered()
	secs := now.Sub(rep.last).Seconds()
	if w := rep.r.cfg.Live; w != nil && secs > 0 {
		fmt.Fprintf(w, "%5.1fs  published %8.0f/s  confirmed %8.0f/s  delivered %8.0f/s",
			now.Sub(rep.start).Seconds(), float64(pub-rep.pub)/secs, float64(conf-rep.conf)/secs, float64(del-rep.del)/secs)
		if rep.interval.total() > 0 {
			fmt.Fprintf(w, "  latency p50 %.3f ms  p99 %.3f ms",
				ms(rep.interval.quantile(0.50)), ms(rep.interval.quantile(0.99)))
		}
		fmt.Fprintln(w)
	}
	rep.pub, rep.conf, rep.del, rep.last = pub, conf, del, now
	rep.total.add(&rep.interval)
	rep.interval = counts{}
}

// finish gathers the last latencies once the consumers have stopped, and prints the
// last part-second up to end, the end of the measurement, if it is not too short to
// mean anything.
func (rep *reporter) finish(end time.Time) {
	if end.Sub(rep.last) >= 100*time.Millisecond {
		rep.line(end)
		return
	}
	rep.gather()
	rep.total.add(&rep.interval)
	rep.interval = counts{}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
