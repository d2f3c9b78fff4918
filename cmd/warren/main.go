// Command warren is an AMQP 0-9-1 message broker that RabbitMQ clients use
// unchanged.
//
//	warren                      # serve on :5672, data in ./warren-data
//	warren --in-memory          # touch no disk at all
//	warren conformance --url …  # check any broker against RabbitMQ's behaviour
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/warrenmq/warren/amqp"
	"github.com/warrenmq/warren/vhost"
)

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "warren: %v\n", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:    "warren",
		Usage:   "an AMQP 0-9-1 message broker for RabbitMQ clients",
		Version: amqp.Version,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: ":5672", EnvVars: []string{"WARREN_LISTEN"}, Usage: "address to serve AMQP on"},
			&cli.StringFlag{Name: "data-dir", Value: "./warren-data", EnvVars: []string{"WARREN_DATA_DIR"}, Usage: "folder for durable data"},
			&cli.BoolFlag{Name: "in-memory", EnvVars: []string{"WARREN_IN_MEMORY"}, Usage: "keep everything in memory; touch no disk"},
			&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"WARREN_LOG_LEVEL"}, Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "log-format", Value: "console", EnvVars: []string{"WARREN_LOG_FORMAT"}, Usage: "console or json"},
			&cli.StringFlag{Name: "default-user", Value: "guest", EnvVars: []string{"WARREN_DEFAULT_USER", "RABBITMQ_DEFAULT_USER"}, Usage: "user created at start (guest may connect from loopback only)"},
			&cli.StringFlag{Name: "default-pass", Value: "guest", EnvVars: []string{"WARREN_DEFAULT_PASS", "RABBITMQ_DEFAULT_PASS"}, Usage: "password of the default user"},
			&cli.BoolFlag{Name: "report-warren", EnvVars: []string{"WARREN_REPORT_WARREN"}, Usage: "name the server warren in connection.start instead of RabbitMQ"},
		},
		Action:   serve,
		Commands: commands(),
	}
}

// commands are warren's subcommands; other files add to it.
var extraCommands []*cli.Command

func commands() []*cli.Command { return extraCommands }

func newLogger(level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || level == "" {
		return zerolog.Logger{}, fmt.Errorf("invalid --log-level %q: want debug, info, warn or error", level)
	}
	var log zerolog.Logger
	switch format {
	case "json":
		log = zerolog.New(os.Stderr)
	case "console":
		log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.RFC3339})
	default:
		return zerolog.Logger{}, fmt.Errorf("invalid --log-format %q: want console or json", format)
	}
	return log.Level(lvl).With().Timestamp().Logger(), nil
}

func serve(cx *cli.Context) error {
	start := time.Now()
	// Catch signals before announcing readiness: a SIGTERM right after
	// "Server startup complete" must still close clients with 320.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	log, err := newLogger(cx.String("log-level"), cx.String("log-format"))
	if err != nil {
		return err
	}
	if !cx.Bool("in-memory") {
		if err := checkDataDir(cx.String("data-dir")); err != nil {
			return err
		}
	}
	broker, err := vhost.New(vhost.Config{
		Logger:      log,
		DefaultUser: cx.String("default-user"),
		DefaultPass: cx.String("default-pass"),
	})
	if err != nil {
		return fmt.Errorf("cannot start the broker: %w", err)
	}
	defer broker.Close()

	ln, err := net.Listen("tcp", cx.String("listen"))
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", cx.String("listen"), err)
	}
	srv := amqp.NewServer(amqp.Config{Broker: broker, Logger: log, ReportWarren: cx.Bool("report-warren")})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	log.Info().Str("version", amqp.Version).Str("listen", ln.Addr().String()).
		Bool("in_memory", cx.Bool("in-memory")).Str("data_dir", cx.String("data-dir")).
		Dur("startup", time.Since(start)).Msg("Server startup complete")
	if !cx.Bool("in-memory") {
		log.Warn().Msg("durable storage is not implemented yet: every entity and message is kept in memory only")
	}

	select {
	case s := <-sig:
		log.Info().Str("signal", s.String()).Msg("shutting down")
	case err := <-served:
		return fmt.Errorf("serving on %s failed: %w", ln.Addr(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn().Err(err).Msg("connections did not close in time")
	}
	if err := <-served; err != nil && !errors.Is(err, amqp.ErrServerClosed) {
		return err
	}
	log.Info().Msg("stopped")
	return nil
}

// checkDataDir makes sure the data folder exists and is writable.
func checkDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("data folder %s cannot be created: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("data folder %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	os.Remove(filepath.Clean(name))
	return nil
}
