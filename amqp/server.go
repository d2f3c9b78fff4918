package amqp

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/vhost"
)

// Version is warren's own version, reported in server-properties "information"
// and in the log.
const Version = "0.1.0"

// RabbitMQVersion is the RabbitMQ version whose behaviour warren follows. Clients
// switch behaviour on the "product" and "version" server properties (kombu picks
// the meaning of basic.qos global from them), so warren reports RabbitMQ's.
const RabbitMQVersion = "3.13.7"

// Defaults as RabbitMQ's (rabbit.app: channel_max 2047, frame_max 131072,
// heartbeat 60; handshake_timeout 10 s).
const (
	DefaultChannelMax       = 2047
	DefaultFrameMax         = 131072
	DefaultHeartbeat        = 60 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultMaxMessageSize is RabbitMQ 3.13's max_message_size (128 MiB).
	DefaultMaxMessageSize = 128 << 20
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("amqp: server closed")

// Config configures a Server. The zero value of every field but Broker has a
// sensible default.
type Config struct {
	Broker *vhost.Broker
	Logger zerolog.Logger

	// ReportWarren makes connection.start say product "warren" with warren's
	// version instead of RabbitMQ's product and version.
	ReportWarren bool

	ChannelMax       uint16        // 0: DefaultChannelMax
	FrameMax         uint32        // 0: DefaultFrameMax
	Heartbeat        time.Duration // 0: DefaultHeartbeat; negative: none
	HandshakeTimeout time.Duration // 0: DefaultHandshakeTimeout
	MaxMessageSize   int           // 0: DefaultMaxMessageSize
	// CloseTimeout bounds how long a connection waits for connection.close-ok
	// after the server sent connection.close. 0: 3 s.
	CloseTimeout time.Duration
	// MaxConnections refuses connection.open beyond this many connections (RabbitMQ's
	// connection_max): 530 "connection refused: node connection limit (N) is reached".
	// 0: no limit.
	MaxConnections int
	// ExternalAuth offers the EXTERNAL mechanism on TLS connections: a client with a
	// verified certificate logs in as the user named by its subject's CN, without a
	// password (rabbitmq_auth_mechanism_ssl with ssl_cert_login_from = common_name).
	ExternalAuth bool
	// ConsumerTimeout is how long a delivery may stay unacknowledged before its
	// channel is closed with 406 (RabbitMQ's consumer_timeout; timeout.go).
	// 0: DefaultConsumerTimeout; negative: never. A queue's x-consumer-timeout
	// argument, and a consumer's (basic.consume), override it.
	ConsumerTimeout time.Duration
	// TimeoutTick is how often unacknowledged deliveries are checked against
	// their timeout, and the granularity of their timestamps. 0: one second.
	TimeoutTick time.Duration
}

// Server serves AMQP 0-9-1 on any number of listeners, in the style of
// net/http.Server.
type Server struct {
	cfg Config
	log zerolog.Logger

	nextID   atomic.Uint64
	shutdown atomic.Bool

	mu struct {
		sync.Mutex
		listeners map[net.Listener]struct{}
		conns     map[*conn]struct{}
	}
	connWG sync.WaitGroup

	replies replyRegistry // direct reply-to consumers
	clock   atomic.Int64  // coarse wall clock, Unix ms, advanced by timeoutLoop (timeout.go)
	ticker  ticker        // runs timeoutLoop
	retired retired       // counters of closed connections (inspect.go)
	fails   failures      // recent authentication failures by address (authlimit.go)
}

// NewServer returns a server for cfg.Broker.
func NewServer(cfg Config) *Server {
	if cfg.ChannelMax == 0 {
		cfg.ChannelMax = DefaultChannelMax
	}
	if cfg.FrameMax == 0 {
		cfg.FrameMax = DefaultFrameMax
	}
	if cfg.FrameMax < wire.FrameMinSize {
		cfg.FrameMax = wire.FrameMinSize
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = DefaultHeartbeat
	} else if cfg.Heartbeat < 0 {
		cfg.Heartbeat = 0
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = 3 * time.Second
	}
	if cfg.ConsumerTimeout == 0 {
		cfg.ConsumerTimeout = DefaultConsumerTimeout
	}
	if cfg.TimeoutTick <= 0 {
		cfg.TimeoutTick = time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	s.mu.listeners = make(map[net.Listener]struct{})
	s.mu.conns = make(map[*conn]struct{})
	return s
}

// Serve accepts connections on ln until Shutdown is called or ln fails. It
// always returns a non-nil error: ErrServerClosed after Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.mu.listeners[ln] = struct{}{}
	s.ticker.start(s)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.mu.listeners, ln)
		s.mu.Unlock()
	}()

	var delay time.Duration // backoff on temporary accept errors, as net/http
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if delay == 0 {
					delay = 5 * time.Millisecond
				} else if delay *= 2; delay > time.Second {
					delay = time.Second
				}
				s.log.Warn().Err(err).Dur("retry_in", delay).Msg("accept failed")
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := newConn(s, nc)
		s.mu.Lock()
		if s.shutdown.Load() {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		s.mu.conns[c] = struct{}{}
		s.connWG.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

func (s *Server) removeConn(c *conn) {
	s.forget(c) // inspect.go: also folds c's counters into the server's
	s.connWG.Done()
}

// Shutdown stops accepting connections, closes every open connection with
// 320 CONNECTION_FORCED, and waits for them to finish or for ctx to end, at
// which point the remaining sockets are closed outright.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdown.Store(true)
	s.mu.Lock()
	for ln := range s.mu.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	s.ticker.stop()
	for _, c := range conns {
		c.forceClose(wire.Hard(wire.ConnectionForced, "broker forced connection closure with reason 'shutdown'"))
	}
	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.mu.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// Addrs returns the addresses the server is listening on.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	addrs := make([]net.Addr, 0, len(s.mu.listeners))
	for ln := range s.mu.listeners {
		addrs = append(addrs, ln.Addr())
	}
	return addrs
}

// ConnectionCount is the number of open client connections.
func (s *Server) ConnectionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.conns)
}
