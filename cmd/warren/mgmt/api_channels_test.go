package mgmt

import (
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// Channels carry message_stats in the two groups RabbitMQ 3.10.8 keeps for them (the
// publishing counters, the delivery counters), each once it moved; a channel without
// traffic has none. A closed channel's counts stay in the overview's.
func TestChannelMessageStats(t *testing.T) {
	e := start(t)
	conn := e.dial("chstats")
	pub, get, idle := e.channel(conn), e.channel(conn), e.channel(conn)
	if _, err := pub.QueueDeclare("cq", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := pub.Confirm(false); err != nil {
		t.Fatal(err)
	}
	confirms := pub.NotifyPublish(make(chan amqp091.Confirmation, 4))
	e.api.rates.record(time.Now().Add(-time.Second), e.api.counters())
	for range 3 {
		if err := pub.Publish("", "cq", false, false, amqp091.Publishing{Body: []byte("m")}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		select {
		case c := <-confirms:
			if !c.Ack {
				t.Fatal("nacked")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no confirm")
		}
	}
	for range 2 {
		d, ok, err := get.Get("cq", false)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
	}
	_ = idle
	e.api.rates.record(time.Now(), e.api.counters())

	var chans []map[string]any
	e.do("GET", "/api/channels", "").json(t, &chans)
	byNumber := map[float64]map[string]any{}
	for _, c := range chans {
		byNumber[c["number"].(float64)] = c
	}
	want := map[float64]map[string]float64{
		1: {"publish": 3, "confirm": 3, "return_unroutable": 0, "drop_unroutable": 0},
		2: {"get": 2, "ack": 2, "deliver_get": 2, "deliver": 0, "deliver_no_ack": 0, "get_no_ack": 0,
			"get_empty": 0, "redeliver": 0},
		3: nil,
	}
	for n, w := range want {
		c := byNumber[n]
		if c == nil {
			t.Fatalf("channel %v not listed: %v", n, chans)
		}
		ms, has := c["message_stats"].(map[string]any)
		if w == nil {
			if has {
				t.Errorf("channel %v: message_stats %v, want none", n, ms)
			}
			continue
		}
		if len(ms) != 2*len(w) {
			t.Errorf("channel %v: message_stats %v, want the fields of %v and their details", n, ms, w)
		}
		for k, v := range w {
			if ms[k] != v {
				t.Errorf("channel %v: %s = %v, want %v", n, k, ms[k], v)
			}
			if d, _ := ms[k+"_details"].(map[string]any); d == nil || (v > 0 && d["rate"].(float64) <= 0) {
				t.Errorf("channel %v: %s_details = %v", n, k, ms[k+"_details"])
			}
		}
	}

	// Closing the channels keeps their counts in the connection's (and so the overview's).
	pub.Close()
	get.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ov map[string]any
		e.do("GET", "/api/overview", "").json(t, &ov)
		ms, _ := ov["message_stats"].(map[string]any)
		var open []map[string]any
		e.do("GET", "/api/channels", "").json(t, &open)
		if len(open) == 1 {
			if ms["publish"] != 3.0 || ms["ack"] != 2.0 || ms["get"] != 2.0 {
				t.Fatalf("overview after closing the channels: %v", ms)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("channels still open: %v", open)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
