package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/warrenmq/warren/cmd/warren/perf"
)

// floorBroker is the name scenario 5's floor is filed under in the results.
const floorBroker = "floor"

// floorCommand measures the floor under scenario 5's latency on this machine: the same
// fixed-rate stream of timestamped messages through a bare TCP relay, a process of its
// own that copies one socket to another (no AMQP, no queue, no acks). A broker has the
// same two hops between processes to make, and the same wake-ups of a sleeping thread
// at each, so on a shared VM its tail cannot be much below this. The same stream without
// the relay, producer to consumer in one process, shows what those wake-ups cost.
func floorCommand() *cli.Command {
	return &cli.Command{
		Name:  "floor",
		Usage: "scenario 5's floor: latency through a bare TCP relay process at the same rate",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "round", Value: 1, Usage: "round number"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "results file (JSON lines, appended)"},
			&cli.Float64Flag{Name: "rate", Value: latencyRate, Usage: "messages per second"},
			&cli.DurationFlag{Name: "duration", Value: 8 * time.Second, Usage: "measurement time"},
			&cli.IntFlag{Name: "size", Value: perf.DefaultConfig().Size, Usage: "message size in bytes (at least 8: the timestamp)"},
		},
		Action: func(cx *cli.Context) error {
			m, err := measureFloor(cx.Context, cx.Float64("rate"), cx.Duration("duration"), cx.Int("size"))
			if err != nil {
				return err
			}
			r := result{Scenario: 5, Broker: floorBroker, Round: cx.Int("round"), Metrics: m}
			fmt.Fprintf(cx.App.ErrWriter, "  scenario 5 %-8s round %d: %s; without the relay: %s p50, %s p99, %s p99.9 µs\n",
				floorBroker, r.Round, brief(scenarioByID(5), m),
				formatValue(m["direct_p50_us"]), formatValue(m["direct_p99_us"]), formatValue(m["direct_p999_us"]))
			return appendResult(cx.String("out"), r)
		},
	}
}

// relayCommand is the relay process floorCommand starts: it accepts two connections on
// the listener passed as file descriptor 3 and copies the first to the second until the
// first ends.
func relayCommand() *cli.Command {
	return &cli.Command{
		Name:   "relay",
		Hidden: true,
		Action: func(*cli.Context) error {
			ln, err := net.FileListener(os.NewFile(3, "listener"))
			if err != nil {
				return fmt.Errorf("relay: %w", err)
			}
			return relay(ln)
		},
	}
}

// relay accepts a source and a sink connection on ln and copies source to sink.
func relay(ln net.Listener) error {
	defer ln.Close()
	src, err := ln.Accept()
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := ln.Accept()
	if err != nil {
		return err
	}
	defer dst.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// measureFloor starts the relay process, streams rate messages a second through it for
// d and returns the latency percentiles and the relay's CPU time per message, under the
// keys scenario 5's metrics use; then the same stream without the relay (streamDirect),
// under the same keys with "direct_" before them.
func measureFloor(ctx context.Context, rate float64, d time.Duration, size int) (map[string]float64, error) {
	if rate <= 0 || size < 8 {
		return nil, fmt.Errorf("floor: need a positive rate and a size of at least 8")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	lf, err := ln.(*net.TCPListener).File()
	addr := ln.Addr().String()
	ln.Close() // the child has its own copy
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		lf.Close()
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "relay")
	cmd.ExtraFiles = []*os.File{lf}
	cmd.Stderr = os.Stderr
	err = cmd.Start()
	lf.Close()
	if err != nil {
		return nil, fmt.Errorf("floor: start the relay: %w", err)
	}
	defer func() {
		cmd.Process.Kill() // ends by itself when the source closes; this is for errors
		cmd.Wait()
	}()
	m, err := streamThrough(ctx, addr, cmd.Process.Pid, rate, d, size)
	if err != nil {
		return nil, err
	}
	direct, err := streamDirect(ctx, rate, d, size)
	if err != nil {
		return nil, err
	}
	for k, v := range direct {
		m["direct_"+k] = v
	}
	return m, nil
}

// streamThrough sends timestamped messages of size bytes at rate to addr's relay on one
// connection and times their arrival on another, for d. pid is the relay's process.
func streamThrough(ctx context.Context, addr string, pid int, rate float64, d time.Duration, size int) (map[string]float64, error) {
	src, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	return stream(ctx, src, dst, pid, rate, d, size)
}

// streamDirect is streamThrough without the relay: the stream goes over one loopback
// connection from the producer to the consumer, both in this process. What the relay
// adds to it is the price of waking another process, which a broker pays twice.
func streamDirect(ctx context.Context, rate float64, d time.Duration, size int) (map[string]float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	src, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst := <-accepted
	if dst == nil {
		return nil, fmt.Errorf("floor: accept the direct stream's connection")
	}
	defer dst.Close()
	return stream(ctx, src, dst, 0, rate, d, size)
}

// stream sends timestamped messages on src and times their arrival on dst. With pid > 0
// it also reports that process's CPU time per message.
func stream(ctx context.Context, src, dst net.Conn, pid int, rate float64, d time.Duration, size int) (map[string]float64, error) {
	n := max(1, int(rate*d.Seconds()))
	lat := make([]float64, 0, n)
	got := make(chan error, 1)
	dst.SetReadDeadline(time.Now().Add(d + 10*time.Second))
	go func() {
		msg := make([]byte, size)
		for range n {
			if _, err := io.ReadFull(dst, msg); err != nil {
				got <- fmt.Errorf("floor: read the stream: %w", err)
				return
			}
			lat = append(lat, float64(time.Now().UnixNano()-int64(binary.BigEndian.Uint64(msg)))/1e3)
		}
		got <- nil
	}()
	var cpu0 time.Duration
	if pid > 0 {
		var err error
		if cpu0, _, err = perf.ProcUsage(pid); err != nil {
			return nil, err
		}
	}
	msg := make([]byte, size)
	tm := time.NewTimer(time.Hour)
	defer tm.Stop()
	start := time.Now()
	for k := range n {
		// Message k is due at start + k/rate, as the load tool paces a producer.
		if wait := time.Until(start.Add(time.Duration(float64(k) / rate * float64(time.Second)))); wait > 0 {
			tm.Reset(wait)
			select {
			case <-tm.C:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		binary.BigEndian.PutUint64(msg, uint64(time.Now().UnixNano()))
		if _, err := src.Write(msg); err != nil {
			return nil, fmt.Errorf("floor: write the stream: %w", err)
		}
	}
	if err := <-got; err != nil {
		return nil, err
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	m := map[string]float64{"p50_us": q(0.50), "p99_us": q(0.99), "p999_us": q(0.999)}
	if pid > 0 {
		cpu1, _, err := perf.ProcUsage(pid)
		if err != nil {
			return nil, err
		}
		m["cpu_us"] = float64(cpu1-cpu0) / float64(time.Microsecond) / float64(n)
	}
	return m, nil
}
