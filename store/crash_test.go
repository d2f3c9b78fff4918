package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

var crashRounds = flag.Int("store.crashrounds", 3, "kill -9 rounds in TestCrashKeepsEveryAcknowledgedCommit")

const crashEnv = "WARREN_STORE_CRASH_DIR"

// crashBody is the body of message id, so the parent can check contents.
// One in 61 is over 1 MiB, stored in pieces ahead of its batch.
func crashBody(id uint64) []byte {
	n := 1 + int(id%97)
	if id%61 == 0 {
		n = 300_000
	}
	return bytes.Repeat([]byte(strconv.FormatUint(id, 36)+";"), n)
}

// TestCrashHelper is the child process of the crash tests: it commits
// batches from several goroutines until killed, printing one line per
// acknowledged batch ("put ID FAN ENTITY", "ack ID MARKED") and one before
// submitting an ack ("try ID").
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("child process of the crash tests")
	}
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Printf("open %v\n", err)
		os.Exit(3)
	}
	var outMu sync.Mutex
	say := func(format string, a ...any) {
		line := fmt.Sprintf(format+"\n", a...)
		outMu.Lock()
		os.Stdout.WriteString(line) // one write(2) per line: survives kill -9
		outMu.Unlock()
	}
	say("ready")
	first := s.LastMessageID() + 1
	const workers = 8
	for w := range uint64(workers) {
		go func() {
			window := make(chan struct{}, 16) // commits in flight per worker
			for i := uint64(0); ; i++ {
				id := first + i*workers + w
				var b Batch
				b.PutMessage(id, crashBody(id))
				b.Enqueue("q", id, id)
				fan := id%5 == 0
				if fan {
					b.Enqueue("q2", id, id)
				}
				if id%7 == 0 {
					b.PutEntity(KindQueue, fmt.Sprint("e", id), []byte("durable"))
				}
				window <- struct{}{}
				s.Commit(&b, func(err error) {
					if err == nil {
						say("put %d %t %t", id, fan, id%7 == 0)
					}
					<-window
				})
				if i%2 == 1 { // ack the previous message of this worker
					prev := id - workers
					var a Batch
					a.MarkDelivered("q", id) // stays: the entry comes back redelivered
					a.Ack("q", prev)
					if prev%5 == 0 {
						a.Ack("q2", prev)
					}
					window <- struct{}{}
					say("try %d", prev) // from now on prev may be gone
					s.Commit(&a, func(err error) {
						if err == nil {
							say("ack %d %d", prev, id)
						}
						<-window
					})
				}
			}
		}()
	}
	select {} // until killed
}

type crashLog struct {
	put       map[uint64]bool // acknowledged puts: id → fanned out to q2
	delivered map[uint64]bool // ids whose entry on q was acknowledged as delivered
	tried     map[uint64]bool // acks submitted: their entries may be gone
	acked     map[uint64]bool // acks acknowledged: their entries must be gone
	entities  []uint64
}

func newCrashLog() *crashLog {
	return &crashLog{put: map[uint64]bool{}, delivered: map[uint64]bool{}, tried: map[uint64]bool{}, acked: map[uint64]bool{}}
}

// runCrashChild starts the helper on dir, kills it with SIGKILL after a
// random delay once it is ready, and returns what it acknowledged.
func runCrashChild(t *testing.T, dir string, log *crashLog) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, out)
	}()
	deadline := time.After(20 * time.Second)
	var kill <-chan time.Time
	for {
		select {
		case <-deadline:
			cmd.Process.Kill()
			t.Fatal("crash child: no progress within 20s")
		case <-kill:
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			kill = nil
		case line, ok := <-lines:
			if !ok {
				err := cmd.Wait()
				if ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() {
					t.Fatalf("crash child ended without being killed: %v", err)
				}
				return
			}
			f := strings.Fields(line)
			switch {
			case f[0] == "ready":
				kill = time.After(time.Duration(50+rand.IntN(500)) * time.Millisecond)
			case f[0] == "put" && len(f) == 4:
				id, _ := strconv.ParseUint(f[1], 10, 64)
				log.put[id] = f[2] == "true"
				if f[3] == "true" {
					log.entities = append(log.entities, id)
				}
			case f[0] == "try" && len(f) == 2:
				id, _ := strconv.ParseUint(f[1], 10, 64)
				log.tried[id] = true
			case f[0] == "ack" && len(f) == 3:
				id, _ := strconv.ParseUint(f[1], 10, 64)
				log.acked[id] = true
				marked, _ := strconv.ParseUint(f[2], 10, 64)
				log.delivered[marked] = true
			default:
				t.Fatalf("crash child said %q", line)
			}
		}
	}
}

func TestCrashKeepsEveryAcknowledgedCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	dir := t.TempDir()
	log := newCrashLog()
	for round := range *crashRounds {
		runCrashChild(t, dir, log)
		s, err := Open(dir, testOptions(t))
		if err != nil {
			t.Fatalf("round %d: reopen after kill -9: %v", round, err)
		}
		checkCrashLog(t, s, log)
		checkRefs(t, s)
		t.Logf("round %d: %d puts and %d acks acknowledged so far", round, len(log.put), len(log.acked))
		mustClose(t, s)
	}
	if len(log.put) == 0 || len(log.acked) == 0 {
		t.Fatalf("the child acknowledged %d puts and %d acks: nothing was tested", len(log.put), len(log.acked))
	}
}

// checkCrashLog asserts that every acknowledged put is there (unless an ack
// for it was submitted) with its body, every acknowledged ack took its
// entries away, and every acknowledged delivered mark is set.
func checkCrashLog(t *testing.T, s *Store, log *crashLog) {
	t.Helper()
	present := map[string]map[uint64]Message{"q": {}, "q2": {}}
	for q, m := range present {
		for _, msg := range messages(t, s, q) {
			m[msg.Seq] = msg
		}
	}
	for id, fan := range log.put {
		for _, q := range []string{"q", "q2"} {
			if q == "q2" && !fan {
				continue
			}
			msg, ok := present[q][id]
			switch {
			case log.acked[id] && ok:
				t.Errorf("%s: message %d is back although its ack was acknowledged", q, id)
			case !log.tried[id] && !ok:
				t.Errorf("%s: acknowledged message %d is lost", q, id)
			case ok && !bytes.Equal(msg.Data, crashBody(id)):
				t.Errorf("%s: message %d has body %q", q, id, msg.Data)
			case ok && q == "q" && log.delivered[id] && !msg.Delivered:
				t.Errorf("%s: message %d lost its acknowledged delivered mark", q, id)
			}
		}
	}
	ents := entities(t, s, KindQueue)
	for _, id := range log.entities {
		if _, ok := ents[fmt.Sprint("e", id)]; !ok {
			t.Errorf("acknowledged entity e%d is lost", id)
		}
	}
}

// checkRefs asserts the reference-count invariant: every shared body has a
// count equal to the number of index entries pointing at it, nothing else
// is under 'm' or 'r', and pieces exist exactly for chunked bodies.
func checkRefs(t *testing.T, s *Store) {
	t.Helper()
	refs := map[uint64]uint64{}
	counts := map[uint64]uint64{}
	bodies := map[uint64]bool{}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			switch k[0] {
			case prefixIndex:
				if _, _, suffix, _ := parseIndexKey(k); suffix == suffixEntry && item.UserMeta() == metaShared {
					v, err := item.ValueCopy(nil)
					if err != nil {
						return err
					}
					refs[binary.BigEndian.Uint64(v)]++
				}
			case prefixRefs:
				v, err := item.ValueCopy(nil)
				if err != nil {
					return err
				}
				n, _ := binary.Uvarint(v)
				counts[binary.BigEndian.Uint64(k[1:])] = n
			case prefixMessage:
				id := binary.BigEndian.Uint64(k[1:])
				bodies[id] = true
				if item.UserMeta() == metaChunked {
					pieces, _, err := readHead(item)
					if err != nil {
						return err
					}
					for n := range pieces {
						if _, err := txn.Get(chunkKey(id, n)); err != nil {
							return fmt.Errorf("piece %d of message %d: %w", n, id, err)
						}
					}
				}
			case prefixChunk:
				if _, err := txn.Get(idKey(nil, prefixMessage, binary.BigEndian.Uint64(k[1:]))); err != nil {
					return fmt.Errorf("piece %x without a body: %w", k, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(refs) != fmt.Sprint(counts) {
		t.Errorf("reference counts %v, index entries %v", counts, refs)
	}
	for id := range refs {
		if !bodies[id] {
			t.Errorf("shared message %d has no body", id)
		}
	}
	for id := range bodies {
		if refs[id] == 0 {
			t.Errorf("body %d is referenced by no entry", id)
		}
	}
}

// After a kill -9, damage in Badger's write-ahead log makes Badger cut the
// log at the damage; Open must notice that acknowledged commits are missing.
func TestCrashWithDamagedLogIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	// The log to damage must hold an acknowledged commit: losing only
	// commits nobody was told about is a crash like any other. After a short
	// run every acknowledged commit may already sit in tables, so try again.
	var dir, damaged string
	for try := 0; try < 5 && damaged == ""; try++ {
		dir = t.TempDir()
		log := newCrashLog()
		runCrashChild(t, dir, log)
		damaged = damageAcknowledgedLog(t, dir)
	}
	if damaged == "" {
		t.Fatal("no write-ahead log held an acknowledged commit after 5 runs")
	}
	s, err := Open(dir, testOptions(t))
	if err == nil {
		s.Close()
		t.Fatalf("Open after damaging %s succeeded", filepath.Base(damaged))
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
	t.Logf("damaged %s: %v", filepath.Base(damaged), err)
}

// damageAcknowledgedLog flips a byte in the first record of the newest
// write-ahead log of dir whose first commit is at or below the SYNCED
// watermark, so Badger's replay drops that acknowledged commit. It returns
// the file it damaged, "" if no log holds an acknowledged commit.
func damageAcknowledgedLog(t *testing.T, dir string) string {
	t.Helper()
	watermark, err := readSynced(dir)
	if err != nil {
		t.Fatal(err)
	}
	mems, _ := filepath.Glob(filepath.Join(dir, "*.mem"))
	sort.Strings(mems)
	for i := len(mems) - 1; i >= 0; i-- {
		data, err := os.ReadFile(mems[i])
		if err != nil {
			t.Fatal(err)
		}
		first := uint64(0)
		scanWAL(data, func(r walRecord) {
			if first == 0 && bytes.Equal(r.key[:max(0, len(r.key)-8)], metaKey) {
				first = binary.BigEndian.Uint64(r.value)
			}
		})
		if first == 0 || first > watermark {
			continue
		}
		data[walHeaderSize] ^= 0xff // the first record's meta byte
		if err := os.WriteFile(mems[i], data, 0o640); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: first commit %d, watermark %d, %d logs", filepath.Base(mems[i]), first, watermark, len(mems))
		return mems[i]
	}
	return ""
}
