package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// The floor's stream goes through a relay and yields ordered percentiles, and the
// report prints them under scenario 5.
func TestFloor(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	relayed := make(chan error, 1)
	go func() { relayed <- relay(ln) }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := streamThrough(ctx, ln.Addr().String(), os.Getpid(), 1000, 300*time.Millisecond, 16)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-relayed; err != nil {
		t.Fatalf("relay: %v", err)
	}
	if !(m["p50_us"] > 0 && m["p50_us"] <= m["p99_us"] && m["p99_us"] <= m["p999_us"]) || m["cpu_us"] < 0 {
		t.Fatalf("figures %v: want 0 < p50 <= p99 <= p99.9 and CPU >= 0", m)
	}
	if out := floorReport(m); !strings.Contains(out, "floor: a bare TCP relay process") {
		t.Fatalf("report has no floor line:\n%s", out)
	}
}

// measureFloor starts the relay as a process of its own (here the test binary, which
// TestMain turns into the relay command) and measures through it.
func TestFloorProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := measureFloor(ctx, 1000, 200*time.Millisecond, 16)
	if err != nil {
		t.Fatal(err)
	}
	if m["p50_us"] <= 0 || m["p999_us"] < m["p50_us"] {
		t.Fatalf("figures %v", m)
	}
	if m["direct_p50_us"] <= 0 || m["direct_p999_us"] < m["direct_p50_us"] {
		t.Fatalf("figures without the relay %v", m)
	}
	// Latencies in µs of a loopback stream: well under a second, or the timestamps
	// are read in the wrong unit. The relay's CPU is measured; the direct stream's not.
	if m["p999_us"] >= 1e6 || m["direct_p999_us"] >= 1e6 {
		t.Fatalf("figures %v: a latency of a second or more", m)
	}
	if _, ok := m["cpu_us"]; !ok {
		t.Fatalf("figures %v: no relay CPU", m)
	}
	if _, ok := m["direct_cpu_us"]; ok {
		t.Fatalf("figures %v: CPU for the stream without a relay process", m)
	}
	if out := floorReport(m); !strings.Contains(out, "without the relay") {
		t.Fatalf("report has no line for the stream without the relay:\n%s", out)
	}
}

// floorReport is the report of one round of scenario 5 with floor figures m.
func floorReport(m map[string]float64) string {
	var out bytes.Buffer
	writeReport(&out, []result{
		{Scenario: 5, Broker: "warren", Round: 1, Metrics: map[string]float64{"p99_us": 300}},
		{Scenario: 5, Broker: "rabbitmq", Round: 1, Metrics: map[string]float64{"p99_us": 900}},
		{Scenario: 5, Broker: floorBroker, Round: 1, Metrics: m},
	}, nil)
	return out.String()
}
