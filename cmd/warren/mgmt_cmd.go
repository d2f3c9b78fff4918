package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/warrenmq/warren/amqp"
	"github.com/warrenmq/warren/cmd/warren/mgmt"
	"github.com/warrenmq/warren/vhost"
)

// The management API and the Prometheus metrics listeners (issue 8).
//
// RabbitMQ's management listener is port 15672 on every interface
// (management.tcp.port, RW:docs/management.md), its Prometheus one port 15692
// (prometheus.tcp.port, RW:docs/prometheus/index.md); warren uses the same defaults,
// so that tools find them where they look. An empty address disables a listener.
func mgmtFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "http-listen", Value: ":15672", EnvVars: []string{"WARREN_HTTP_LISTEN"},
			Usage: "address to serve RabbitMQ's management HTTP API on (empty disables it)"},
		&cli.StringFlag{Name: "metrics-listen", Value: ":15692", EnvVars: []string{"WARREN_METRICS_LISTEN"},
			Usage: "address to serve Prometheus metrics (/metrics) on (empty disables it)"},
		// RabbitMQ's load_definitions setting (RW:docs/definitions.md).
		&cli.StringFlag{Name: "load-definitions", EnvVars: []string{"WARREN_LOAD_DEFINITIONS"},
			Usage: "import this definitions file (RabbitMQ's JSON format) at start, before serving; existing users are kept, and a new node gets no default user and vhost (as RabbitMQ)"},
	}
}

// startMgmt starts the listeners --http-listen and
// --metrics-listen ask for. stop shuts them down (bounded); call it after the AMQP
// server's Shutdown.
func startMgmt(cx *cli.Context, log zerolog.Logger, broker *vhost.Broker, srv *amqp.Server, amqpAddr net.Addr) (stop func(), err error) {
	type running struct {
		s      *mgmt.Server
		ln     net.Listener
		served chan error
	}
	var all []running
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, r := range all {
			if err := r.s.Shutdown(ctx); err != nil {
				log.Warn().Err(err).Str("listen", r.ln.Addr().String()).Msg("HTTP listener did not stop in time")
			}
			if err := <-r.served; err != nil && !errors.Is(err, mgmt.ErrServerClosed) {
				log.Warn().Err(err).Str("listen", r.ln.Addr().String()).Msg("HTTP listener failed")
			}
		}
	}
	listen := func(flag string) (net.Listener, error) {
		addr := cx.String(flag)
		if addr == "" {
			return nil, nil
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("cannot listen on %s (--%s): %w", addr, flag, err)
		}
		return ln, nil
	}
	apiLn, err := listen("http-listen")
	if err != nil {
		return nil, err
	}
	metricsLn, err := listen("metrics-listen")
	if err != nil {
		if apiLn != nil {
			apiLn.Close()
		}
		return nil, err
	}
	cfg := mgmt.Config{
		Broker: broker, AMQP: srv, Logger: log, ReportWarren: cx.Bool("report-warren"),
		Listeners: []mgmt.Listener{{Protocol: "amqp", Addr: amqpAddr}},
	}
	if apiLn != nil {
		cfg.Listeners = append(cfg.Listeners, mgmt.Listener{Protocol: "http", Addr: apiLn.Addr()})
	}
	if metricsLn != nil {
		cfg.Listeners = append(cfg.Listeners, mgmt.Listener{Protocol: "http/prometheus", Addr: metricsLn.Addr()})
	}
	start := func(s *mgmt.Server, ln net.Listener, what string) {
		r := running{s: s, ln: ln, served: make(chan error, 1)}
		go func() { r.served <- s.Serve(ln) }()
		all = append(all, r)
		log.Info().Str("listen", ln.Addr().String()).Msg(what)
	}
	if apiLn != nil {
		start(mgmt.New(cfg), apiLn, "management API listening")
	}
	if metricsLn != nil {
		start(mgmt.NewMetrics(cfg), metricsLn, "Prometheus metrics listening")
	}
	return stop, nil
}
