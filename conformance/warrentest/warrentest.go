// Package warrentest starts an in-process, in-memory warren for Go tests.
//
//	func TestOrders(t *testing.T) {
//		url := warrentest.Start(t) // amqp://guest:guest@127.0.0.1:PORT/
//		conn, err := amqp091.Dial(url)
//		...
//	}
package warrentest

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/amqp"
	"github.com/warrenmq/warren/vhost"
)

// Options tune the broker Start runs. The zero value is what Start uses.
type Options struct {
	// Heartbeat the server proposes; 0: RabbitMQ's 60 s.
	Heartbeat time.Duration
	// ReportWarren names the server warren in connection.start.
	ReportWarren bool
	// Logger receives the broker's log; zero value: the test's log at warn level.
	Logger *zerolog.Logger
	// Server, when set, adjusts the protocol server's configuration (limits, EXTERNAL).
	Server func(*amqp.Config)
	// TLS, when set, also serves amqps with it on another loopback port (Broker.TLSAddr).
	TLS *tls.Config
}

// Broker is a running in-process warren.
type Broker struct {
	URL    string // amqp://guest:guest@127.0.0.1:PORT/
	Addr   string // 127.0.0.1:PORT
	Server *amqp.Server
	Core   *vhost.Broker
	// TLSAddr is the amqps listener's 127.0.0.1:PORT when Options.TLS was set.
	TLSAddr string
}

// Start starts an in-process, in-memory warren on a random loopback port and
// returns its AMQP URL. The broker is stopped by t.Cleanup.
func Start(t testing.TB) string {
	t.Helper()
	return StartWith(t, Options{}).URL
}

// StartWith is Start with options; it returns the running broker.
func StartWith(t testing.TB, opts Options) *Broker {
	t.Helper()
	var log zerolog.Logger
	if opts.Logger != nil {
		log = *opts.Logger
	} else {
		log = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	}
	core, err := vhost.New(vhost.Config{Logger: log})
	if err != nil {
		t.Fatalf("warrentest: broker: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("warrentest: listen: %v", err)
	}
	scfg := amqp.Config{Broker: core, Logger: log, Heartbeat: opts.Heartbeat, ReportWarren: opts.ReportWarren}
	if opts.Server != nil {
		opts.Server(&scfg)
	}
	srv := amqp.NewServer(scfg)
	served := make(chan error, 2)
	go func() { served <- srv.Serve(ln) }()
	var tlsAddr string
	if opts.TLS != nil {
		tln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("warrentest: listen: %v", err)
		}
		tlsAddr = tln.Addr().String()
		go func() { served <- srv.Serve(tls.NewListener(tln, opts.TLS)) }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("warrentest: shutdown: %v", err)
		}
		<-served
		if opts.TLS != nil {
			<-served
		}
		core.Close()
	})
	addr := ln.Addr().String()
	return &Broker{URL: "amqp://guest:guest@" + addr + "/", Addr: addr, Server: srv, Core: core, TLSAddr: tlsAddr}
}
