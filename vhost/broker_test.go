package vhost

import (
	"errors"
	"testing"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/amqp/wire"
)

func TestAuthenticate(t *testing.T) {
	t.Run("default user guest is loopback-only", func(t *testing.T) {
		b, err := New(Config{Logger: zerolog.Nop()})
		must(t, err)
		u, err := b.Authenticate("guest", "guest")
		must(t, err)
		if u.Name != "guest" || !u.LoopbackOnly {
			t.Fatalf("%+v", u)
		}
		if !b.Permitted(u, "/") || b.Permitted(u, "other") || b.Permitted(nil, "/") {
			t.Fatal("permissions")
		}
		if _, err := b.Authenticate("guest", "wrong"); !errors.Is(err, ErrAuth) {
			t.Fatalf("wrong password: %v", err)
		}
		if _, err := b.Authenticate("nobody", "guest"); !errors.Is(err, ErrAuth) {
			t.Fatalf("unknown user: %v", err)
		}
		if b.VHost("other") != nil {
			t.Fatal("unknown vhost")
		}
	})
	t.Run("configured default user is not loopback-only", func(t *testing.T) {
		b, err := New(Config{Logger: zerolog.Nop(), DefaultUser: "app", DefaultPass: "secret"})
		must(t, err)
		u, err := b.Authenticate("app", "secret")
		must(t, err)
		if u.LoopbackOnly {
			t.Fatal("non-guest default user is loopback-only")
		}
		if _, err := b.Authenticate("guest", "guest"); !errors.Is(err, ErrAuth) {
			t.Fatal("guest exists besides the configured user")
		}
		if !b.Permitted(u, "/") {
			t.Fatal("no permission on /")
		}
	})
	t.Run("closed broker refuses logins", func(t *testing.T) {
		b, err := New(Config{Logger: zerolog.Nop()})
		must(t, err)
		must(t, b.Close())
		must(t, b.Close())
		if _, err := b.Authenticate("guest", "guest"); !errors.Is(err, ErrClosed) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("close stops expiry timers", func(t *testing.T) {
		b, err := New(Config{Logger: zerolog.Nop()})
		must(t, err)
		v := b.VHost("/")
		_, err = v.DeclareQueue(nil, "q", false, false, false, false, wire.Table{"x-message-ttl": int32(60000)})
		must(t, err)
		publish(t, v, "", "q", "m", nil)
		q := v.Queue("q")
		q.mu.Lock()
		armed := q.mu.timer != nil && q.mu.timerAt != 0
		q.mu.Unlock()
		if !armed {
			t.Fatal("no timer armed for an expiring head")
		}
		must(t, b.Close())
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.mu.timerAt != 0 || q.mu.timer.Stop() {
			t.Fatal("timer still armed after Close")
		}
	})
}
