package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/warrenmq/warren/cmd/warren/perf"
)

// startPoll is how often startup tries the port: a broker that serves right after a
// try is seen up to startPoll (plus the timer slack of the sleep) late, half that on
// average. Tries cost the measured broker CPU on a busy machine, so they are cheap
// ones (perf.Prober on Linux: about 18 µs of CPU each with raw system calls, 40 µs
// through package net) and not too frequent: polling every 500 µs takes 7.6% of a
// core (bench wait on a closed port for 2 s under perf stat: 152 ms of CPU, 3,937
// context switches; 194 ms and 11,467 with the time.Sleep(200µs) it replaced).
const startPoll = 500 * time.Microsecond

func startupCommand() *cli.Command {
	return &cli.Command{
		Name:      "startup",
		Usage:     "scenario 8: start a broker command and time it until it answers AMQP on --addr",
		ArgsUsage: "-- command [args...]",
		Flags: append(resultFlags(),
			&cli.StringFlag{Name: "addr", Required: true, Usage: "host:port the broker will serve"},
			&cli.DurationFlag{Name: "timeout", Value: 2 * time.Minute},
			&cli.BoolFlag{Name: "kill", Usage: "stop the command (SIGTERM) once measured; without it the command must exit by itself (rabbitmq.sh start does)"},
			&cli.StringFlag{Name: "log", Usage: "file for the command's output (default: discarded)"},
		),
		Action: func(cx *cli.Context) error {
			argv := cx.Args().Slice()
			if len(argv) == 0 {
				return errors.New("startup: no command given")
			}
			var out io.Writer = io.Discard
			if p := cx.String("log"); p != "" {
				f, err := os.Create(p)
				if err != nil {
					return err
				}
				defer f.Close()
				out = f
			}
			addr := cx.String("addr")
			if perf.ServesAMQP(addr) {
				return fmt.Errorf("startup: %s already serves AMQP", addr)
			}
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Stdout, cmd.Stderr = out, out
			start := time.Now()
			if err := cmd.Start(); err != nil {
				return err
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			took, err := waitServing(addr, start, cx.Duration("timeout"), exited, cx.Bool("kill"))
			if cx.Bool("kill") {
				stop(cmd, exited)
			} else if err == nil {
				if err = <-exited; err != nil { // the launcher returns once the broker serves
					err = fmt.Errorf("startup: %s: %w", argv[0], err)
				}
			}
			if err != nil {
				return err
			}
			ms := float64(took) / float64(time.Millisecond)
			fmt.Fprintf(cx.App.ErrWriter, "  scenario 8 %-8s round %d: %.1f ms to first accepted connection\n", cx.String("broker"), cx.Int("round"), ms)
			return appendResult(cx.String("out"), result{Scenario: 8, Broker: cx.String("broker"), Round: cx.Int("round"),
				Metrics: map[string]float64{"startup_ms": ms}})
		},
	}
}

func waitCommand() *cli.Command {
	return &cli.Command{
		Name:  "wait",
		Usage: "wait until --addr answers AMQP",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Required: true},
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second},
		},
		Action: func(cx *cli.Context) error {
			_, err := waitServing(cx.String("addr"), time.Now(), cx.Duration("timeout"), nil, false)
			return err
		},
	}
}

// waitServing polls addr until it answers AMQP and returns the time since start.
// A command that exits first fails the wait when it is the broker itself (kill).
func waitServing(addr string, start time.Time, timeout time.Duration, exited chan error, isBroker bool) (time.Duration, error) {
	serves := perf.Prober(addr)
	for {
		if serves() {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			return 0, fmt.Errorf("startup: %s did not serve AMQP within %v", addr, timeout)
		}
		if isBroker {
			select {
			case err := <-exited:
				exited <- err // for stop
				return 0, fmt.Errorf("startup: the broker exited before serving: %v", err)
			default:
			}
		}
		perf.Nap(startPoll)
	}
}

// stop ends the measured broker: SIGTERM, then SIGKILL after 10 s.
func stop(cmd *exec.Cmd, exited chan error) {
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}
