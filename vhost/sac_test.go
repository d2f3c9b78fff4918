package vhost

import (
	"fmt"
	"testing"

	"github.com/warrenmq/warren/amqp/wire"
)

func TestSingleActiveConsumer(t *testing.T) {
	v := newTestVHost(t)
	_, err := v.DeclareQueue(nil, "sac", false, false, false, false, wire.Table{"x-single-active-consumer": true})
	must(t, err)
	a, b, c := newConsumer(1), newConsumer(-1), newConsumer(-1)
	_, q, err := v.Consume(nil, "sac", "a", a, false, false, nil)
	must(t, err)
	_, _, err = v.Consume(nil, "sac", "b", b, false, false, wire.Table{"x-priority": int32(10)})
	must(t, err)
	_, _, err = v.Consume(nil, "sac", "c", c, false, false, nil)
	must(t, err)
	for i := range 4 {
		publish(t, v, "", "sac", fmt.Sprint(i), nil)
	}
	// a has credit for one: the rest waits for a, not for b (priority does not matter).
	if got := a.bodies(); !equal(got, []string{"0"}) {
		t.Fatalf("a got %v", got)
	}
	if len(b.bodies())+len(c.bodies()) != 0 {
		t.Fatalf("inactive consumers got %v %v", b.bodies(), c.bodies())
	}
	if n := ready(t, v, "sac"); n != 3 {
		t.Fatalf("%d ready, want 3", n)
	}
	// a leaves: b, the next subscribed, becomes active and gets the backlog.
	q.Cancel(a, "a")
	if got := b.bodies(); !equal(got, []string{"1", "2", "3"}) {
		t.Fatalf("b got %v", got)
	}
	q.Requeue(a.deliveries()[0].Entry) // a's channel closed: its delivery comes back, to b
	if got := b.bodies(); !equal(got, []string{"1", "2", "3", "0"}) {
		t.Fatalf("b got %v", got)
	}
	if len(c.bodies()) != 0 {
		t.Fatalf("c got %v", c.bodies())
	}

	_, err = v.DeclareQueue(nil, "bad", false, false, false, false, wire.Table{"x-single-active-consumer": "yes"})
	wantErr(t, err, wire.PreconditionFailed, "invalid arg 'x-single-active-consumer' for queue 'bad' in vhost '/': {unacceptable_type,longstr}")
}

func TestQueueTypeArgument(t *testing.T) {
	v := newTestVHost(t)
	for _, tc := range []struct {
		val  any
		want string // "" = accepted
	}{
		{"classic", ""},
		{"quorum", ""}, // quorum.go
		{"stream", `"unsupported queue type 'stream'"`},
		{"foo", `"unsupported queue type 'foo'"`},
		{int32(1), "{unacceptable_type,signedint}"},
	} {
		t.Run(fmt.Sprint(tc.val), func(t *testing.T) {
			_, err := v.DeclareQueue(nil, "qt", false, true, false, false, wire.Table{"x-queue-type": tc.val})
			if tc.want == "" {
				must(t, err)
				_, err = v.DeleteQueue(nil, "qt", false, false)
				must(t, err)
				return
			}
			wantErr(t, err, wire.PreconditionFailed, "invalid arg 'x-queue-type' for queue 'qt' in vhost '/': "+tc.want)
			if v.Queue("qt") != nil {
				t.Fatal("declared anyway")
			}
		})
	}
}
