package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"time"
)

// Check is one behaviour of a broker, checked through amqp091-go.
type Check struct {
	// Name is "<class.method or topic>/<behaviour>", e.g. "queue.declare/passive-missing-404".
	// Names are unique and stable: reports and -run patterns refer to them.
	Name string
	// Rule says where the behaviour comes from: the AMQP 0-9-1 specification (class.method, rule or
	// field name) and/or the RabbitMQ documentation or source that defines or overrides it.
	Rule string
	// Run performs the check. It returns nil, or an error saying what was observed and what was expected.
	// It may also stop early through e.Fatalf / e.Skipf.
	Run func(e *Env) error
	// Timeout bounds the check; zero means DefaultTimeout.
	Timeout time.Duration
}

// DefaultTimeout bounds a check that sets no Timeout. A check normally takes well under a second;
// the margin is for a loaded CI machine.
const DefaultTimeout = 15 * time.Second

// Result is the outcome of one check.
type Result struct {
	Check    Check
	Err      error  // nil when the check passed or was skipped
	Skipped  string // non-empty (the reason) when the check did not apply to this broker or URL
	Duration time.Duration
}

// Passed reports whether the check ran and passed.
func (r Result) Passed() bool { return r.Err == nil && r.Skipped == "" }

// Checks lists every check in a stable order: connection, channel, exchange, queue, routing, basic,
// confirms, transactions.
var Checks = concat(
	connectionChecks,
	channelChecks,
	frameChecks,
	exchangeChecks,
	queueChecks,
	routingChecks,
	basicChecks,
	propertiesChecks,
	confirmChecks,
	txChecks,
	replyToChecks,
	extensionChecks,
	extension2Checks,
)

func concat(lists ...[]Check) []Check {
	var all []Check
	for _, l := range lists {
		all = append(all, l...)
	}
	return all
}

// Run runs every check whose name satisfies match (nil means all) against the broker at url, one after
// the other, and returns their results in the order of [Checks]. It stops starting new checks once ctx is
// done; the checks not run are reported as skipped.
func Run(ctx context.Context, url string, match func(name string) bool) []Result {
	var rs []Result
	for _, c := range Checks {
		if match != nil && !match(c.Name) {
			continue
		}
		if ctx.Err() != nil {
			rs = append(rs, Result{Check: c, Skipped: "not run: " + ctx.Err().Error()})
			continue
		}
		rs = append(rs, RunCheck(ctx, url, c))
	}
	return rs
}

// errAbandoned is reported when a check neither finished nor let go after its connections were closed.
var errAbandoned = errors.New("conformance: check did not return after its deadline and its connections were closed")

// RunCheck runs one check against url with its own deadline, then closes what it opened and deletes what
// it declared.
func RunCheck(ctx context.Context, url string, c Check) Result {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	e := newEnv(ctx, url, c.Name)

	start := time.Now()
	done := make(chan Result, 1)
	go func() { done <- e.run(c) }()

	var r Result
	select {
	case r = <-done:
	case <-ctx.Done():
		// A client call is blocked on a broker that does not answer: closing the sockets unblocks it.
		e.abort()
		var inner error
		select {
		case r = <-done:
			inner = r.Err
		case <-time.After(5 * time.Second):
			inner = errAbandoned
		}
		if inner == nil {
			inner = ctx.Err()
		}
		r = Result{Err: fmt.Errorf("no result within %v (the broker did not answer in time): %w", timeout, inner)}
	}
	e.cleanup()
	r.Check = c
	r.Duration = time.Since(start)
	return r
}

// run calls c.Run, turning Fatalf/Skipf (which unwind with panic) and real panics into a Result.
func (e *Env) run(c Check) (r Result) {
	defer func() {
		switch v := recover().(type) {
		case nil:
		case fatal:
			r = Result{Err: v.err}
		case skip:
			r = Result{Skipped: v.reason}
		default:
			r = Result{Err: fmt.Errorf("check panicked: %v\n%s", v, debug.Stack())}
		}
	}()
	return Result{Err: c.Run(e)}
}

// WriteReport writes one line per result (PASS, FAIL or SKIP, name, duration), with the rule and the
// observed-versus-expected reply under each failure, then a summary line. It returns the number of failed
// checks.
func WriteReport(w io.Writer, rs []Result) (failed int) {
	width := 0
	for _, r := range rs {
		width = max(width, len(r.Check.Name))
	}
	var passed, skipped int
	for _, r := range rs {
		d := r.Duration.Round(time.Millisecond)
		switch {
		case r.Err != nil:
			failed++
			fmt.Fprintf(w, "FAIL  %-*s  %v\n", width, r.Check.Name, d)
			fmt.Fprintf(w, "      rule: %s\n", r.Check.Rule)
			for _, line := range strings.Split(strings.TrimRight(r.Err.Error(), "\n"), "\n") {
				fmt.Fprintf(w, "      %s\n", line)
			}
		case r.Skipped != "":
			skipped++
			fmt.Fprintf(w, "SKIP  %-*s  %s\n", width, r.Check.Name, r.Skipped)
		default:
			passed++
			fmt.Fprintf(w, "PASS  %-*s  %v\n", width, r.Check.Name, d)
		}
	}
	fmt.Fprintf(w, "%d checks: %d passed, %d failed, %d skipped\n", len(rs), passed, failed, skipped)
	return failed
}
