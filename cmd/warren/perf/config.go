package perf

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
)

// Config describes one run. The zero value is not usable: start from DefaultConfig.
type Config struct {
	URL string // amqp://user:pass@host:port/vhost

	Producers int // connections publishing, each with one channel
	Consumers int // connections consuming, each with one channel and one consumer
	Queues    int // queues declared; producer i publishes to queue i mod Queues, consumer j consumes queue j mod Queues

	Size       int  // body size in bytes; the first 8 carry the send time (no latency below 8)
	Persistent bool // delivery-mode 2
	Confirm    int  // publisher confirms with at most this many unconfirmed messages per producer; 0: none
	Mandatory  bool // publish with the mandatory flag (returns are counted)

	Prefetch int  // basic.qos prefetch-count per consumer; 0: unlimited
	MultiAck int  // ack with multiple=true once this many deliveries are unacked (1: every delivery, multiple=false)
	NoAck    bool // consume with no-ack

	Fanout int // >0: publish to one fanout exchange bound to Fanout queues (Queues is then Fanout)

	Rate     float64       // messages per second per producer; 0: as fast as possible
	Duration time.Duration // stop after this long; 0: no time limit (Count must be set)
	Count    int64         // messages to publish in total (split across producers); with no producers, deliveries to consume; 0: no limit

	QueuePrefix string     // queues are named QueuePrefix-0, QueuePrefix-1, ...; "" picks a random prefix
	Durable     bool       // declare the queues (and the exchange) durable
	QueueArgs   wire.Table // queue.declare arguments (x-queue-type, x-max-length, ...)
	Keep        bool       // leave the queues and the exchange in place after the run
	Exchange    string     // fanout exchange name; "" derives it from QueuePrefix

	DrainTimeout time.Duration // how long a count-bounded run waits for the last confirms and deliveries; 0: 60 s
	BrokerPID    int           // >0: read that process's CPU time and resident memory from /proc (Linux)
	Live         io.Writer     // receives a line per second; nil: none
	// OnReady, if set, is called once every connection is open and every consumer
	// registered, just before the producers start (and the clock with them).
	OnReady func()
}

// DefaultConfig is one producer and one consumer on one queue, 16-byte transient
// messages, manual acks one by one with prefetch 1000, for 10 seconds.
func DefaultConfig() Config {
	return Config{
		URL:       "amqp://guest:guest@127.0.0.1:5672/",
		Producers: 1,
		Consumers: 1,
		Queues:    1,
		Size:      16,
		Prefetch:  1000,
		MultiAck:  1,
		Duration:  10 * time.Second,
	}
}

// check validates cfg and fills in derived fields.
func (cfg *Config) check() error {
	switch {
	case cfg.Producers < 0 || cfg.Consumers < 0:
		return errors.New("perf: --producers and --consumers cannot be negative")
	case cfg.Producers == 0 && cfg.Consumers == 0:
		return errors.New("perf: nothing to do: no producers and no consumers")
	case cfg.Size < 0 || cfg.Size > 512<<20:
		return fmt.Errorf("perf: --size %d out of range (0 to 512 MiB)", cfg.Size)
	case cfg.Confirm < 0 || cfg.Confirm > 1<<20:
		return fmt.Errorf("perf: --confirm %d out of range (0 to %d)", cfg.Confirm, 1<<20)
	case cfg.Prefetch < 0 || cfg.Prefetch > 65535:
		return fmt.Errorf("perf: --prefetch %d out of range (0 to 65535, a short)", cfg.Prefetch)
	case cfg.MultiAck < 0:
		return errors.New("perf: --multi-ack cannot be negative")
	case cfg.Fanout < 0:
		return errors.New("perf: --fanout cannot be negative")
	case cfg.Rate < 0:
		return errors.New("perf: --rate cannot be negative")
	case cfg.Duration < 0 || cfg.Count < 0:
		return errors.New("perf: --duration and --count cannot be negative")
	case cfg.Duration == 0 && cfg.Count == 0:
		return errors.New("perf: the run must be bounded: give --duration or --count")
	}
	if cfg.MultiAck == 0 {
		cfg.MultiAck = 1
	}
	// A consumer that waits for more deliveries than the broker may send unacked would
	// wait forever.
	if !cfg.NoAck && cfg.Prefetch > 0 && cfg.MultiAck > cfg.Prefetch {
		return fmt.Errorf("perf: --multi-ack %d exceeds --prefetch %d: the consumer would stall", cfg.MultiAck, cfg.Prefetch)
	}
	if cfg.Fanout > 0 {
		cfg.Queues = cfg.Fanout
	}
	if cfg.Queues < 1 {
		cfg.Queues = 1
	}
	if cfg.QueuePrefix == "" {
		cfg.QueuePrefix = fmt.Sprintf("perf-%d", time.Now().UnixNano()%1e9)
	}
	if cfg.Fanout > 0 && cfg.Exchange == "" {
		cfg.Exchange = cfg.QueuePrefix + "-fanout"
	}
	if len(cfg.QueuePrefix)+8 > wire.MaxShortstr || len(cfg.Exchange) > wire.MaxShortstr {
		return errors.New("perf: queue prefix or exchange name too long for a shortstr")
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 60 * time.Second
	}
	return nil
}

// queueName is the name of queue i.
func (cfg *Config) queueName(i int) string { return cfg.QueuePrefix + "-" + strconv.Itoa(i) }

// brokerURL is what the tool needs from an AMQP URI.
type brokerURL struct {
	addr       string // host:port
	user, pass string
	vhost      string
}

// parseURL reads an AMQP URI as RabbitMQ's URI spec has it: amqp://user:pass@host:port/vhost,
// where an empty path is the vhost "/" and "%2f" spells "/".
func parseURL(s string) (brokerURL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return brokerURL{}, fmt.Errorf("perf: bad --url: %w", err)
	}
	if u.Scheme != "amqp" {
		return brokerURL{}, fmt.Errorf("perf: --url scheme %q is not supported (amqp only)", u.Scheme)
	}
	b := brokerURL{user: "guest", pass: "guest", vhost: "/"}
	if u.User != nil {
		b.user = u.User.Username()
		b.pass, _ = u.User.Password()
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "localhost"
	}
	if port == "" {
		port = "5672"
	}
	b.addr = net.JoinHostPort(host, port)
	if p := strings.TrimPrefix(u.Path, "/"); p != "" {
		b.vhost = p
	}
	return b, nil
}

// parseQueueArgs reads key=value pairs; a value that parses as an integer is sent as
// a long-long ('l'), true/false as a boolean, anything else as a long string.
func parseQueueArgs(pairs []string) (wire.Table, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	t := wire.Table{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("perf: --queue-args %q: want key=value", p)
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			t[k] = n
		} else if b, err := strconv.ParseBool(v); err == nil && (v == "true" || v == "false") {
			t[k] = b
		} else {
			t[k] = v
		}
	}
	return t, nil
}
