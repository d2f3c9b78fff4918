package perf

import (
	"encoding/json"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

// Command returns `warren perf`: flags → Config → Run → summary on stdout (text or
// JSON), a line per second on stderr.
func Command() *cli.Command {
	d := DefaultConfig()
	return &cli.Command{
		Name:      "perf",
		Usage:     "load-test any AMQP 0-9-1 broker (warren, RabbitMQ, ...)",
		UsageText: "warren perf [--url amqp://guest:guest@127.0.0.1:5672/] [--producers 1] [--consumers 1] [--size 16] [--duration 10s | --count N] ...",
		Description: "Each producer and consumer has its own connection. Bodies carry their send time in their\n" +
			"first 8 bytes, from which consumers measure latency. Queues are named <queue-prefix>-<i> and\n" +
			"deleted after the run unless --keep. Exit status 1 if the broker failed the run.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "url", Value: d.URL, EnvVars: []string{"AMQP_URL"}, Usage: "broker to load"},
			&cli.IntFlag{Name: "producers", Aliases: []string{"x"}, Value: d.Producers, Usage: "publishing connections"},
			&cli.IntFlag{Name: "consumers", Aliases: []string{"y"}, Value: d.Consumers, Usage: "consuming connections"},
			&cli.IntFlag{Name: "queues", Value: d.Queues, Usage: "queues; producer i publishes to and consumer j consumes queue (i or j) mod queues"},
			&cli.IntFlag{Name: "size", Aliases: []string{"s"}, Value: d.Size, Usage: "body size in bytes (latency needs at least 8)"},
			&cli.BoolFlag{Name: "persistent", Usage: "publish with delivery-mode 2"},
			&cli.IntFlag{Name: "confirm", Aliases: []string{"c"}, Usage: "publisher confirms with at most this many unconfirmed messages per producer (0: off)"},
			&cli.BoolFlag{Name: "mandatory", Usage: "publish with the mandatory flag"},
			&cli.IntFlag{Name: "prefetch", Aliases: []string{"q"}, Value: d.Prefetch, Usage: "basic.qos prefetch-count per consumer (0: unlimited)"},
			&cli.IntFlag{Name: "multi-ack", Aliases: []string{"A"}, Value: d.MultiAck, Usage: "ack every N deliveries with multiple=true (1: each one)"},
			&cli.BoolFlag{Name: "no-ack", Aliases: []string{"a"}, Usage: "consume with no-ack"},
			&cli.IntFlag{Name: "fanout", Usage: "publish to one fanout exchange bound to N queues (sets --queues N)"},
			&cli.Float64Flag{Name: "rate", Aliases: []string{"r"}, Usage: "messages per second per producer (0: as fast as possible)"},
			&cli.DurationFlag{Name: "duration", Aliases: []string{"z"}, Value: d.Duration, Usage: "stop after this long (0: only --count bounds the run, the default when --count is given)"},
			&cli.Int64Flag{Name: "count", Aliases: []string{"C"}, Usage: "publish this many messages in total, then wait for their deliveries (with no producers: consume this many)"},
			&cli.StringFlag{Name: "queue-prefix", Usage: "queue name prefix (default: perf-<random>)"},
			&cli.BoolFlag{Name: "durable", Usage: "declare durable queues (and exchange)"},
			&cli.StringSliceFlag{Name: "queue-args", Usage: "queue.declare arguments, key=value (repeat or comma-separate), e.g. x-queue-type=quorum"},
			&cli.BoolFlag{Name: "keep", Usage: "do not delete the queues and the exchange after the run"},
			&cli.DurationFlag{Name: "drain-timeout", Value: 60 * time.Second, Usage: "how long a --count run waits for its last confirms and deliveries"},
			&cli.IntFlag{Name: "broker-pid", Usage: "report this local process's CPU time per message and resident memory (Linux /proc)"},
			&cli.BoolFlag{Name: "json", Usage: "print the summary as JSON"},
			&cli.BoolFlag{Name: "quiet", Usage: "no line per second"},
		},
		Action: action,
	}
}

func action(cx *cli.Context) error {
	args, err := parseQueueArgs(cx.StringSlice("queue-args"))
	if err != nil {
		return err
	}
	cfg := Config{
		URL:          cx.String("url"),
		Producers:    cx.Int("producers"),
		Consumers:    cx.Int("consumers"),
		Queues:       cx.Int("queues"),
		Size:         cx.Int("size"),
		Persistent:   cx.Bool("persistent"),
		Confirm:      cx.Int("confirm"),
		Mandatory:    cx.Bool("mandatory"),
		Prefetch:     cx.Int("prefetch"),
		MultiAck:     cx.Int("multi-ack"),
		NoAck:        cx.Bool("no-ack"),
		Fanout:       cx.Int("fanout"),
		Rate:         cx.Float64("rate"),
		Duration:     cx.Duration("duration"),
		Count:        cx.Int64("count"),
		QueuePrefix:  cx.String("queue-prefix"),
		Durable:      cx.Bool("durable"),
		QueueArgs:    args,
		Keep:         cx.Bool("keep"),
		DrainTimeout: cx.Duration("drain-timeout"),
		BrokerPID:    cx.Int("broker-pid"),
	}
	if cx.IsSet("count") && !cx.IsSet("duration") {
		cfg.Duration = 0 // the count bounds the run
	}
	if !cx.Bool("quiet") {
		cfg.Live = cx.App.ErrWriter
		if cfg.Live == nil {
			cfg.Live = os.Stderr
		}
	}
	// Ctrl-C ends the run early, still with a summary and the queues deleted.
	ctx, stop := signal.NotifyContext(cx.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := Run(ctx, cfg)
	if s != nil {
		out := cx.App.Writer
		if out == nil {
			out = os.Stdout
		}
		if cx.Bool("json") {
			enc := json.NewEncoder(out)
			if jerr := enc.Encode(s); jerr != nil && err == nil {
				err = jerr
			}
		} else {
			s.WriteText(out)
		}
	}
	return err
}
