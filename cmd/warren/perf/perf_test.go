package perf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/urfave/cli/v2"

	"github.com/warrenmq/warren/conformance/warrentest"
)

// testConfig is a short run against url with a fixed queue prefix, so that the test
// can look at the queues afterwards.
func testConfig(t *testing.T, url string) Config {
	cfg := DefaultConfig()
	cfg.URL = url
	cfg.QueuePrefix = "perf-" + strings.ReplaceAll(t.Name(), "/", "-")
	cfg.Duration = 0
	cfg.DrainTimeout = 10 * time.Second
	return cfg
}

// mustRun is Run with a deadline that fails the test instead of hanging it.
func mustRun(t *testing.T, cfg Config) *Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("Run did not stop by itself")
	}
	return s
}

// channel opens an amqp091-go channel on url, closed by t.Cleanup.
func channel(t *testing.T, url string) *amqp091.Channel {
	t.Helper()
	conn, err := amqp091.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// queueDepth returns the messages ready in queue, or -1 if it does not exist.
func queueDepth(t *testing.T, url, queue string) int {
	t.Helper()
	q, err := channel(t, url).QueueDeclarePassive(queue, false, false, false, false, nil)
	if e := (*amqp091.Error)(nil); errors.As(err, &e) && e.Code == amqp091.NotFound {
		return -1
	} else if err != nil {
		t.Fatal(err)
	}
	return q.Messages
}

// A count-bounded run publishes exactly its count, every message is delivered and
// (with confirms) confirmed, every delivery has a latency, and the queues are gone.
func TestCountBounded(t *testing.T) {
	url := warrentest.Start(t)
	tests := []struct {
		name      string
		tune      func(*Config)
		published int64
		delivered int64
	}{
		{"ack each", func(c *Config) {}, 5000, 5000},
		{"confirm window 100", func(c *Config) { c.Confirm = 100; c.Persistent = true }, 5000, 5000},
		{"no-ack", func(c *Config) { c.NoAck = true }, 5000, 5000},
		{"multi-ack 7 of prefetch 50", func(c *Config) { c.MultiAck = 7; c.Prefetch = 50 }, 5003, 5003},
		{"3 producers 2 consumers 2 queues", func(c *Config) { c.Producers, c.Consumers, c.Queues = 3, 2, 2 }, 5000, 5000},
		{"fanout 3", func(c *Config) { c.Fanout, c.Consumers = 3, 3 }, 2000, 6000},
		{"fanout 3, 2 consumers", func(c *Config) { c.Fanout, c.Consumers = 3, 2 }, 2000, 4000},
		{"multi-frame bodies", func(c *Config) { c.Size = 300_000; c.Confirm = 10 }, 50, 50},
		{"empty bodies", func(c *Config) { c.Size = 0 }, 1000, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, url)
			cfg.Count = tc.published
			tc.tune(&cfg)
			s := mustRun(t, cfg)
			if s.Published != tc.published || s.Delivered != tc.delivered || s.Expected != tc.delivered {
				t.Errorf("published %d, delivered %d (expected %d); want %d and %d", s.Published, s.Delivered, s.Expected, tc.published, tc.delivered)
			}
			if cfg.Confirm > 0 && (s.Confirmed != s.Published || s.Nacked != 0) {
				t.Errorf("confirmed %d, nacked %d of %d", s.Confirmed, s.Nacked, s.Published)
			}
			if cfg.Confirm == 0 && s.Confirmed != 0 {
				t.Errorf("confirmed %d without confirms", s.Confirmed)
			}
			wantSamples := uint64(s.Delivered)
			if cfg.Size < 8 {
				wantSamples = 0
			}
			if s.Latency.Samples != wantSamples {
				t.Errorf("%d latency samples for %d deliveries", s.Latency.Samples, s.Delivered)
			}
			if wantSamples > 0 && !(0 < s.Latency.P50 && s.Latency.P50 <= s.Latency.P99 && s.Latency.P99 <= s.Latency.P999 && s.Latency.P999 <= s.Latency.Max) {
				t.Errorf("latency percentiles out of order: %+v", s.Latency)
			}
			if s.PublishRate <= 0 || s.DeliverRate <= 0 {
				t.Errorf("rates %.0f / %.0f", s.PublishRate, s.DeliverRate)
			}
			for i := range cfg.Queues {
				if n := queueDepth(t, url, cfg.queueName(i)); n != -1 {
					t.Errorf("queue %s left behind with %d messages", cfg.queueName(i), n)
				}
			}
		})
	}
}

// A duration-bounded run stops on time with messages flowing both ways, and ends
// with every delivery acked (a kept queue holds only what was never delivered).
func TestDurationBounded(t *testing.T) {
	url := warrentest.Start(t)
	cfg := testConfig(t, url)
	cfg.Duration = time.Second
	cfg.MultiAck, cfg.Prefetch = 10, 100
	cfg.Keep = true
	var live bytes.Buffer
	cfg.Live = &live
	begin := time.Now()
	s := mustRun(t, cfg)
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("a 1 s run took %v", took)
	}
	if s.Elapsed < 0.9 || s.Elapsed > 2 { // the measurement ends at the deadline, before teardown
		t.Errorf("elapsed %.2f s for a 1 s run", s.Elapsed)
	}
	if s.Published == 0 || s.Delivered == 0 || s.Delivered > s.Published {
		t.Errorf("published %d, delivered %d", s.Published, s.Delivered)
	}
	if !strings.Contains(live.String(), "delivered") {
		t.Errorf("no live line in %q", live.String())
	}
	// Producers close politely, so the broker has every published message; the few
	// deliveries in flight to the consumer when it closed come back shortly after.
	want := int(s.Published - s.Delivered)
	left := queueDepth(t, url, cfg.queueName(0))
	for deadline := time.Now().Add(2 * time.Second); left != want && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		left = queueDepth(t, url, cfg.queueName(0))
	}
	if left != want {
		t.Errorf("queue holds %d messages; published %d - delivered %d = %d", left, s.Published, s.Delivered, want)
	}
	if _, err := channel(t, url).QueueDelete(cfg.queueName(0), false, false, false); err != nil {
		t.Fatal(err)
	}
}

// A duration-bounded run with confirms ends cleanly though the window is full when
// time is up.
func TestDurationWithConfirms(t *testing.T) {
	url := warrentest.Start(t)
	cfg := testConfig(t, url)
	cfg.Duration, cfg.Confirm, cfg.Size = 500*time.Millisecond, 10, 1024
	s := mustRun(t, cfg)
	if s.Confirmed == 0 || s.Confirmed > s.Published || s.Published-s.Confirmed > 10 {
		t.Errorf("published %d, confirmed %d with a window of 10", s.Published, s.Confirmed)
	}
}

// A fixed rate is kept: neither bursts ahead nor falls behind.
func TestRate(t *testing.T) {
	url := warrentest.Start(t)
	cfg := testConfig(t, url)
	cfg.Rate = 500
	cfg.Duration = time.Second
	s := mustRun(t, cfg)
	if s.Published < 400 || s.Published > 600 {
		t.Errorf("published %d at 500 msg/s for 1 s", s.Published)
	}
	if s.Latency.Samples == 0 || s.Latency.P99 > 100_000 {
		t.Errorf("latency at 500 msg/s: %+v", s.Latency)
	}
}

// Publishing into a kept queue without consumers, then draining it without
// producers, moves every message once (scenario 6 of the benchmark).
func TestPublishThenDrain(t *testing.T) {
	url := warrentest.Start(t)
	cfg := testConfig(t, url)
	cfg.Consumers, cfg.Count, cfg.Confirm, cfg.Keep, cfg.Durable = 0, 3000, 500, true, true
	s := mustRun(t, cfg)
	if s.Published != 3000 || s.Confirmed != 3000 || s.Delivered != 0 {
		t.Fatalf("publish: %+v", s)
	}
	if n := queueDepth(t, url, cfg.queueName(0)); n != 3000 {
		t.Fatalf("queue holds %d, want 3000", n)
	}
	cfg = testConfig(t, url)
	cfg.Producers, cfg.Count, cfg.Durable = 0, 3000, true
	cfg.BrokerPID = os.Getpid() // the broker runs in this process
	s = mustRun(t, cfg)
	if s.Delivered != 3000 || s.Published != 0 {
		t.Fatalf("drain: published %d, delivered %d", s.Published, s.Delivered)
	}
	if s.BrokerRSS <= 0 || s.BrokerCPU < 0 {
		t.Errorf("broker figures from /proc: RSS %d, CPU %.3f s", s.BrokerRSS, s.BrokerCPU)
	}
	if n := queueDepth(t, url, cfg.queueName(0)); n != -1 {
		t.Errorf("queue left behind with %d messages", n)
	}
}

// A broker that cancels the consumer (its queue deleted) fails the run at once.
func TestBrokerCancelFailsRun(t *testing.T) {
	url := warrentest.Start(t)
	cfg := testConfig(t, url)
	cfg.Duration = 10 * time.Second
	cfg.OnReady = func() {
		if _, err := channel(t, url).QueueDelete(cfg.queueName(0), false, false, false); err != nil {
			t.Error(err)
		}
	}
	begin := time.Now()
	_, err := Run(context.Background(), cfg)
	if !errors.Is(err, errCancelled) {
		t.Errorf("Run: %v, want %v", err, errCancelled)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("the failed run went on for %v", took)
	}
}

// Bad configurations are refused before anything is declared.
func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name string
		tune func(*Config)
		want string
	}{
		{"unbounded", func(c *Config) { c.Duration, c.Count = 0, 0 }, "bounded"},
		{"nobody", func(c *Config) { c.Producers, c.Consumers = 0, 0 }, "nothing to do"},
		{"multi-ack over prefetch", func(c *Config) { c.MultiAck, c.Prefetch = 200, 100 }, "stall"},
		{"prefetch too large", func(c *Config) { c.Prefetch = 70000 }, "prefetch"},
		{"negative rate", func(c *Config) { c.Rate = -1 }, "rate"},
		{"negative size", func(c *Config) { c.Size = -1 }, "size"},
		{"amqps", func(c *Config) { c.URL = "amqps://h/" }, "scheme"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.URL = "amqp://127.0.0.1:1/" // never dialled
			tc.tune(&cfg)
			_, err := Run(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run: %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want brokerURL
	}{
		{"amqp://127.0.0.1:5690/", brokerURL{"127.0.0.1:5690", "guest", "guest", "/"}},
		{"amqp://u:p@h", brokerURL{"h:5672", "u", "p", "/"}},
		{"amqp://u:p%40ss@h:1/%2f", brokerURL{"h:1", "u", "p@ss", "/"}},
		{"amqp://h/staging", brokerURL{"h:5672", "guest", "guest", "staging"}},
		{"amqp://[::1]:5673/", brokerURL{"[::1]:5673", "guest", "guest", "/"}},
	}
	for _, tc := range tests {
		got, err := parseURL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseQueueArgs(t *testing.T) {
	got, err := parseQueueArgs([]string{"x-queue-type=quorum", "x-max-length=10", "x-single-active-consumer=true"})
	if err != nil {
		t.Fatal(err)
	}
	if got["x-queue-type"] != "quorum" || got["x-max-length"] != int64(10) || got["x-single-active-consumer"] != true {
		t.Errorf("got %#v", got)
	}
	if _, err := parseQueueArgs([]string{"novalue"}); err == nil {
		t.Error("accepted an argument without '='")
	}
}

// The command wires its flags into a run and prints the summary as JSON.
func TestCommandJSON(t *testing.T) {
	url := warrentest.Start(t)
	var out, errOut bytes.Buffer
	app := &cli.App{Commands: []*cli.Command{Command()}, Writer: &out, ErrWriter: &errOut}
	err := app.Run([]string{"warren", "perf", "--url", url, "--count", "2000", "--producers", "2",
		"--consumers", "2", "--confirm", "50", "--no-ack", "--size", "64", "--json"})
	if err != nil {
		t.Fatal(err)
	}
	var s Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out.String())
	}
	if s.Published != 2000 || s.Confirmed != 2000 || s.Delivered != 2000 || !s.NoAck || s.Size != 64 || s.Producers != 2 {
		t.Errorf("summary %+v", s)
	}
}

func TestConfirmTracker(t *testing.T) {
	type ack struct {
		tag      uint64
		multiple bool
		want     int64
	}
	tests := []struct {
		name string
		acks []ack
	}{
		{"in order", []ack{{1, false, 1}, {2, false, 1}, {3, false, 1}}},
		{"multiple", []ack{{5, true, 5}, {9, true, 4}, {9, true, 0}}},
		{"single ahead then multiple", []ack{{3, false, 1}, {5, false, 1}, {4, true, 3}, {6, true, 1}}},
		{"gap filled", []ack{{2, false, 1}, {3, false, 1}, {1, false, 1}, {3, true, 0}, {4, false, 1}}},
		{"duplicate", []ack{{2, false, 1}, {2, false, 0}, {1, true, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tr confirmTracker
			for i, a := range tc.acks {
				if got := tr.settle(a.tag, a.multiple); got != a.want {
					t.Fatalf("ack %d (%d, multiple %v) settled %d, want %d", i, a.tag, a.multiple, got, a.want)
				}
			}
		})
	}
}

func TestHistogram(t *testing.T) {
	for _, v := range []uint64{0, 1, 63, 64, 65, 1000, 123_456, 1e9, maxLatency - 1} {
		i := bucketOf(v)
		if i < 0 || i >= nBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of [0, %d)", v, i, nBuckets)
		}
		got := bucketValue(i)
		if diff := float64(got) - float64(v); diff < -float64(v)/32-1 || diff > float64(v)/32+1 {
			t.Errorf("value %d lands in bucket %d worth %d: more than 1/32 off", v, i, got)
		}
	}
	if bucketOf(1<<50) != nBuckets-1 {
		t.Errorf("a value over the range is not clamped to the last bucket")
	}
	var h hist
	for v := 1; v <= 1000; v++ {
		h.record(time.Duration(v) * time.Microsecond)
	}
	var c counts
	h.drainInto(&c)
	if c.total() != 1000 {
		t.Fatalf("total %d", c.total())
	}
	for _, q := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {0.999, 999 * time.Microsecond}} {
		got := c.quantile(q.q)
		if d := got - q.want; d < -q.want/32 || d > q.want/32 {
			t.Errorf("quantile(%g) = %v, want %v within 3%%", q.q, got, q.want)
		}
	}
	var empty counts
	h.drainInto(&empty)
	if empty.total() != 0 {
		t.Errorf("drainInto left %d in the histogram", empty.total())
	}
}
