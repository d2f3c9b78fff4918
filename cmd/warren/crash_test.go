package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

var (
	crashRounds     = flag.Int("crash.rounds", 4, "rounds of publish, kill -9, restart and check in TestCrashLosesNoConfirmedMessage")
	crashPublishers = flag.Int("crash.publishers", 4, "publishing connections per round")
)

// crashQueue is the durable queue the crash test publishes to.
const crashQueue = "crash-test"

// ledger is what the test knows about every message id across rounds.
type ledger struct {
	mu        sync.Mutex
	confirmed map[string]bool // acked by the broker (publisher confirm)
	seen      map[string]int  // deliveries received, before and after restarts
}

func (l *ledger) confirm(id string) {
	l.mu.Lock()
	l.confirmed[id] = true
	l.mu.Unlock()
}

func (l *ledger) saw(id string) {
	l.mu.Lock()
	l.seen[id]++
	l.mu.Unlock()
}

// TestCrashLosesNoConfirmedMessage is issue 4's crash test: several publishers with
// confirms publish persistent messages to a durable queue while a consumer takes some of
// them; the broker is killed with SIGKILL at a random moment, restarted, and everything
// in the queue is consumed. Every message the broker confirmed must have been delivered,
// before the kill or after the restart (duplicates are counted, not failures: a message
// delivered and not yet acked at the kill comes back). -crash.rounds sets the rounds
// (4 by default, about 10 s); each round ends with a kill.
func TestCrashLosesNoConfirmedMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills the broker several times")
	}
	bin := buildWarren(t)
	dir := filepath.Join(t.TempDir(), "data")
	l := &ledger{confirmed: map[string]bool{}, seen: map[string]int{}}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>7))
	t.Logf("seed %d", seed)

	// Odd rounds run with a tiny memory budget, so that most of the backlog is written to
	// disk only and paged back (vhost/pager.go) while the kills happen.
	args := func(round int) []string {
		a := []string{"--listen", "127.0.0.1:0", "--data-dir", dir, "--http-listen", "", "--metrics-listen", ""}
		if round%2 == 1 {
			a = append(a, "--memory-budget", "1MiB")
		}
		return a
	}
	p, addr := startWarren(t, bin, args(0)...)
	declareCrashQueue(t, addr)
	redelivered := 0
	for round := range *crashRounds {
		killAfter := time.Duration(200+rng.IntN(1300)) * time.Millisecond
		published := crashRound(t, addr, round, killAfter, l, p)
		p, addr = startWarren(t, bin, args(round+1)...)
		n, r := drainCrashQueue(t, addr, l)
		redelivered += r
		l.mu.Lock()
		var lost []string
		for id := range l.confirmed {
			if l.seen[id] == 0 {
				lost = append(lost, id)
			}
		}
		confirmed := len(l.confirmed)
		l.mu.Unlock()
		t.Logf("round %d: killed after %v; %d published, %d confirmed so far, %d recovered and consumed (%d redelivered)",
			round, killAfter, published, confirmed, n, r)
		if len(lost) > 0 {
			if len(lost) > 10 {
				lost = lost[:10]
			}
			t.Fatalf("round %d: confirmed messages lost, e.g. %v", round, lost)
		}
	}
	dups := 0
	l.mu.Lock()
	for _, n := range l.seen {
		if n > 1 {
			dups++
		}
	}
	confirmed := len(l.confirmed)
	l.mu.Unlock()
	if confirmed == 0 {
		t.Fatal("no message was ever confirmed: the test proved nothing")
	}
	t.Logf("%d confirmed messages, none lost; %d delivered more than once; %d redelivered after restarts", confirmed, dups, redelivered)

	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("warren did not stop after SIGTERM")
	}
}

func dial(t *testing.T, addr string) *amqp091.Connection {
	t.Helper()
	c, err := amqp091.Dial("amqp://guest:guest@" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func declareCrashQueue(t *testing.T, addr string) {
	c := dial(t, addr)
	defer c.Close()
	ch, err := c.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(crashQueue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
}

// crashRound runs publishers and a consumer against the broker p and kills it after
// killAfter. It returns how many messages were published.
func crashRound(t *testing.T, addr string, round int, killAfter time.Duration, l *ledger, p *proc) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	published := 0
	for pub := range *crashPublishers {
		c, err := amqp091.Dial("amqp://guest:guest@" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := publishUntilDead(ctx, c, fmt.Sprintf("r%d-p%d", round, pub), l)
			mu.Lock()
			published += n
			mu.Unlock()
		}()
	}
	// A consumer that acks what it gets, so acks and delivered marks are in flight at the
	// kill too.
	cc := dial(t, addr)
	defer cc.Close()
	ch, err := cc.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Qos(50, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(crashQueue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			d, ok := <-deliveries
			if !ok {
				return
			}
			l.saw(string(d.Body))
			if i%3 != 2 { // leave every third one unacked until the next ack (multiple=false)
				_ = d.Ack(false)
			}
		}
	}()

	time.Sleep(killAfter)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("warren did not die")
	}
	cancel()
	waitTimeout(t, &wg, 10*time.Second)
	return published
}

// publishUntilDead publishes persistent messages with confirms (window 256) until the
// connection dies or ctx ends, recording the confirmed ids. Returns how many it sent.
func publishUntilDead(ctx context.Context, c *amqp091.Connection, prefix string, l *ledger) int {
	ch, err := c.Channel()
	if err != nil {
		return 0
	}
	if err := ch.Confirm(false); err != nil {
		return 0
	}
	const window = 256
	confirms := ch.NotifyPublish(make(chan amqp091.Confirmation, window))
	var ids []string // ids[tag-1]
	outstanding := 0
	handle := func(cf amqp091.Confirmation) {
		outstanding--
		if cf.Ack {
			l.confirm(ids[cf.DeliveryTag-1])
		}
	}
	body := strings.Repeat("x", 200)
	for i := 0; ctx.Err() == nil; i++ {
		for outstanding >= window {
			cf, ok := <-confirms
			if !ok {
				return len(ids)
			}
			handle(cf)
		}
		id := fmt.Sprintf("%s-%d", prefix, i)
		err := ch.PublishWithContext(ctx, "", crashQueue, false, false, amqp091.Publishing{
			DeliveryMode: amqp091.Persistent, Body: []byte(id), Headers: amqp091.Table{"pad": body},
		})
		if err != nil {
			break
		}
		ids = append(ids, id)
		outstanding++
		for drained := false; !drained; {
			select {
			case cf, ok := <-confirms:
				if !ok {
					return len(ids)
				}
				handle(cf)
			default:
				drained = true
			}
		}
	}
	// Take the confirms that arrived before the connection died.
	for cf := range confirms {
		handle(cf)
	}
	return len(ids)
}

// drainCrashQueue consumes every message in the queue after a restart, acks them and
// returns how many there were and how many had redelivered set.
func drainCrashQueue(t *testing.T, addr string, l *ledger) (n, redelivered int) {
	c := dial(t, addr)
	defer c.Close()
	ch, err := c.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclarePassive(crashQueue, true, false, false, false, nil)
	if err != nil {
		t.Fatalf("the durable queue is gone after the kill: %v", err)
	}
	if err := ch.Qos(1000, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(crashQueue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(20 * time.Second)
	for n < q.Messages {
		select {
		case d := <-deliveries:
			l.saw(string(d.Body))
			if d.Redelivered {
				redelivered++
			}
			n++
			if n%100 == 0 || n == q.Messages {
				if err := d.Ack(true); err != nil {
					t.Fatal(err)
				}
			}
		case <-deadline:
			t.Fatalf("consumed %d of the %d messages recovered", n, q.Messages)
		}
	}
	return n, redelivered
}

func waitTimeout(t *testing.T, wg *sync.WaitGroup, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatal("clients did not notice the broker's death")
	}
}

// TestDataFolderErrors: a data folder that is locked by another warren, written by an
// incompatible version or damaged makes warren exit non-zero with a clear message, and
// the folder is left as it was.
func TestDataFolderErrors(t *testing.T) {
	bin := buildWarren(t)
	filled := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "data")
		p, addr := startWarren(t, bin, "--listen", "127.0.0.1:0", "--data-dir", dir, "--http-listen", "", "--metrics-listen", "")
		declareCrashQueue(t, addr)
		p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
		return dir
	}
	run := func(t *testing.T, dir, want string) {
		t.Helper()
		before := listFiles(t, dir)
		out, err := exec.Command(bin, "--listen", "127.0.0.1:0", "--data-dir", dir, "--http-listen", "", "--metrics-listen", "").CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
			t.Fatalf("exit %v, want non-zero; output:\n%s", err, out)
		}
		if !strings.Contains(string(out), want) || !strings.Contains(string(out), dir) {
			t.Fatalf("output %q does not say %q and name %s", out, want, dir)
		}
		if after := listFiles(t, dir); after != before {
			t.Fatalf("folder changed:\nbefore %s\nafter  %s", before, after)
		}
		t.Logf("%s", strings.TrimSpace(string(out)))
	}
	t.Run("locked", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		p, _ := startWarren(t, bin, "--listen", "127.0.0.1:0", "--data-dir", dir, "--http-listen", "", "--metrics-listen", "")
		run(t, dir, "locked by another process")
		p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
	})
	t.Run("other version", func(t *testing.T) {
		dir := filled(t)
		if err := os.WriteFile(filepath.Join(dir, "FORMAT"), []byte("warren-store 99\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		run(t, dir, "incompatible")
	})
	t.Run("not a warren folder", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o640)
		run(t, dir, "not a warren data folder")
	})
	t.Run("damaged manifest", func(t *testing.T) {
		dir := filled(t)
		f := filepath.Join(dir, "MANIFEST")
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0xff
		os.WriteFile(f, data, 0o640)
		run(t, dir, "corrupted")
	})
}

// listFiles describes dir's files (name, size, modification time) for before/after checks.
func listFiles(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			fmt.Fprintf(&b, "%s:%d:%d ", strings.TrimPrefix(path, dir), info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}
