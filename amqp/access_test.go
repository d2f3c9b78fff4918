package amqp

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/vhost"
)

// testChannel is a channel of a connection logged in as user on "/", for permission checks.
func testChannel(t testing.TB, user string, setup func(b *vhost.Broker)) *channel {
	b, err := vhost.New(vhost.Config{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if user != "guest" {
		if err := b.AddUser(user, "pw", nil); err != nil {
			t.Fatal(err)
		}
	}
	if setup != nil {
		setup(b)
	}
	u, err := b.AuthenticateExternal(user)
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.Open(u, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &conn{sess: s, vhost: s.VHost(), user: u}
	return newChannel(c, 1)
}

// The publish path's permission check: after the first publish to an exchange it costs a
// comparison and allocates nothing, also on a topic exchange with topic permissions
// while the routing key repeats.
func TestCheckPublishCachedAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	ch := testChannel(t, "u", func(b *vhost.Broker) {
		must(t, b.SetPermissions("u", "/", ".*", ".*", ".*"))
		must(t, b.SetTopicPermissions("u", "/", "amq.topic", "^ok", ".*"))
	})
	for _, x := range []string{"amq.direct", "amq.topic"} {
		must(t, ch.checkPublish(x, "ok.key", 0, nil))
		if n := testing.AllocsPerRun(1000, func() { must(t, ch.checkPublish(x, "ok.key", 0, nil)) }); n != 0 {
			t.Errorf("%s: %v allocs per cached check", x, n)
		}
	}
	if ch.checkPublish("amq.topic", "bad.key", 0, nil) == nil {
		t.Fatal("topic permission not checked for a new key")
	}
	// CC and BCC keys are checked too.
	flags, props, err := (&wire.Properties{Headers: wire.Table{"CC": []any{"ok.cc"}, "BCC": []any{"bad.bcc"}}}).Append(nil)
	must(t, err)
	if err := ch.checkPublish("amq.topic", "ok.key", flags, props); err == nil || !strings.Contains(err.Error(), "'bad.bcc'") {
		t.Fatalf("BCC key: %v", err)
	}
}

// The cache holds allowed exchanges only, and stays correct past its size.
func TestCheckPublishCacheEviction(t *testing.T) {
	ch := testChannel(t, "u", func(b *vhost.Broker) { must(t, b.SetPermissions("u", "/", ".*", "^x", ".*")) })
	for round := range 3 {
		for i := range 2 * permCacheSize {
			must(t, ch.checkPublish(fmt.Sprintf("x%d", (i*7+round)%(2*permCacheSize)), "k", 0, nil))
			if ch.checkPublish("y", "k", 0, nil) == nil {
				t.Fatal("refused exchange allowed")
			}
		}
	}
	if ch.permCache.n != permCacheSize {
		t.Fatalf("cache holds %d", ch.permCache.n)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func BenchmarkCheckPublish(b *testing.B) {
	ch := testChannel(b, "guest", nil)
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = ch.checkPublish("amq.direct", "k", 0, nil)
		}
	})
	b.Run("alternating-exchanges", func(b *testing.B) {
		b.ReportAllocs()
		xs := [2]string{"amq.direct", "amq.fanout"}
		i := 0
		for b.Loop() {
			_ = ch.checkPublish(xs[i&1], "k", 0, nil)
			i++
		}
	})
}
