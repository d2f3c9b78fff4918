package mgmt

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// scrape starts a metrics server for e's broker and returns one scrape.
func (e *env) scrape() string {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	m := NewMetrics(Config{Broker: e.b.Core, AMQP: e.b.Server, Node: "warren@test"})
	go m.Serve(ln)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m.Shutdown(ctx)
	}()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		e.t.Fatalf("metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// The aggregated families under RabbitMQ's names, types and help texts (as
// rabbitmq_prometheus 3.10.8 serves them on /metrics), with the broker's values.
func TestMetrics(t *testing.T) {
	e := start(t)
	ch := e.channel(e.dial("m"))
	if _, err := ch.QueueDeclare("q", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := ch.Publish("", "q", false, false, amqp091.Publishing{Body: []byte("abcd")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.Publish("", "nowhere", false, false, amqp091.Publishing{Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := ch.Get("q", false); err != nil || !ok {
		t.Fatal(ok, err)
	}
	var out string
	for range 500 { // the publishes are counted by the time get-ok is back; bounded anyway
		if out = e.scrape(); strings.Contains(out, "rabbitmq_global_messages_received_total{protocol=\"amqp091\"} 4\n") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{
		"# HELP rabbitmq_connections Connections currently open\n# TYPE rabbitmq_connections gauge\nrabbitmq_connections 1\n",
		"# HELP rabbitmq_channels Channels currently open\n# TYPE rabbitmq_channels gauge\nrabbitmq_channels 1\n",
		"# HELP rabbitmq_queues Queues available\n# TYPE rabbitmq_queues gauge\nrabbitmq_queues 1\n",
		"# HELP rabbitmq_queue_messages_ready Messages ready to be delivered to consumers\n# TYPE rabbitmq_queue_messages_ready gauge\nrabbitmq_queue_messages_ready 2\n",
		"# HELP rabbitmq_queue_messages_unacked Messages delivered to consumers but not yet acknowledged\n# TYPE rabbitmq_queue_messages_unacked gauge\nrabbitmq_queue_messages_unacked 1\n",
		"rabbitmq_queue_messages 3\n",
		"rabbitmq_queue_messages_bytes 12\n",
		"# TYPE rabbitmq_global_messages_received_total counter\nrabbitmq_global_messages_received_total{protocol=\"amqp091\"} 4\n",
		"rabbitmq_global_messages_routed_total{protocol=\"amqp091\"} 3\n",
		"rabbitmq_global_messages_unroutable_dropped_total{protocol=\"amqp091\"} 1\n",
		"rabbitmq_global_messages_delivered_get_manual_ack_total{protocol=\"amqp091\",queue_type=\"rabbit_classic_queue\"} 1\n",
		"rabbitmq_global_messages_delivered_total{protocol=\"amqp091\",queue_type=\"rabbit_classic_queue\"} 1\n",
		"rabbitmq_connections_opened_total 1\n",
		"rabbitmq_identity_info{rabbitmq_cluster=\"warren@test\",rabbitmq_node=\"warren@test\"} 1\n",
		"go_goroutines ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the scrape", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}

// The overview's and a vhost's message_stats carry the counters.
func TestMessageStats(t *testing.T) {
	e := start(t)
	ch := e.channel(e.dial("m"))
	if _, err := ch.QueueDeclare("q", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Publish("", "q", false, false, amqp091.Publishing{Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := ch.Get("q", true); err != nil || !ok {
		t.Fatal(ok, err)
	}
	var o map[string]any
	e.do("GET", "/api/overview", "").json(t, &o)
	ms, _ := o["message_stats"].(map[string]any)
	hasKeys(t, "message_stats", ms, "publish", "publish_details", "deliver_get", "get_no_ack", "ack", "confirm", "drop_unroutable")
	if ms["publish"] != float64(1) || ms["get_no_ack"] != float64(1) || ms["deliver_get"] != float64(1) {
		t.Fatalf("message_stats %v", ms)
	}
	churn, _ := o["churn_rates"].(map[string]any)
	if churn["connection_created"] != float64(1) || churn["channel_created"] != float64(1) {
		t.Fatalf("churn_rates %v", churn)
	}
	var v map[string]any
	e.do("GET", "/api/vhosts/%2F", "").json(t, &v)
	if vs, _ := v["message_stats"].(map[string]any); vs["publish"] != float64(1) {
		t.Fatalf("vhost %v", v)
	}
}
