package vhost

import (
	"fmt"
	"testing"
)

// nopConsumer accepts everything and keeps the last delivery's entry.
type nopConsumer struct {
	n    int
	last Delivery
}

func (c *nopConsumer) Deliver(d Delivery) bool  { c.n++; c.last = d; return true }
func (c *nopConsumer) Cancelled(*Queue, string) {}

// benchSetup declares n queues bound to exchange ex with key "k", each with a nopConsumer.
func benchSetup(b testing.TB, ex, kind string, n int, noAck bool) (*VHost, []*nopConsumer) {
	v := newTestVHost(b)
	if ex != "" {
		must(b, v.DeclareExchange(ex, kind, false, false, false, false, nil))
	}
	var cs []*nopConsumer
	for i := range n {
		name := fmt.Sprint("q", i)
		if ex == "" {
			name = "k"
		}
		declareQ(b, v, nil, name)
		if ex != "" {
			must(b, v.BindQueue(nil, name, ex, "k", nil))
		}
		c := &nopConsumer{}
		if _, _, err := v.Consume(nil, name, "c", c, false, noAck, nil); err != nil {
			b.Fatal(err)
		}
		cs = append(cs, c)
	}
	return v, cs
}

// BenchmarkPublishDeliver measures publish → route → enqueue → Deliver in process, with the
// caller allocating each Message (as amqp does), so allocs/op includes that one.
func BenchmarkPublishDeliver(b *testing.B) {
	for _, tc := range []struct {
		name, ex, kind string
		queues         int
		noAck          bool
	}{
		{"default-exchange/1q/noack", "", "", 1, true},
		{"direct/1q/noack", "d", "direct", 1, true},
		{"direct/1q/ack", "d", "direct", 1, false},
		{"topic/1q/noack", "t", "topic", 1, true},
		{"fanout/10q/noack", "f", "fanout", 10, true},
		{"fanout/10q/ack", "f", "fanout", 10, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			v, cs := benchSetup(b, tc.ex, tc.kind, tc.queues, tc.noAck)
			p := v.NewPublisher()
			body := []byte("hello")
			b.ReportAllocs()
			for b.Loop() {
				m := &Message{Exchange: tc.ex, RoutingKey: "k", Body: body}
				if _, err := p.Publish(m); err != nil {
					b.Fatal(err)
				}
				if !tc.noAck {
					for _, c := range cs {
						c.last.Queue.Ack(c.last.Entry)
					}
				}
			}
			b.ReportMetric(float64(len(cs)), "deliveries/op")
		})
	}
}

// BenchmarkPublishDeliverParallel runs one Publisher per goroutine into one queue each.
func BenchmarkPublishDeliverParallel(b *testing.B) {
	v := newTestVHost(b)
	must(b, v.DeclareExchange("d", "direct", false, false, false, false, nil))
	b.ReportAllocs()
	var i int64
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	b.RunParallel(func(pb *testing.PB) {
		<-mu
		i++
		name := fmt.Sprint("p", i)
		declareQ(b, v, nil, name)
		must(b, v.BindQueue(nil, name, "d", name, nil))
		if _, _, err := v.Consume(nil, name, "c", &nopConsumer{}, false, true, nil); err != nil {
			b.Error(err)
		}
		mu <- struct{}{}
		p := v.NewPublisher()
		body := []byte("hello")
		for pb.Next() {
			if _, err := p.Publish(&Message{Exchange: "d", RoutingKey: name, Body: body}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
