package amqp_test

import (
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/warrenmq/warren/amqp"
	"github.com/warrenmq/warren/conformance/warrentest"
)

// waitFor polls cond every 10 ms for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// The management views: a connection named as RabbitMQ names it, with the client's
// properties, its channels and consumers.
func TestInspectConnectionsAndChannels(t *testing.T) {
	b := warrentest.StartWith(t, warrentest.Options{})
	conn, err := amqp091.DialConfig(b.URL, amqp091.Config{Properties: amqp091.Table{"connection_name": "orders"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch1, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	ch2, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch2.Qos(7, 0, false); err != nil {
		t.Fatal(err)
	}
	if err := ch2.Confirm(false); err != nil {
		t.Fatal(err)
	}
	if _, err := ch2.QueueDeclare("q", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch2.Consume("q", "ctag", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch1.Publish("", "q", false, false, amqp091.Publishing{Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}

	cs := b.Server.Connections()
	if len(cs) != 1 {
		t.Fatalf("%d connections, want 1", len(cs))
	}
	c := cs[0]
	local, remote := conn.LocalAddr().String(), b.Addr
	if want := local + " -> " + remote; c.Name != want {
		t.Fatalf("name %q, want %q", c.Name, want)
	}
	if c.UserProvidedName != "orders" || c.User != "guest" || c.VHost != "/" || c.Mechanism != "PLAIN" ||
		c.PeerHost != "127.0.0.1" || c.PeerPort == 0 || c.Port == 0 || c.Channels != 2 || c.State != "running" ||
		c.FrameMax == 0 || c.ConnectedAt.IsZero() {
		t.Fatalf("connection %+v", c)
	}
	if caps, _ := c.ClientProperties["capabilities"].(amqp091.Table); caps == nil && c.ClientProperties["capabilities"] == nil {
		t.Fatalf("client properties without capabilities: %v", c.ClientProperties)
	}
	if got, ok := b.Server.Connection(c.Name); !ok || got.Name != c.Name {
		t.Fatalf("Connection(%q) = %+v, %v", c.Name, got, ok)
	}
	if _, ok := b.Server.Connection("nope"); ok {
		t.Fatal("Connection(nope) found one")
	}

	var chs []amqp.ChannelInfo
	waitFor(t, "the delivery to be unacked", func() bool {
		chs = b.Server.Channels()
		return len(chs) == 2 && chs[1].Unacked == 1
	})
	if chs[0].Number != 1 || chs[0].Name != c.Name+" (1)" || chs[1].Consumers != 1 || chs[0].Consumers != 0 ||
		chs[0].Conn.Name != c.Name {
		t.Fatalf("channels %+v %+v", chs[0], chs[1])
	}
	if !chs[1].Confirm || chs[1].Transactional || chs[1].Prefetch != 7 || chs[0].Confirm || chs[0].Prefetch != 0 {
		t.Fatalf("channel modes %+v %+v", chs[0], chs[1])
	}
	if per, ok := b.Server.ConnectionChannels(c.Name); !ok || len(per) != 2 {
		t.Fatalf("ConnectionChannels = %d, %v", len(per), ok)
	}

	cons := b.Core.VHost("/").Consumers()
	if len(cons) != 1 {
		t.Fatalf("%d consumers", len(cons))
	}
	own, ok := b.Server.ConsumerOwner(cons[0].Consumer)
	if !ok || own.Channel.Number != 2 || own.Prefetch != 7 || !own.Active || own.Channel.Conn.Name != c.Name {
		t.Fatalf("ConsumerOwner = %+v, %v", own, ok)
	}

	if err := ch1.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "channel 1 to go", func() bool { return len(b.Server.Channels()) == 1 })
}

// CloseConnection closes with 320 and the reason, as RabbitMQ's DELETE
// /api/connections/{name}.
func TestCloseConnectionByName(t *testing.T) {
	b := warrentest.StartWith(t, warrentest.Options{})
	conn, err := amqp091.Dial(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closed := conn.NotifyClose(make(chan *amqp091.Error, 1))
	name := conn.LocalAddr().String() + " -> " + b.Addr
	if b.Server.CloseConnection("nope", "") {
		t.Fatal("closed a connection that does not exist")
	}
	if !b.Server.CloseConnection(name, "") {
		t.Fatalf("no connection %q among %+v", name, b.Server.Connections())
	}
	select {
	case e := <-closed:
		if e == nil || e.Code != amqp091.ConnectionForced || !e.Server ||
			e.Reason != "CONNECTION_FORCED - "+amqp.DefaultCloseReason {
			t.Fatalf("closed with %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed")
	}
	waitFor(t, "the connection to go", func() bool { return len(b.Server.Connections()) == 0 })

	conn2, err := amqp091.Dial(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	closed2 := conn2.NotifyClose(make(chan *amqp091.Error, 1))
	if !b.Server.CloseConnection(conn2.LocalAddr().String()+" -> "+b.Addr, "maintenance") {
		t.Fatal("second connection not found")
	}
	if e := <-closed2; e == nil || !strings.HasSuffix(e.Reason, "- maintenance") {
		t.Fatalf("closed with %+v", e)
	}
}

// The counters behind message_stats and rabbitmq_global_*: publishes (routed, returned,
// dropped, confirmed), deliveries by kind, redeliveries, acks; they survive the
// connection's close and never go down.
func TestCounters(t *testing.T) {
	b := warrentest.StartWith(t, warrentest.Options{})
	conn, err := amqp091.Dial(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("q", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	confirms := ch.NotifyPublish(make(chan amqp091.Confirmation, 10))
	returns := ch.NotifyReturn(make(chan amqp091.Return, 1))
	pub := func(key string, mandatory bool) {
		t.Helper()
		if err := ch.Publish("", key, mandatory, false, amqp091.Publishing{Body: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	pub("q", false)
	pub("q", false)
	pub("q", false)
	pub("nowhere", true)
	pub("nowhere", false)
	<-returns
	for range 5 {
		select {
		case <-confirms:
		case <-time.After(5 * time.Second):
			t.Fatal("no confirm")
		}
	}
	d, ok, err := ch.Get("q", false) // get with ack
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := d.Nack(false, true); err != nil { // requeued: redelivered next
		t.Fatal(err)
	}
	if _, ok, err := ch.Get("q", true); err != nil || !ok { // no-ack get, redelivered
		t.Fatal(ok, err)
	}
	ds, err := ch.Consume("q", "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		d := <-ds
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := ch.Get("q", true); err != nil || ok {
		t.Fatal("get-empty:", ok, err)
	}
	want := amqp.Counters{
		Published: 5, PublishedConfirm: 5, Unroutable: 2, Returned: 1, Confirmed: 5,
		DeliveredConsumeAck: 2, DeliveredGetAck: 1, DeliveredGetNoAck: 1, GetEmpty: 1, Redelivered: 1, Acked: 2,
		ConnectionsOpened: 1, ChannelsOpened: 1,
	}
	var got amqp.Counters
	waitFor(t, "the acks to be counted", func() bool { got = b.Server.Counters(""); return got == want })
	if got.Routed() != 3 || got.Dropped() != 1 || got.Delivered() != 4 {
		t.Fatalf("derived counts of %+v", got)
	}
	if other := b.Server.Counters("other"); other != (amqp.Counters{}) {
		t.Fatalf("vhost other: %+v", other)
	}
	conn.Close()
	want.ConnectionsClosed, want.ChannelsClosed = 1, 1
	waitFor(t, "the connection's counters to be retired", func() bool { got = b.Server.Counters("/"); return got == want })
}
