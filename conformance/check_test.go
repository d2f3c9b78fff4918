package conformance

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// noBroker is a URL nothing listens on; the checks below never dial it.
const noBroker = "amqp://guest:guest@127.0.0.1:1/"

func TestChecksWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Checks {
		switch {
		case seen[c.Name]:
			t.Errorf("duplicate check name %q", c.Name)
		case !strings.Contains(c.Name, "/") || strings.ContainsAny(c.Name, " \t"):
			t.Errorf("check name %q: want \"<class.method or topic>/<behaviour>\" without spaces", c.Name)
		case c.Rule == "":
			t.Errorf("check %q has no Rule", c.Name)
		case c.Run == nil:
			t.Errorf("check %q has no Run", c.Name)
		}
		seen[c.Name] = true
	}
	if len(Checks) < 100 {
		t.Errorf("%d checks, want the full suite (at least 100)", len(Checks))
	}
}

func TestRunCheckOutcomes(t *testing.T) {
	boom := errors.New("observed 1, want 2")
	cases := []struct {
		name     string
		run      func(e *Env) error
		timeout  time.Duration
		wantErr  string // substring; "" = passes
		wantSkip string
	}{
		{name: "pass", run: func(e *Env) error { return nil }},
		{name: "error", run: func(e *Env) error { return boom }, wantErr: "observed 1, want 2"},
		{name: "fatalf", run: func(e *Env) error { e.Fatalf("got %d", 3); return nil }, wantErr: "got 3"},
		{name: "skipf", run: func(e *Env) error { e.Skipf("no %s", "tls"); return nil }, wantSkip: "no tls"},
		{name: "panic", run: func(e *Env) error { var m map[string]int; m["x"] = 1; return nil }, wantErr: "check panicked"},
		{name: "timeout", timeout: 50 * time.Millisecond, run: func(e *Env) error {
			<-e.Context().Done()
			return nil
		}, wantErr: "no result within 50ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := RunCheck(context.Background(), noBroker, Check{Name: "test/" + tc.name, Rule: "r", Run: tc.run, Timeout: tc.timeout})
			if r.Check.Name != "test/"+tc.name {
				t.Errorf("Result.Check.Name = %q", r.Check.Name)
			}
			switch {
			case tc.wantErr != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), tc.wantErr)):
				t.Errorf("Err = %v, want one containing %q", r.Err, tc.wantErr)
			case tc.wantErr == "" && r.Err != nil:
				t.Errorf("Err = %v, want nil", r.Err)
			case r.Skipped != tc.wantSkip:
				t.Errorf("Skipped = %q, want %q", r.Skipped, tc.wantSkip)
			case r.Passed() != (tc.wantErr == "" && tc.wantSkip == ""):
				t.Errorf("Passed() = %v", r.Passed())
			}
		})
	}
}

func TestEnvNamesAreUniqueAndShortEnough(t *testing.T) {
	e := newEnv(context.Background(), noBroker, "queue.declare/exclusive-queue-of-another-connection-405")
	a, b := e.Queue(), e.Queue()
	if a == b {
		t.Fatalf("two Queue() names are both %q", a)
	}
	if len(a) > 255 {
		t.Fatalf("queue name of %d octets, over the shortstr limit", len(a))
	}
	if len(e.mu.queues) != 2 {
		t.Fatalf("Queue() registered %d names for cleanup, want 2", len(e.mu.queues))
	}
	if e.Vhost != "/" {
		t.Fatalf("Vhost = %q, want \"/\"", e.Vhost)
	}
}

func TestReplyTextTruncation(t *testing.T) {
	long := strings.Repeat("x", 300)
	if got := replyText(long); len(got) != 255 || !strings.HasSuffix(got, "...") || got[:252] != long[:252] {
		t.Fatalf("replyText(300 x) = %d octets %q…", len(got), got[:10])
	}
	if !textMatches(long, replyText(long)) || textMatches("abc", "abd") || !textMatches("ab*", "abd") {
		t.Fatal("textMatches")
	}
}

func TestWriteReport(t *testing.T) {
	rs := []Result{
		{Check: Check{Name: "a/pass", Rule: "rule a"}, Duration: 3 * time.Millisecond},
		{Check: Check{Name: "b/fail", Rule: "rule b"}, Err: errors.New("got 1\nwant 2")},
		{Check: Check{Name: "c/skip", Rule: "rule c"}, Skipped: "needs amqp://"},
	}
	var buf bytes.Buffer
	if failed := WriteReport(&buf, rs); failed != 1 {
		t.Errorf("WriteReport returned %d failed, want 1", failed)
	}
	want := "" +
		"PASS  a/pass  3ms\n" +
		"FAIL  b/fail  0s\n" +
		"      rule: rule b\n" +
		"      got 1\n" +
		"      want 2\n" +
		"SKIP  c/skip  needs amqp://\n" +
		"3 checks: 1 passed, 1 failed, 1 skipped\n"
	if buf.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestRunFiltersAndStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	first := Checks[0].Name
	rs := Run(ctx, noBroker, func(name string) bool { return name == first })
	if len(rs) != 1 || rs[0].Check.Name != first {
		t.Fatalf("Run with a filter for %q returned %d results", first, len(rs))
	}
	if !strings.HasPrefix(rs[0].Skipped, "not run") {
		t.Fatalf("after cancel: Skipped = %q, Err = %v; want \"not run…\"", rs[0].Skipped, rs[0].Err)
	}
}

// TestImports keeps the suite independent of the broker it checks: the package (not its tests) imports
// only the standard library and amqp091-go (doc.go).
func TestImports(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/warrenmq/warren/conformance" && p != "github.com/rabbitmq/amqp091-go" &&
			!strings.HasPrefix(p, "github.com/rabbitmq/amqp091-go/") {
			t.Errorf("conformance imports %s; want only the standard library and amqp091-go", p)
		}
	}
}
