package conformance

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenmq/warren/conformance/warrentest"

	warren "github.com/warrenmq/warren/amqp"
)

// Limits (issue 7): each reached and refused with RabbitMQ's code and text while other
// clients keep working. Runs against RabbitMQ like the permission matrix (AMQP_URL and
// RABBITMQCTL).

func wantConnError(t *testing.T, err error, code int, text string) {
	t.Helper()
	var e *amqp.Error
	if !errors.As(err, &e) || e.Code != code || e.Reason != text {
		t.Fatalf("got %v, want %d %s", err, code, text)
	}
}

// stillServes checks that c can still declare and use a queue.
func stillServes(t *testing.T, c *amqp.Connection) {
	t.Helper()
	ch := chanT(t, c)
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	must(t, err)
	must(t, ch.Publish("", q.Name, false, false, amqp.Publishing{Body: []byte("still")}))
	for i := 0; i < 100; i++ {
		if _, ok, err := ch.Get(q.Name, true); err != nil || ok {
			must(t, err)
			ch.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the message never arrived")
}

func TestLimits(t *testing.T) {
	base, adm := aclBroker(t)
	const vh, other = "warren-limits", "warren-limits-other"
	for _, v := range []string{vh, other} {
		adm.addVHost(t, v)
		t.Cleanup(func() { adm.deleteVHost(t, v) })
	}
	for _, u := range []string{"lim-a", "lim-b"} {
		adm.addUser(t, u, "pw-"+u)
		t.Cleanup(func() { adm.deleteUser(t, u) })
		for _, v := range []string{vh, other} {
			adm.setPermissions(t, u, v, ".*", ".*", ".*")
		}
	}
	url := func(user, v string) string { return userURL(base, user, "pw-"+user, v) }

	t.Run("vhost-max-connections", func(t *testing.T) {
		adm.setVHostLimit(t, vh, "max-connections", 1)
		defer adm.setVHostLimit(t, vh, "max-connections", -1)
		first := dialT(t, url("lim-a", vh))
		_, err := amqp.Dial(url("lim-b", vh))
		wantConnError(t, err, amqp.NotAllowed,
			fmt.Sprintf("NOT_ALLOWED - access to vhost '%s' refused for user 'lim-b': connection limit (1) is reached", vh))
		stillServes(t, first)
		stillServes(t, dialT(t, url("lim-b", other)))
	})
	t.Run("user-max-connections", func(t *testing.T) {
		adm.setUserLimit(t, "lim-a", "max-connections", 1)
		defer adm.setUserLimit(t, "lim-a", "max-connections", -1)
		first := dialT(t, url("lim-a", vh))
		_, err := amqp.Dial(url("lim-a", other))
		wantConnError(t, err, amqp.NotAllowed,
			"NOT_ALLOWED - connection refused for user 'lim-a': user connection limit (1) is reached")
		stillServes(t, first)
		stillServes(t, dialT(t, url("lim-b", vh)))
	})
	t.Run("user-max-channels", func(t *testing.T) {
		adm.setUserLimit(t, "lim-a", "max-channels", 2)
		defer adm.setUserLimit(t, "lim-a", "max-channels", -1)
		c1 := dialT(t, url("lim-a", vh))
		c2 := dialT(t, url("lim-a", vh))
		chanT(t, c1)
		chanT(t, c2) // the limit counts the user's channels over all connections
		closed := c1.NotifyClose(make(chan *amqp.Error, 1))
		_, err := c1.Channel()
		if err == nil {
			t.Fatal("a third channel was opened")
		}
		want := "NOT_ALLOWED - number of channels opened for user 'lim-a' has reached the maximum allowed user limit of (2)"
		select {
		case e := <-closed:
			wantConnError(t, e, amqp.NotAllowed, want)
		case <-time.After(5 * time.Second):
			t.Fatalf("connection not closed; channel error %v", err)
		}
		stillServes(t, dialT(t, url("lim-b", vh)))
	})
	t.Run("vhost-max-queues", func(t *testing.T) {
		adm.setVHostLimit(t, vh, "max-queues", 1)
		defer adm.setVHostLimit(t, vh, "max-queues", -1)
		c := dialT(t, url("lim-a", vh))
		ch := chanT(t, c)
		_, err := ch.QueueDeclare("lim.q1", false, true, false, false, nil)
		must(t, err)
		_, err = ch.QueueDeclare("lim.q1", false, true, false, false, nil) // redeclare: fine
		must(t, err)
		_, err = ch.QueueDeclare("lim.q2", false, true, false, false, nil)
		want := fmt.Sprintf("PRECONDITION_FAILED - cannot declare queue 'lim.q2': queue limit in vhost '%s' (1) is reached", vh)
		wantConnError(t, err, amqp.PreconditionFailed, want)
		// A soft error: the connection goes on.
		ch = chanT(t, c)
		_, err = ch.QueueDelete("lim.q1", false, false, false)
		must(t, err)
		stillServes(t, dialT(t, url("lim-a", other)))
	})
}

// TestNodeLimits covers limits of warren's own configuration (RabbitMQ sets them in its
// config file: connection_max, max_message_size).
func TestNodeLimits(t *testing.T) {
	if os.Getenv("AMQP_URL") != "" {
		t.Skip("configuration limits: warren only")
	}
	b := warrentest.StartWith(t, warrentest.Options{Server: func(c *warren.Config) {
		c.MaxConnections = 2
		c.MaxMessageSize = 1000
	}})
	c1 := dialT(t, b.URL)
	dialT(t, b.URL)
	_, err := amqp.Dial(b.URL)
	wantConnError(t, err, amqp.NotAllowed, "NOT_ALLOWED - connection refused: node connection limit (2) is reached")
	stillServes(t, c1)

	ch := watchChan(t, c1)
	must(t, ch.Publish("", "nowhere", false, false, amqp.Publishing{Body: []byte(strings.Repeat("x", 1001))}))
	select {
	case e := <-ch.closed:
		wantConnError(t, e, amqp.PreconditionFailed, "PRECONDITION_FAILED - message size 1001 is larger than configured max size 1000")
	case <-time.After(5 * time.Second):
		t.Fatal("no channel error for an oversized message")
	}
	stillServes(t, c1)
}
