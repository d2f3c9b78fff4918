package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/urfave/cli/v2"

	"github.com/warrenmq/warren/cmd/warren/perf"
)

// result is one scenario run against one broker: one line of the results file.
type result struct {
	Scenario int                `json:"scenario"`
	Broker   string             `json:"broker"`
	Round    int                `json:"round"`
	Metrics  map[string]float64 `json:"metrics"`
}

// env is what a scenario runs against.
type env struct {
	url      string
	pid      int           // the broker's process (its beam.smp for RabbitMQ)
	duration time.Duration // each rate scenario's measurement
	queued   int64         // scenario 6's queue depth
	conns    int           // scenario 7's connections
	settle   time.Duration // pause before reading memory that should have settled
	// settleLong is scenario 6's second look at the memory kept after the drain:
	// warren's store (Badger) finishes compacting the acks and lets go of its table
	// builders' buffers some seconds later. 0: no second look.
	settleLong time.Duration
}

// metric is one figure of a scenario, as the report shows it.
type metric struct {
	key    string
	label  string
	higher bool   // a higher value is better
	target string // issue 6's target for warren
}

// scenario is one of issue 6's scenarios.
type scenario struct {
	id      int
	name    string
	metrics []metric
	run     func(ctx context.Context, e env) (map[string]float64, error) // nil: bench.sh measures it (startup)
}

// cpuMetric is the broker's CPU time per message, beside every rate.
func cpuMetric(target string) metric {
	return metric{"cpu_us", "broker CPU µs/msg", false, target}
}

// latencyRate is scenario 5's fixed rate, messages a second; its floor streams at it too.
const latencyRate = 2000

var scenarios = []scenario{
	{1, "1 producer → 1 queue → 1 consumer, 16 B transient, no-ack", []metric{
		{"deliver_rate", "deliveries/s", true, "≥ 8× RabbitMQ"}, cpuMetric("≤ 1.5 µs"),
	}, func(ctx context.Context, e env) (map[string]float64, error) {
		cfg := e.config()
		cfg.NoAck = true
		return rates(ctx, cfg)
	}},
	{2, "same, manual acks (each), prefetch 1000", []metric{
		{"deliver_rate", "deliveries/s", true, "≥ 4× RabbitMQ"}, cpuMetric(""),
	}, func(ctx context.Context, e env) (map[string]float64, error) {
		cfg := e.config()
		cfg.Prefetch, cfg.MultiAck = 1000, 1
		return rates(ctx, cfg)
	}},
	{3, "1 KiB persistent → durable queue, confirms (window 1000), 1 consumer", []metric{
		{"confirm_rate", "confirmed/s", true, "≥ 4× RabbitMQ, fsync before confirm"}, cpuMetric(""),
	}, func(ctx context.Context, e env) (map[string]float64, error) {
		cfg := e.config()
		cfg.Size, cfg.Persistent, cfg.Durable, cfg.Confirm = 1024, true, true, 1000
		cfg.Prefetch, cfg.MultiAck = 1000, 1
		return rates(ctx, cfg)
	}},
	{4, "fanout: 1 producer → 10 queues → 10 consumers, 16 B, no-ack", []metric{
		{"deliver_rate", "deliveries/s", true, "≥ 4× RabbitMQ"}, cpuMetric("≤ 1.5 µs/delivery"),
	}, func(ctx context.Context, e env) (map[string]float64, error) {
		cfg := e.config()
		cfg.Fanout, cfg.Consumers, cfg.NoAck = 10, 10, true
		return rates(ctx, cfg)
	}},
	{5, "latency at 2,000 msg/s, 16 B, manual acks, prefetch 1000", []metric{
		{"p50_us", "p50 µs", false, ""},
		{"p99_us", "p99 µs", false, "≤ ⅓ RabbitMQ"},
		{"p999_us", "p99.9 µs", false, "< 1000 µs"},
		cpuMetric(""),
	}, func(ctx context.Context, e env) (map[string]float64, error) {
		cfg := e.config()
		cfg.Rate, cfg.Prefetch, cfg.MultiAck = latencyRate, 1000, 1
		return rates(ctx, cfg)
	}},
	{6, "queue of 100 B persistent messages (confirms, window 1000), then drain", []metric{
		{"publish_s", "time to publish s", false, ""},
		{"bytes_per_msg", "broker memory B/queued msg", false, "≤ 200 B"},
		{"drain_rate", "drain msgs/s", true, "≥ 5× RabbitMQ"},
		{"kept_mb", "memory kept when drained MiB", false, "given back (≈ 0)"},
		{"kept_later_mb", "memory kept later MiB", false, "given back (≈ 0)"},
	}, queued},
	{7, "connections, each with a channel and a consumer", []metric{
		{"bytes_per_conn", "broker memory B/connection", false, "≤ ¼ RabbitMQ"},
	}, connections},
	{8, "start to first accepted connection", []metric{
		{"startup_ms", "ms", false, "< 10 ms"},
	}, nil},
}

func scenarioByID(id int) *scenario {
	for i := range scenarios {
		if scenarios[i].id == id {
			return &scenarios[i]
		}
	}
	return nil
}

// config is the base of every scenario: one producer, one consumer, one queue,
// 16-byte transient messages for e.duration, reading the broker's /proc figures.
func (e env) config() perf.Config {
	cfg := perf.DefaultConfig()
	cfg.URL = e.url
	cfg.Duration = e.duration
	cfg.BrokerPID = e.pid
	return cfg
}

// rates runs cfg and returns its rates, latencies and the broker's CPU per message.
func rates(ctx context.Context, cfg perf.Config) (map[string]float64, error) {
	s, err := perf.Run(ctx, cfg)
	if err != nil {
		return nil, err
	}
	m := map[string]float64{
		"publish_rate":  s.PublishRate,
		"confirm_rate":  s.ConfirmRate,
		"deliver_rate":  s.DeliverRate,
		"client_cpu_us": s.ClientCPUPerMsg,
	}
	if cfg.BrokerPID > 0 {
		m["cpu_us"] = s.BrokerCPUPerMsg
	}
	if s.Latency.Samples > 0 {
		m["p50_us"], m["p99_us"], m["p999_us"] = s.Latency.P50, s.Latency.P99, s.Latency.P999
	}
	return m, nil
}

// queued is scenario 6: publish e.queued persistent 100-byte messages with nobody
// consuming, read the broker's memory, drain the queue, read it again.
func queued(ctx context.Context, e env) (map[string]float64, error) {
	prefix := fmt.Sprintf("bench6-%d", time.Now().UnixNano())
	defer deleteQueue(e.url, prefix+"-0") // if the drain did not finish
	cfg := e.config()
	cfg.Duration, cfg.Count = 0, e.queued
	cfg.Consumers, cfg.Size, cfg.Persistent, cfg.Durable, cfg.Confirm = 0, 100, true, true, 1000
	cfg.QueuePrefix, cfg.Keep = prefix, true
	cfg.DrainTimeout = 5 * time.Minute
	pub, err := perf.Run(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if pub.Confirmed != e.queued {
		return nil, fmt.Errorf("scenario 6: %d of %d messages confirmed", pub.Confirmed, e.queued)
	}
	m := map[string]float64{"publish_s": float64(pub.Confirmed) / pub.ConfirmRate}
	if e.pid > 0 {
		// The memory a queued message costs is read once the broker is quiet
		// (e.settle after the last confirm), as the memory kept after the drain
		// is: right after publishing, the store may still be flushing (warren's
		// Badger builds a table from each full memtable). The reading at the last
		// confirm stays in the results as bytes_per_msg_at_confirm.
		m["bytes_per_msg_at_confirm"] = float64(pub.BrokerRSS-pub.BrokerRSSStart) / float64(e.queued)
		if !sleep(ctx, e.settle) {
			return nil, ctx.Err()
		}
		rss, err := perf.ResidentMemory(e.pid)
		if err != nil {
			return nil, err
		}
		m["bytes_per_msg"] = float64(rss-pub.BrokerRSSStart) / float64(e.queued)
	}

	cfg = e.config()
	cfg.Duration, cfg.Count = 0, e.queued
	cfg.Producers, cfg.Durable, cfg.Prefetch, cfg.MultiAck = 0, true, 1000, 1
	cfg.QueuePrefix = prefix
	cfg.DrainTimeout = 5 * time.Minute
	drain, err := perf.Run(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if drain.Delivered < e.queued {
		return nil, fmt.Errorf("scenario 6: drained %d of %d messages", drain.Delivered, e.queued)
	}
	m["drain_rate"] = drain.DeliverRate
	if e.pid > 0 {
		if !sleep(ctx, e.settle) {
			return nil, ctx.Err()
		}
		rss, err := perf.ResidentMemory(e.pid)
		if err != nil {
			return nil, err
		}
		m["rss_drained_mb"] = float64(rss) / (1 << 20)
		m["rss_before_mb"] = float64(pub.BrokerRSSStart) / (1 << 20)
		m["kept_mb"] = float64(rss-pub.BrokerRSSStart) / (1 << 20)
		if e.settleLong > e.settle {
			if !sleep(ctx, e.settleLong-e.settle) {
				return nil, ctx.Err()
			}
			if rss, err = perf.ResidentMemory(e.pid); err != nil {
				return nil, err
			}
			m["kept_later_mb"] = float64(rss-pub.BrokerRSSStart) / (1 << 20)
		}
	}
	return m, nil
}

// connections is scenario 7: e.conns connections, each with a channel and a consumer
// on one queue; the broker's memory before and once they are all open.
func connections(ctx context.Context, e env) (map[string]float64, error) {
	if e.pid <= 0 {
		return nil, fmt.Errorf("scenario 7 needs the broker's --pid")
	}
	before, err := perf.ResidentMemory(e.pid)
	if err != nil {
		return nil, err
	}
	var ready int64
	var readyErr error
	cfg := e.config()
	cfg.Producers, cfg.Consumers, cfg.Duration = 0, e.conns, time.Second
	cfg.BrokerPID = 0
	cfg.OnReady = func() {
		sleep(ctx, e.settle)
		ready, readyErr = perf.ResidentMemory(e.pid)
	}
	if _, err := perf.Run(ctx, cfg); err != nil {
		return nil, err
	}
	if readyErr != nil {
		return nil, readyErr
	}
	return map[string]float64{
		"bytes_per_conn": float64(ready-before) / float64(e.conns),
		"rss_before_mb":  float64(before) / (1 << 20),
		"rss_conns_mb":   float64(ready) / (1 << 20),
	}, nil
}

// deleteQueue removes a queue a failed scenario left behind; errors are ignored.
func deleteQueue(url, queue string) {
	conn, err := amqp091.Dial(url)
	if err != nil {
		return
	}
	defer conn.Close()
	if ch, err := conn.Channel(); err == nil {
		ch.QueueDelete(queue, false, false, false)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// appendResult appends r to the results file as one JSON line.
func appendResult(path string, r result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// resultFlags are the flags every measuring command shares.
func resultFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "broker", Required: true, Usage: "broker name in the table (warren, rabbitmq)"},
		&cli.IntFlag{Name: "round", Value: 1, Usage: "round number"},
		&cli.StringFlag{Name: "out", Required: true, Usage: "results file (JSON lines, appended)"},
	}
}

func scenarioCommand() *cli.Command {
	return &cli.Command{
		Name:  "scenario",
		Usage: "run one scenario (1-7) against one broker and append its figures",
		Flags: append(resultFlags(),
			&cli.IntFlag{Name: "id", Required: true, Usage: "scenario number"},
			&cli.StringFlag{Name: "url", Value: "amqp://guest:guest@127.0.0.1:5672/"},
			&cli.IntFlag{Name: "pid", Usage: "the broker's process id, for CPU time and memory"},
			&cli.DurationFlag{Name: "duration", Value: 8 * time.Second, Usage: "measurement time of scenarios 1-5"},
			&cli.Int64Flag{Name: "queued", Value: 1_000_000, Usage: "messages queued in scenario 6"},
			&cli.IntFlag{Name: "conns", Value: 1000, Usage: "connections in scenario 7"},
			&cli.DurationFlag{Name: "settle", Value: 2 * time.Second, Usage: "pause before reading memory in scenarios 6 and 7"},
			&cli.DurationFlag{Name: "settle-long", Value: 40 * time.Second, Usage: "scenario 6: when to read the memory kept after the drain a second time (0: not)"},
		),
		Action: func(cx *cli.Context) error {
			sc := scenarioByID(cx.Int("id"))
			if sc == nil || sc.run == nil {
				return fmt.Errorf("no scenario %d to run here (1-7)", cx.Int("id"))
			}
			e := env{
				url: cx.String("url"), pid: cx.Int("pid"), duration: cx.Duration("duration"),
				queued: cx.Int64("queued"), conns: cx.Int("conns"), settle: cx.Duration("settle"),
				settleLong: cx.Duration("settle-long"),
			}
			m, err := sc.run(cx.Context, e)
			if err != nil {
				return fmt.Errorf("scenario %d against %s: %w", sc.id, cx.String("broker"), err)
			}
			r := result{Scenario: sc.id, Broker: cx.String("broker"), Round: cx.Int("round"), Metrics: m}
			fmt.Fprintf(cx.App.ErrWriter, "  scenario %d %-8s round %d: %s\n", sc.id, r.Broker, r.Round, brief(sc, m))
			return appendResult(cx.String("out"), r)
		},
	}
}

// brief is a scenario's figures on one line.
func brief(sc *scenario, m map[string]float64) string {
	var parts []string
	for _, mt := range sc.metrics {
		if v, ok := m[mt.key]; ok {
			parts = append(parts, fmt.Sprintf("%s %s", formatValue(v), mt.label))
		}
	}
	return strings.Join(parts, ", ")
}
