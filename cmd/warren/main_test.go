package main

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/warrenmq/warren/cmd/warren/perf"
)

var build struct {
	once sync.Once
	dir  string
	bin  string
	err  error
	out  []byte
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// buildWarren compiles the binary once per test run.
func buildWarren(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "warren-bin-")
		if build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "warren")
		build.out, build.err = exec.Command("go", "build", "-o", build.bin, ".").CombinedOutput()
	})
	if build.err != nil {
		t.Fatalf("go build: %v\n%s", build.err, build.out)
	}
	return build.bin
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// quiet turns off the HTTP API and metrics listeners, whose fixed default
// ports (15672, 15692) would collide between binaries started side by side.
func quiet(args ...string) []string {
	return append([]string{"--http-listen", "", "--metrics-listen", ""}, args...)
}

type proc struct {
	cmd   *exec.Cmd
	lines chan map[string]any
	done  chan error
}

// startWarren runs the binary with JSON logs and returns once it has logged
// "Server startup complete".
func startWarren(t *testing.T, bin string, args ...string) (*proc, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--log-format", "json"}, quiet(args...)...)...)
	cmd.Dir = t.TempDir()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan map[string]any, 100), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				select {
				case p.lines <- m:
				default:
				}
			}
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-p.lines:
			if !ok {
				t.Fatal("warren exited before startup completed")
			}
			if m["message"] == "Server startup complete" {
				return p, m["listen"].(string)
			}
		case <-deadline:
			t.Fatal("no 'Server startup complete' within 10 s")
		}
	}
}

func TestServesAndShutsDownOnSIGTERM(t *testing.T) {
	bin := buildWarren(t)
	p, addr := startWarren(t, bin, "--listen", "127.0.0.1:0", "--in-memory", "--log-level", "debug")
	conn, err := amqp091.Dial("amqp://guest:guest@" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	closed := conn.NotifyClose(make(chan *amqp091.Error, 1))
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-closed:
		if err == nil || err.Code != amqp091.ConnectionForced {
			for m := range p.lines {
				t.Logf("log: %v", m)
			}
			t.Fatalf("closed with %v, want 320 CONNECTION_FORCED", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("client not closed after SIGTERM")
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit: %v, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("warren did not exit after SIGTERM")
	}
}

func TestEnvironmentVariables(t *testing.T) {
	bin := buildWarren(t)
	cmd := exec.Command(bin, quiet("--log-format", "json")...)
	addr := freePort(t)
	cmd.Env = append(os.Environ(), "WARREN_LISTEN="+addr, "WARREN_IN_MEMORY=true",
		"RABBITMQ_DEFAULT_USER=app", "RABBITMQ_DEFAULT_PASS=s3cret")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var conn *amqp091.Connection
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if conn, err = amqp091.Dial("amqp://app:s3cret@" + addr + "/"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("dial with RABBITMQ_DEFAULT_USER/PASS: %v", err)
	}
	conn.Close()
	if _, err := amqp091.Dial("amqp://guest:guest@" + addr + "/"); err == nil {
		t.Fatal("guest logged in although another default user was set")
	}
}

func TestFailsClearlyWhenItCannotStart(t *testing.T) {
	bin := buildWarren(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ro := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(ro, 0o500)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"port-taken", []string{"--listen", ln.Addr().String(), "--in-memory"}, "cannot listen on " + ln.Addr().String()},
		{"data-dir-unwritable", []string{"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(ro, "data")}, "data folder"},
		{"bad-log-level", []string{"--log-level", "loud"}, "invalid --log-level"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "data-dir-unwritable" && os.Geteuid() == 0 {
				// root writes anywhere; use a path under a regular file instead.
				f := filepath.Join(t.TempDir(), "file")
				os.WriteFile(f, nil, 0o600)
				tc.args = []string{"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(f, "data")}
			}
			out, err := exec.Command(bin, quiet(tc.args...)...).CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
				t.Fatalf("exit %v, want non-zero; output:\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("output %q does not say %q", out, tc.want)
			}
		})
	}
}

// TestStartupTime measures process start to the first connection answered with
// connection.start (scenario 8 of cmd/bench) and logs the median of five starts.
// It polls as cmd/bench startup does: a try (perf.Prober), then 500 µs of perf.Nap
// (nanosleep on Linux; time.Sleep oversleeps short waits to a millisecond).
// A bare TCP connect would succeed as soon as the port listens, before the broker
// answers.
func TestStartupTime(t *testing.T) {
	bin := buildWarren(t)
	var took []time.Duration
	for range 5 {
		addr := freePort(t)
		start := time.Now()
		cmd := exec.Command(bin, quiet("--listen", addr, "--in-memory", "--log-level", "warn")...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		serves := perf.Prober(addr)
		for !serves() {
			if time.Since(start) > 10*time.Second {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatal("warren did not answer the protocol header within 10 s")
			}
			perf.Nap(500 * time.Microsecond)
		}
		took = append(took, time.Since(start))
		conn, err := amqp091.Dial("amqp://guest:guest@" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("start to first connection.start: median %v (min %v, max %v)", took[2], took[0], took[4])
	if took[2] > 2*time.Second {
		t.Fatalf("median start %v, want well under 2 s", took[2])
	}
}
