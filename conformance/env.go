package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Env is what a check runs in: the broker URL, a deadline, and helpers that open connections and name
// queues and exchanges. Everything opened through an Env is closed, and every name it handed out through
// Queue or Exchange is deleted, when the check returns.
//
// Helpers that cannot do their job (a dial that fails, a delivery that never comes) end the check through
// Fatalf, which unwinds the check's goroutine like testing.T.FailNow; checks therefore call them only from
// the goroutine that runs the check.
type Env struct {
	URL   string // the broker's AMQP URL; immutable
	Vhost string // the virtual host named by URL ("/" when it names none); immutable

	ctx   context.Context // ends at the check's deadline; immutable
	check string          // the check's name; immutable
	uri   amqp.URI        // URL parsed; immutable

	mu struct {
		sync.Mutex
		socks     []net.Conn // every socket dialed, for abort
		conns     []*Conn    // every client connection opened, closed by cleanup
		queues    []string   // names handed out by Queue, deleted by cleanup
		exchanges []string   // names handed out by Exchange, deleted by cleanup
		cleanups  []func()   // run last-in first-out by cleanup
		admin     *Conn      // connection for inspection (passive declares), opened on first use
	}
}

func newEnv(ctx context.Context, url, check string) *Env {
	e := &Env{URL: url, ctx: ctx, check: check}
	if uri, err := amqp.ParseURI(url); err == nil {
		e.uri = uri
		e.Vhost = uri.Vhost
	}
	if e.Vhost == "" {
		e.Vhost = "/"
	}
	return e
}

// fatal and skip unwind a check's goroutine; Env.run recovers them.
type fatal struct{ err error }
type skip struct{ reason string }

// Context is done when the check's time is up.
func (e *Env) Context() context.Context { return e.ctx }

// Fatalf ends the check with a failure.
func (e *Env) Fatalf(format string, args ...any) { panic(fatal{fmt.Errorf(format, args...)}) }

// Skipf ends the check as not applicable to this broker or URL.
func (e *Env) Skipf(format string, args ...any) { panic(skip{fmt.Sprintf(format, args...)}) }

// Must ends the check with a failure if err is not nil; what says what was being done.
func (e *Env) Must(err error, what string) {
	if err != nil {
		e.Fatalf("%s: %s", what, describe(err))
	}
}

// Cleanup registers f to run after the check, before its connections are closed.
func (e *Env) Cleanup(f func()) {
	e.mu.Lock()
	e.mu.cleanups = append(e.mu.cleanups, f)
	e.mu.Unlock()
}

// Name returns a name unique to this run of this check: "conformance.<check>.<kind>.<random>".
func (e *Env) Name(kind string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	slug := strings.NewReplacer("/", ".", " ", "-").Replace(e.check)
	return "conformance." + slug + "." + kind + "." + hex.EncodeToString(b[:])
}

// Queue returns a fresh queue name, deleted after the check.
func (e *Env) Queue() string {
	n := e.Name("q")
	e.mu.Lock()
	e.mu.queues = append(e.mu.queues, n)
	e.mu.Unlock()
	return n
}

// Exchange returns a fresh exchange name, deleted after the check.
func (e *Env) Exchange() string {
	n := e.Name("x")
	e.mu.Lock()
	e.mu.exchanges = append(e.mu.exchanges, n)
	e.mu.Unlock()
	return n
}

// frameworkTrack hands the queues and exchanges named by a framework's own pattern (not by Env.Queue or
// Env.Exchange) to the check's cleanup, which deletes them.
func (e *Env) frameworkTrack(queues, exchanges []string) {
	e.mu.Lock()
	e.mu.queues = append(e.mu.queues, queues...)
	e.mu.exchanges = append(e.mu.exchanges, exchanges...)
	e.mu.Unlock()
}

// Conn is a client connection opened by an Env, with a close listener registered at dial time (so a
// connection exception is never missed).
type Conn struct {
	*amqp.Connection
	e      *Env
	closes chan *amqp.Error // NotifyClose; buffered, so the client never blocks on it
}

// Chan is a client channel with a close listener registered at open time.
type Chan struct {
	*amqp.Channel
	Conn   *Conn
	closes chan *amqp.Error // NotifyClose; buffered
}

// Config is the client configuration Dial uses: amqp091-go's defaults (heartbeat 10 s, frame-max
// 131072, locale en_US). DialConfig adds a dial function bound to the check's deadline.
func (e *Env) Config() amqp.Config {
	return amqp.Config{Heartbeat: 10 * time.Second, Locale: "en_US"}
}

// Dial opens a connection with Config, or ends the check.
func (e *Env) Dial() *Conn {
	c, err := e.DialConfig(e.Config())
	e.Must(err, "dial "+e.redacted())
	return c
}

// DialConfig opens a connection with cfg (its Dial field is replaced by one bound to the check's deadline)
// and returns the client's error as is.
func (e *Env) DialConfig(cfg amqp.Config) (*Conn, error) {
	return e.DialURLConfig(e.URL, cfg)
}

// DialURLConfig is DialConfig to another URL (other credentials or vhost on the same broker).
func (e *Env) DialURLConfig(url string, cfg amqp.Config) (*Conn, error) {
	cfg.Dial = e.dialSocket
	ac, err := amqp.DialConfig(url, cfg)
	if err != nil {
		return nil, err
	}
	c := &Conn{Connection: ac, e: e, closes: make(chan *amqp.Error, 1)}
	ac.NotifyClose(c.closes)
	e.mu.Lock()
	e.mu.conns = append(e.mu.conns, c)
	e.mu.Unlock()
	return c, nil
}

// dialSocket dials with the check's deadline, which also bounds the AMQP handshake (the client clears the
// deadline once the connection is open).
func (e *Env) dialSocket(network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(e.ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := e.ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	e.mu.Lock()
	e.mu.socks = append(e.mu.socks, nc)
	e.mu.Unlock()
	return nc, nil
}

// Channel opens a new connection and a channel on it, or ends the check.
func (e *Env) Channel() *Chan { return e.Dial().Open() }

// Open opens a channel, or ends the check.
func (c *Conn) Open() *Chan {
	ch, err := c.OpenErr()
	c.e.Must(err, "channel.open")
	return ch
}

// OpenErr opens a channel and returns the client's error as is.
func (c *Conn) OpenErr() (*Chan, error) {
	ac, err := c.Connection.Channel()
	if err != nil {
		return nil, err
	}
	ch := &Chan{Channel: ac, Conn: c, closes: make(chan *amqp.Error, 1)}
	ac.NotifyClose(ch.closes)
	return ch, nil
}

// redacted is the URL without its password, for messages.
func (e *Env) redacted() string {
	if e.uri.Password == "" {
		return e.URL
	}
	return strings.Replace(e.URL, ":"+e.uri.Password+"@", ":xxx@", 1)
}

// abort closes every socket the check dialed, which unblocks any client call waiting for the broker.
func (e *Env) abort() {
	e.mu.Lock()
	socks := append([]net.Conn(nil), e.mu.socks...)
	e.mu.Unlock()
	for _, nc := range socks {
		_ = nc.Close()
	}
}

// cleanupTimeout bounds the work done after a check: closing its connections and deleting its objects.
const cleanupTimeout = 5 * time.Second

// cleanup runs the registered cleanups, closes the check's connections, then deletes the queues and
// exchanges it named, on a fresh connection. Errors are ignored: deleting something that was never
// declared is fine (RabbitMQ treats queue.delete and exchange.delete as idempotent), and a check that
// leaves litter behind is no reason to fail the next.
func (e *Env) cleanup() {
	e.mu.Lock()
	cleanups, conns := e.mu.cleanups, e.mu.conns
	queues, exchanges := e.mu.queues, e.mu.exchanges
	e.mu.cleanups, e.mu.conns = nil, nil
	e.mu.Unlock()

	for i := len(cleanups) - 1; i >= 0; i-- {
		func() {
			defer func() { _ = recover() }() // a cleanup that calls Fatalf
			cleanups[i]()
		}()
	}
	deadline := time.Now().Add(cleanupTimeout)
	for _, c := range conns {
		if !c.IsClosed() {
			_ = c.CloseDeadline(deadline)
		}
	}
	if len(queues)+len(exchanges) == 0 {
		return
	}

	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	cfg := e.Config()
	cfg.Dial = func(network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		if err == nil {
			_ = nc.SetDeadline(deadline)
		}
		return nc, err
	}
	ac, err := amqp.DialConfig(e.URL, cfg)
	if err != nil {
		return
	}
	defer func() { _ = ac.CloseDeadline(time.Now().Add(time.Second)) }()
	del := func(f func(ch *amqp.Channel) error) {
		ch, err := ac.Channel()
		if err != nil {
			return
		}
		if f(ch) == nil {
			_ = ch.Close()
		}
	}
	for _, q := range queues {
		del(func(ch *amqp.Channel) error { _, err := ch.QueueDelete(q, false, false, false); return err })
	}
	for _, x := range exchanges {
		del(func(ch *amqp.Channel) error { return ch.ExchangeDelete(x, false, false) })
	}
}

// describe formats an error from the client: a server's exception as "404 NOT_FOUND - …", anything else
// as is.
func describe(err error) string {
	var ae *amqp.Error
	if errors.As(err, &ae) {
		who := "server"
		if !ae.Server {
			who = "client library"
		}
		return fmt.Sprintf("%d %q (from the %s)", ae.Code, ae.Reason, who)
	}
	if err == nil {
		return "no error"
	}
	return err.Error()
}
