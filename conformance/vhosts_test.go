package conformance

import (
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Deleting a vhost closes its connections with 320 CONNECTION_FORCED and removes its
// queues; deleting a user closes that user's connections (rabbit_connection_tracking).
// Runs against RabbitMQ like the permission matrix.
func TestDeleteClosesConnections(t *testing.T) {
	base, adm := aclBroker(t)
	const vh = "warren-doomed"
	adm.addVHost(t, vh)
	adm.addUser(t, "doomed-user", "pw")
	t.Cleanup(func() { adm.deleteUser(t, "doomed-user") })
	adm.setPermissions(t, "doomed-user", vh, ".*", ".*", ".*")
	adm.setPermissions(t, "doomed-user", "/", ".*", ".*", ".*")

	waitClose := func(c *amqp.Connection, closed chan *amqp.Error, want string) {
		t.Helper()
		select {
		case e := <-closed:
			wantConnError(t, e, amqp.ConnectionForced, want)
		case <-time.After(10 * time.Second):
			t.Fatalf("connection not closed, want %s", want)
		}
	}

	c := dialT(t, userURL(base, "doomed-user", "pw", vh))
	ch := chanT(t, c)
	_, err := ch.QueueDeclare("doomed.q", true, false, false, false, nil)
	must(t, err)
	closed := c.NotifyClose(make(chan *amqp.Error, 1))
	adm.deleteVHost(t, vh)
	waitClose(c, closed, fmt.Sprintf("CONNECTION_FORCED - vhost '%s' is deleted", vh))

	// Re-created, the vhost is empty: the queue went with it.
	adm.addVHost(t, vh)
	t.Cleanup(func() { adm.deleteVHost(t, vh) })
	adm.setPermissions(t, "doomed-user", vh, ".*", ".*", ".*") // permissions went too
	c = dialT(t, userURL(base, "doomed-user", "pw", vh))
	_, err = chanT(t, c).QueueDeclarePassive("doomed.q", true, false, false, false, nil)
	wantConnError(t, err, amqp.NotFound, fmt.Sprintf("NOT_FOUND - no queue 'doomed.q' in vhost '%s'", vh))

	// Deleting the user closes its connections, on every vhost.
	c2 := dialT(t, userURL(base, "doomed-user", "pw", "/"))
	closed = c.NotifyClose(make(chan *amqp.Error, 1))
	closed2 := c2.NotifyClose(make(chan *amqp.Error, 1))
	guest := dialT(t, base)
	adm.deleteUser(t, "doomed-user")
	waitClose(c, closed, "CONNECTION_FORCED - user 'doomed-user' is deleted")
	waitClose(c2, closed2, "CONNECTION_FORCED - user 'doomed-user' is deleted")
	adm.addUser(t, "doomed-user", "pw") // for the cleanup
	stillServes(t, guest)
}
