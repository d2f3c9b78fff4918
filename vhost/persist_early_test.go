package vhost

import (
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

// errWaiter hands the store's answer over a channel.
type errWaiter chan error

func (w errWaiter) Stored(_ uint64, err error) { w <- err }

// The store's committer may answer a commit before Publisher.reserve marked it issued (a
// quick commit while the publisher is descheduled between Commit and persistReq.issued).
// The publisher then reports the answer, so the error must reach it with the state: a
// failed commit is never confirmed. Run with -race (the error was written after the
// state changed, unordered with the publisher's read).
func TestStoreAnswerBeforeIssueKeepsItsError(t *testing.T) {
	d := newDisk(t, Config{})
	boom := errors.New("boom")
	for range 100 {
		r := d.b.pst.getReq()
		w := make(errWaiter, 1)
		r.w, r.token = w, 1
		var answered sync.WaitGroup
		answered.Add(1)
		go func() { defer answered.Done(); r.done(boom) }() // the committer, first
		deadline := time.Now().Add(5 * time.Second)
		for r.state.Load() != reqDoneEarly { // what the publisher's issued sees
			if time.Now().After(deadline) {
				t.Fatal("done did not run")
			}
			runtime.Gosched()
		}
		if !r.issued() {
			t.Fatal("issued: not early although the store answered")
		}
		r.finish(r.err) // as reserve does once it holds no locks
		answered.Wait()
		if err := <-w; err != boom {
			t.Fatalf("the publisher reported %v, want the store's error", err)
		}
	}
}
