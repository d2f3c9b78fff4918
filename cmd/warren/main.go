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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/warrenmq/warren/amqp"
	"github.com/warrenmq/warren/cmd/warren/mgmt"
	"github.com/warrenmq/warren/store"
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
		Flags: cacheNames(append([]cli.Flag{ // flagnames.go
			&cli.StringFlag{Name: "listen", Value: ":5672", EnvVars: []string{"WARREN_LISTEN"}, Usage: "address to serve AMQP on"},
			&cli.StringFlag{Name: "data-dir", Value: "./warren-data", EnvVars: []string{"WARREN_DATA_DIR"}, Usage: "folder for durable data"},
			&cli.BoolFlag{Name: "in-memory", EnvVars: []string{"WARREN_IN_MEMORY"}, Usage: "keep everything in memory; touch no disk"},
			&cli.StringFlag{Name: "memory-budget", Value: defaultMemoryBudget, EnvVars: []string{"WARREN_MEMORY_BUDGET"},
				Usage: "bytes of queued messages kept in memory; beyond it persistent messages of durable queues wait on disk (e.g. 512MiB, 2GB)"},
			// RabbitMQ's disk_free_limit default (RW:docs/disk-alarms.md).
			&cli.StringFlag{Name: "disk-free-limit", Value: "50MB", EnvVars: []string{"WARREN_DISK_FREE_LIMIT"},
				Usage: "block publishers while the data folder's disk has less free space than this (0 disables)"},
			// RabbitMQ's vm_memory_high_watermark (RW:docs/memory.md).
			&cli.StringFlag{Name: "vm-memory-high-watermark", Value: defaultWatermark, EnvVars: []string{"WARREN_VM_MEMORY_HIGH_WATERMARK"},
				Usage: "block publishers while warren uses more memory than this: a fraction of the machine's (or cgroup's) memory, or a size such as 2GiB (0 disables)"},
			&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"WARREN_LOG_LEVEL"}, Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "log-format", Value: "console", EnvVars: []string{"WARREN_LOG_FORMAT"}, Usage: "console or json"},
			&cli.StringFlag{Name: "default-user", Value: "guest", EnvVars: []string{"WARREN_DEFAULT_USER", "RABBITMQ_DEFAULT_USER"}, Usage: "user created at start (guest may connect from loopback only)"},
			&cli.StringFlag{Name: "default-pass", Value: "guest", EnvVars: []string{"WARREN_DEFAULT_PASS", "RABBITMQ_DEFAULT_PASS"}, Usage: "password of the default user"},
			&cli.BoolFlag{Name: "report-warren", EnvVars: []string{"WARREN_REPORT_WARREN"}, Usage: "name the server warren in connection.start instead of RabbitMQ"},
			configFlag(), // config.go
		}, append(accessFlags(), mgmtFlags()...)...)), // TLS, limits, loopback users: access.go; HTTP API, metrics: mgmt_cmd.go
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
	ignored, err := applyConfig(cx)
	if err != nil {
		return err
	}
	log, err := newLogger(cx.String("log-level"), cx.String("log-format"))
	if err != nil {
		return err
	}
	for _, k := range ignored {
		log.Warn().Str("config", cx.String("config")).Str("key", k).Msg("configuration setting ignored: warren has no such setting")
	}
	budget, err := parseSize(cx.String("memory-budget"))
	if err != nil || budget <= 0 {
		return fmt.Errorf("invalid --memory-budget %q: want a size such as 256MiB or 2GB", cx.String("memory-budget"))
	}
	watermark, err := parseWatermark(cx.String("vm-memory-high-watermark"), totalMemory())
	if err != nil {
		return fmt.Errorf("invalid --vm-memory-high-watermark %q: %w", cx.String("vm-memory-high-watermark"), err)
	}
	diskLimit, err := parseSize(cx.String("disk-free-limit"))
	if err != nil {
		return fmt.Errorf("invalid --disk-free-limit %q: want a size such as 50MB", cx.String("disk-free-limit"))
	}
	cfg := vhost.Config{
		Logger:        log,
		DefaultUser:   cx.String("default-user"),
		DefaultPass:   cx.String("default-pass"),
		MemoryBudget:  budget,
		DiskFreeLimit: diskLimit,
		LoopbackUsers: loopbackUsers(cx),
	}
	if !cx.Bool("in-memory") {
		// Open refuses a folder of another format, a damaged one and one locked by
		// another warren, and leaves it untouched (package store, doc.go).
		st, err := store.Open(cx.String("data-dir"), store.Options{Logger: log})
		if err != nil {
			return fmt.Errorf("cannot open the data folder: %w", err)
		}
		defer func() {
			if err := st.Close(); err != nil {
				log.Error().Err(err).Msg("closing the data folder failed")
			}
		}()
		cfg.Store = st
	}
	defs, err := readDefinitions(cx)
	if err != nil {
		return err
	}
	blank, err := blankNode(cfg.Store)
	if err != nil {
		return fmt.Errorf("cannot read the data folder: %w", err)
	}
	broker, err := vhost.New(cfg) // recovers the store's contents and logs one line about it
	if err != nil {
		return fmt.Errorf("cannot start the broker: %w", err)
	}
	defer broker.Close() // before the store closes (defers run in reverse)
	if defs != nil {     // before any listener: clients never see the node without them
		if err := loadDefinitions(log, broker, defs, blank, cfg.DefaultUser); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", cx.String("listen"))
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", cx.String("listen"), err)
	}
	scfg := amqp.Config{Broker: broker, Logger: log, ReportWarren: cx.Bool("report-warren")}
	if err := applyLimits(cx, &scfg); err != nil {
		ln.Close()
		return err
	}
	srv := amqp.NewServer(scfg)
	served := make(chan error, 2)
	go func() { served <- srv.Serve(ln) }()
	if err := serveTLS(cx, log, srv, served); err != nil {
		ln.Close()
		return err
	}
	stopMgmt, err := startMgmt(cx, log, broker, srv, ln.Addr()) // mgmt_cmd.go
	if err != nil {
		ln.Close()
		return err
	}
	defer stopMgmt() // after srv.Shutdown: the API answers while clients are closed
	stopMem := make(chan struct{})
	defer close(stopMem)
	go returnMemory(log, time.Second, 64<<20, stopMem) // memory.go
	if watermark > 0 {
		go watchMemory(broker, watermark, time.Second, stopMem) // watermark.go
	}

	log.Info().Str("version", amqp.Version).Str("listen", ln.Addr().String()).
		Bool("in_memory", cx.Bool("in-memory")).Str("data_dir", cx.String("data-dir")).
		Dur("startup", time.Since(start)).Msg("Server startup complete")

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

// parseSize reads a byte count: a plain number, or one with a unit, kB/MB/GB/TB
// (powers of 1000, as RabbitMQ's disk_free_limit) or KiB/MiB/GiB/TiB (powers of 1024),
// case-insensitive.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
		{"b", 1},
	}
	mult := int64(1)
	lower := strings.ToLower(s)
	for _, u := range units {
		if strings.HasSuffix(lower, u.suffix) {
			mult, s = u.mult, strings.TrimSpace(s[:len(s)-len(u.suffix)])
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 || n*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return int64(n * float64(mult)), nil
}

// The default memory budget is a fixed 32 MiB rather than a share of RAM: in a container
// /proc/meminfo shows the host's memory, not the cgroup's limit, so a share could exceed
// what the broker may use; and a backlog beyond it is read back from disk in pages of up
// to 1024 messages (vhost/pager.go), which the page cache mostly serves. RabbitMQ starts
// paging at half its memory watermark (0.4 × 0.5 = 20% of RAM); operators who want that
// can set --memory-budget accordingly.
const defaultMemoryBudget = "32MiB"

// definitionsFile is the --load-definitions file read at start.
type definitionsFile struct {
	path string
	data []byte
}

// readDefinitions reads the --load-definitions file; nil when none is given.
func readDefinitions(cx *cli.Context) (*definitionsFile, error) {
	path := cx.String("load-definitions")
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read --load-definitions: %w", err)
	}
	return &definitionsFile{path: path, data: data}, nil
}

// blankState says which of RabbitMQ's blank-node defaults vhost.New is about to create:
// the default user (users never initialised) and the vhost "/" (no vhost at all), as
// package vhost decides it (vhosts.go recoverUsers, recover.go). Everything in memory
// is blank.
type blankState struct{ users, vhosts bool }

func blankNode(st *store.Store) (blankState, error) {
	if st == nil {
		return blankState{users: true, vhosts: true}, nil
	}
	b := blankState{users: true, vhosts: true}
	if err := st.Entities(store.KindUser, func(string, []byte) error { b.users = false; return nil }); err != nil {
		return b, err
	}
	err := st.Entities(store.KindVhost, func(string, []byte) error { b.vhosts = false; return nil })
	return b, err
}

// loadDefinitions imports the definitions file at start, before any listener opens.
// As RabbitMQ does, a node that imports definitions at boot is not seeded with the
// default user and vhost: rabbit:maybe_insert_default_data/0 seeds them only when the
// node is blank and rabbit_definitions:has_configured_definitions_to_load/0 is false. So
// what vhost.New created for a blank node (the default user, "/") is removed before the
// import, which then defines them if the file has them. On a node with data the file
// is imported over it, keeping the users it has.
func loadDefinitions(log zerolog.Logger, broker *vhost.Broker, defs *definitionsFile, blank blankState, defaultUser string) error {
	if blank.users {
		if defaultUser == "" {
			defaultUser = "guest"
		}
		if err := broker.DeleteUser(defaultUser); err != nil && !errors.Is(err, vhost.ErrNoUser) {
			return fmt.Errorf("cannot remove the default user before importing definitions: %w", err)
		}
	}
	if blank.vhosts {
		if err := broker.DeleteVHost("/"); err != nil {
			return fmt.Errorf("cannot remove the default vhost before importing definitions: %w", err)
		}
	}
	if err := mgmt.ImportDefinitions(broker, defs.data, mgmt.ImportOptions{KeepUsers: true, Logger: log}); err != nil {
		return fmt.Errorf("cannot import %s: %w", defs.path, err)
	}
	log.Info().Str("file", defs.path).Msg("definitions imported")
	return nil
}
