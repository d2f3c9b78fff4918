package perf

import (
	"fmt"
	"io"
	"time"
)

// Summary is the outcome of a run. Rates divide a count by the time from the start
// to the last event of that kind (the last publish written, the last confirm, the
// last delivery), so a count-bounded run's idle tail does not dilute them.
type Summary struct {
	Producers  int     `json:"producers"`
	Consumers  int     `json:"consumers"`
	Queues     int     `json:"queues"`
	Size       int     `json:"size"`
	Persistent bool    `json:"persistent"`
	Confirm    int     `json:"confirm"`
	Prefetch   int     `json:"prefetch"`
	MultiAck   int     `json:"multi_ack"`
	NoAck      bool    `json:"no_ack"`
	Fanout     int     `json:"fanout"`
	Rate       float64 `json:"rate"`

	Elapsed   float64 `json:"elapsed_s"` // start of publishing to the end of the run
	Published int64   `json:"published"`
	Confirmed int64   `json:"confirmed"`
	Nacked    int64   `json:"nacked"`
	Returned  int64   `json:"returned"`
	Delivered int64   `json:"delivered"`
	Expected  int64   `json:"expected,omitempty"` // deliveries a count-bounded run waited for

	PublishRate float64 `json:"publish_rate"` // messages/s
	ConfirmRate float64 `json:"confirm_rate"`
	DeliverRate float64 `json:"deliver_rate"`

	Latency Latency `json:"latency"`

	// Broker figures (with BrokerPID): CPU time over the run and per message (per
	// delivery, or per publish when nothing was delivered), resident memory at the
	// start and at the end.
	BrokerCPU       float64 `json:"broker_cpu_s,omitempty"`
	BrokerCPUPerMsg float64 `json:"broker_cpu_us_per_msg,omitempty"`
	BrokerRSSStart  int64   `json:"broker_rss_start,omitempty"`
	BrokerRSS       int64   `json:"broker_rss,omitempty"`

	// The tool's own CPU time over the run and per message, the same way.
	ClientCPU       float64 `json:"client_cpu_s"`
	ClientCPUPerMsg float64 `json:"client_cpu_us_per_msg"`
}

// Latency is the publish-to-delivery time, from the send time in each body, in
// microseconds (histogram bucket midpoints, within 3%).
type Latency struct {
	Samples uint64  `json:"samples"`
	P50     float64 `json:"p50_us"`
	P99     float64 `json:"p99_us"`
	P999    float64 `json:"p999_us"`
	Max     float64 `json:"max_us"`
	Mean    float64 `json:"mean_us"`
}

func latencyOf(c *counts) Latency {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return Latency{
		Samples: c.total(),
		P50:     us(c.quantile(0.50)),
		P99:     us(c.quantile(0.99)),
		P999:    us(c.quantile(0.999)),
		Max:     us(c.max()),
		Mean:    us(c.mean()),
	}
}

// perMsg returns µs of cpu per message: per delivery, else per publish.
func (s *Summary) perMsg(cpu float64) float64 {
	n := s.Delivered
	if n == 0 {
		n = s.Published
	}
	if n == 0 {
		return 0
	}
	return cpu * 1e6 / float64(n)
}

// WriteText prints s for people.
func (s *Summary) WriteText(w io.Writer) {
	ack := fmt.Sprintf("ack every %d, prefetch %d", s.MultiAck, s.Prefetch)
	if s.NoAck {
		ack = "no-ack"
	}
	mode := "transient"
	if s.Persistent {
		mode = "persistent"
	}
	fmt.Fprintf(w, "summary: %d producers, %d consumers, %d queues, %d-byte %s messages, %s", s.Producers, s.Consumers, s.Queues, s.Size, mode, ack)
	if s.Confirm > 0 {
		fmt.Fprintf(w, ", confirm window %d", s.Confirm)
	}
	if s.Fanout > 0 {
		fmt.Fprintf(w, ", fanout to %d", s.Fanout)
	}
	if s.Rate > 0 {
		fmt.Fprintf(w, ", %g msg/s per producer", s.Rate)
	}
	fmt.Fprintf(w, "\n  elapsed    %.2f s\n", s.Elapsed)
	fmt.Fprintf(w, "  published  %d (%.0f msg/s)\n", s.Published, s.PublishRate)
	if s.Confirm > 0 {
		fmt.Fprintf(w, "  confirmed  %d (%.0f msg/s), nacked %d\n", s.Confirmed, s.ConfirmRate, s.Nacked)
	}
	if s.Returned > 0 {
		fmt.Fprintf(w, "  returned   %d\n", s.Returned)
	}
	fmt.Fprintf(w, "  delivered  %d (%.0f msg/s)", s.Delivered, s.DeliverRate)
	if s.Expected > 0 && s.Delivered < s.Expected {
		fmt.Fprintf(w, " of %d expected", s.Expected)
	}
	fmt.Fprintln(w)
	if l := s.Latency; l.Samples > 0 {
		fmt.Fprintf(w, "  latency    p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms, mean %.3f ms (%d samples)\n",
			l.P50/1e3, l.P99/1e3, l.P999/1e3, l.Max/1e3, l.Mean/1e3, l.Samples)
	}
	if s.BrokerRSS > 0 {
		fmt.Fprintf(w, "  broker     %.2f s CPU, %.2f µs/msg, RSS %.1f MiB (%.1f MiB at start)\n",
			s.BrokerCPU, s.BrokerCPUPerMsg, float64(s.BrokerRSS)/(1<<20), float64(s.BrokerRSSStart)/(1<<20))
	}
	if s.ClientCPU > 0 {
		fmt.Fprintf(w, "  perf       %.2f s CPU, %.2f µs/msg\n", s.ClientCPU, s.ClientCPUPerMsg)
	}
}
