package main

import (
	"bytes"
	"context"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/cmd/warren/perf"
	"github.com/warrenmq/warren/conformance/warrentest"
)

// fakeBrokerEnv makes the test binary, re-executed, a stand-in broker for the startup
// test: it listens on the address in the variable and answers every connection with
// one method-frame octet, as a broker's connection.start begins.
const fakeBrokerEnv = "BENCH_FAKE_BROKER"

func TestMain(m *testing.M) {
	if addr := os.Getenv(fakeBrokerEnv); addr != "" {
		fakeBroker(addr)
		return
	}
	if len(os.Args) == 2 && os.Args[1] == "relay" { // measureFloor's child, in TestFloorProcess
		if err := newApp().Run(os.Args); err != nil {
			os.Exit(6)
		}
		return
	}
	os.Exit(m.Run())
}

func fakeBroker(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		os.Exit(3)
	}
	go func() { // bounded: the test's SIGTERM ends the process, or this does
		time.Sleep(30 * time.Second)
		os.Exit(4)
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(5)
		}
		c.Write([]byte{1})
		c.Close()
	}
}

// Every scenario the helper runs works against a broker and yields the figures the
// report shows (CI runs each briefly and asserts nothing about speed).
func TestScenarios(t *testing.T) {
	url := warrentest.Start(t)
	e := env{url: url, pid: os.Getpid(), duration: 300 * time.Millisecond, queued: 2000, conns: 20, settle: 10 * time.Millisecond, settleLong: 20 * time.Millisecond}
	for _, sc := range scenarios {
		if sc.run == nil {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			m, err := sc.run(ctx, e)
			if err != nil {
				t.Fatal(err)
			}
			for _, mt := range sc.metrics {
				v, ok := m[mt.key]
				if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("%s: %v (present %v)", mt.key, v, ok)
				}
			}
			for _, key := range []string{"deliver_rate", "confirm_rate", "drain_rate"} {
				if v, ok := m[key]; ok && v <= 0 && hasMetric(sc, key) {
					t.Errorf("%s = %v: no messages flowed", key, v)
				}
			}
		})
	}
}

func hasMetric(sc scenario, key string) bool {
	for _, m := range sc.metrics {
		if m.key == key {
			return true
		}
	}
	return false
}

// The scenario command appends one JSON line per run, which report reads back.
func TestScenarioCommandAndReport(t *testing.T) {
	url := warrentest.Start(t)
	out := filepath.Join(t.TempDir(), "results.jsonl")
	for round := range 2 {
		for _, b := range brokers {
			args := []string{"bench", "scenario", "--id", "2", "--broker", b, "--round", string(rune('1' + round)),
				"--out", out, "--url", url, "--pid", "0", "--duration", "200ms"}
			if err := runApp(t, args...); err != nil {
				t.Fatal(err)
			}
		}
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rs, err := readResults(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4 {
		t.Fatalf("%d results, want 4", len(rs))
	}
	for _, r := range rs {
		if r.Scenario != 2 || r.Metrics["deliver_rate"] <= 0 {
			t.Errorf("result %+v", r)
		}
	}
}

// The report shows medians per broker, the ratio and who did better, in the direction
// each figure is better.
func TestReport(t *testing.T) {
	rs := []result{
		{1, "warren", 1, map[string]float64{"deliver_rate": 100, "cpu_us": 1}},
		{1, "warren", 2, map[string]float64{"deliver_rate": 300, "cpu_us": 3}},
		{1, "warren", 3, map[string]float64{"deliver_rate": 200, "cpu_us": 2}},
		{1, "rabbitmq", 1, map[string]float64{"deliver_rate": 50, "cpu_us": 1}},
		{1, "rabbitmq", 2, map[string]float64{"deliver_rate": 40, "cpu_us": 1}},
		{8, "warren", 1, map[string]float64{"startup_ms": 6}},
		{8, "rabbitmq", 1, map[string]float64{"startup_ms": 3000}},
	}
	var b bytes.Buffer
	writeReport(&b, rs, map[int][]string{8: {"a note"}})
	out := b.String()
	for _, want := range []string{
		"deliveries/s", " 200 ", " 45.0 ", "4.44×", // median of 100, 300, 200 and of 50, 40
		"rounds: warren 3, rabbitmq 2",
		"note: a note",
		"0.0020×", // 6 ms / 3000 ms
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(out, "\n")
	for _, l := range lines {
		switch {
		case strings.Contains(l, "deliveries/s") && !strings.Contains(l, "warren  "):
			t.Errorf("a higher rate should favour warren: %q", l)
		case strings.Contains(l, "broker CPU") && !strings.Contains(l, "rabbitmq  "):
			t.Errorf("more CPU per message should favour rabbitmq: %q", l)
		case strings.HasPrefix(strings.TrimSpace(l), "ms ") && !strings.Contains(l, "warren  "):
			t.Errorf("a shorter start should favour warren: %q", l)
		}
	}
	if strings.Contains(out, "\n2 ") {
		t.Errorf("scenario 2 has no results but is in the report:\n%s", out)
	}
}

// startup times a command until its address answers AMQP, and stops it.
func TestStartup(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the fake broker takes the port over
	t.Setenv(fakeBrokerEnv, addr)
	out := filepath.Join(t.TempDir(), "results.jsonl")
	begin := time.Now()
	if err := runApp(t, "bench", "startup", "--broker", "warren", "--out", out, "--addr", addr, "--kill", "--timeout", "20s", "--", os.Args[0]); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rs, err := readResults(f)
	if err != nil || len(rs) != 1 {
		t.Fatalf("results %v, %v", rs, err)
	}
	ms := rs[0].Metrics["startup_ms"]
	if ms <= 0 || ms > float64(time.Since(begin).Milliseconds()) {
		t.Errorf("startup_ms %v within a %v test", ms, time.Since(begin))
	}
	if perf.ServesAMQP(addr) {
		t.Errorf("the started command still serves %s after --kill", addr)
	}
}

func runApp(t *testing.T, args ...string) error {
	t.Helper()
	app := newApp()
	var errOut bytes.Buffer
	app.Writer, app.ErrWriter = &errOut, &errOut
	err := app.Run(args)
	t.Logf("%s", errOut.String())
	return err
}
