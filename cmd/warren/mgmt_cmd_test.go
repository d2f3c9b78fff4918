package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The binary's other tests start it with the default listeners; RabbitMQ's fixed ports
// 15672 and 15692 may be taken on a test machine (a real RabbitMQ, another test run), so
// they get a free loopback port each instead.
func init() {
	os.Setenv("WARREN_HTTP_LISTEN", "127.0.0.1:0")
	os.Setenv("WARREN_METRICS_LISTEN", "127.0.0.1:0")
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("guest", "guest")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// --http-listen and --metrics-listen serve the management API and the metrics.
func TestManagementAndMetricsListeners(t *testing.T) {
	bin := buildWarren(t)
	api, metrics := freePort(t), freePort(t)
	startWarren(t, bin, "--listen", "127.0.0.1:0", "--in-memory", "--http-listen", api, "--metrics-listen", metrics)
	if code, body := httpGet(t, "http://"+api+"/api/whoami"); code != 200 || body != `{"name":"guest","tags":["administrator"]}` {
		t.Fatalf("whoami: %d %s", code, body)
	}
	code, body := httpGet(t, "http://"+metrics+"/metrics")
	if code != 200 || !strings.Contains(body, "\nrabbitmq_connections 0\n") || !strings.Contains(body, "rabbitmq_queues 0") {
		t.Fatalf("metrics: %d %s", code, body)
	}
}

// An empty address disables a listener; a taken one stops the start with a message.
func TestManagementListenerFlags(t *testing.T) {
	bin := buildWarren(t)
	out, err := runUntilStarted(t, bin, "--listen", "127.0.0.1:0", "--in-memory", "--http-listen", "", "--metrics-listen", "")
	if err != nil || !strings.Contains(out, "Server startup complete") || strings.Contains(out, "listening") {
		t.Fatalf("err %v, output %s", err, out)
	}
	api := freePort(t)
	out, err = runUntilStarted(t, bin, "--listen", "127.0.0.1:0", "--in-memory", "--http-listen", api, "--metrics-listen", "")
	if err != nil || !strings.Contains(out, "management API listening") || strings.Contains(out, "Prometheus") {
		t.Fatalf("err %v, output %s", err, out)
	}
	taken := freePort(t)
	out, err = runUntilStarted(t, bin, "--listen", "127.0.0.1:0", "--in-memory", "--http-listen", taken, "--metrics-listen", taken)
	if err == nil || !strings.Contains(out, "cannot listen on "+taken+" (--metrics-listen)") {
		t.Fatalf("err %v, output %s", err, out)
	}
}

// runUntilStarted runs the binary until it logs "Server startup complete" (then stops it
// with SIGTERM) or exits; it returns its log and, if it exited by itself, its error.
func runUntilStarted(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--log-format", "json"}, args...)...)
	cmd.Dir = t.TempDir()
	var buf syncBuffer
	cmd.Stderr = &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for range 1000 { // 10 s
		select {
		case err := <-done:
			return buf.String(), err
		case <-time.After(10 * time.Millisecond):
		}
		if strings.Contains(buf.String(), "Server startup complete") {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				t.Fatal("no exit 10 s after SIGTERM")
			}
			return buf.String(), nil
		}
	}
	cmd.Process.Kill()
	t.Fatalf("no startup within 10 s: %s", buf.String())
	return "", nil
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// --load-definitions imports a file exported from RabbitMQ at start.
func TestLoadDefinitions(t *testing.T) {
	bin := buildWarren(t)
	api := freePort(t)
	defs, err := filepath.Abs("mgmt/testdata/rabbitmq-3.10.8-definitions.json")
	if err != nil {
		t.Fatal(err)
	}
	startWarren(t, bin, "--listen", "127.0.0.1:0", "--in-memory", "--http-listen", api, "--load-definitions", defs)
	code, body := httpGet(t, "http://"+api+"/api/queues/dev/app.orders")
	if code != 200 || !strings.Contains(body, `"x-overflow":"reject-publish"`) {
		t.Fatalf("imported queue: %d %s", code, body)
	}
	out, err := runUntilStarted(t, bin, "--listen", "127.0.0.1:0", "--in-memory", "--load-definitions", "/nonexistent.json")
	if err == nil || !strings.Contains(out, "cannot read --load-definitions") {
		t.Fatalf("err %v, output %s", err, out)
	}
}
