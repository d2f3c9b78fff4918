package mgmt

import (
	"sync"
	"time"

	"github.com/warrenmq/warren/amqp"
)

// rates samples counters every few seconds to give the "<field>_details": {"rate": …}
// objects RabbitMQ's API carries next to its counts (per second, over the last sample
// interval, as rates_mode "basic" does).
type rates struct {
	s        *Server
	interval time.Duration // immutable

	mu struct {
		sync.Mutex
		prev, last map[string]sample // by key; last is the newest sample
	}
	stopOnce  sync.Once
	startOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup
}

type sample struct {
	at time.Time
	v  float64
}

// sampleInterval is RabbitMQ's collect_statistics_interval default (5000 ms).
const sampleInterval = 5 * time.Second

func newRates(s *Server) *rates {
	r := &rates{s: s, interval: sampleInterval, done: make(chan struct{})}
	r.mu.prev, r.mu.last = map[string]sample{}, map[string]sample{}
	return r
}

// start runs the sampler; called by each Serve, effective once.
func (r *rates) start() {
	r.startOnce.Do(func() {
		r.wg.Add(1)
		go r.sampleLoop()
	})
}

// stop ends the sampler and waits for it. Safe to call twice, and without start.
func (r *rates) stop() {
	r.stopOnce.Do(func() { close(r.done) })
	r.wg.Wait()
}

func (r *rates) sampleLoop() {
	defer r.wg.Done()
	t := time.NewTicker(r.interval)
	defer t.Stop()
	r.record(time.Now(), r.s.counters())
	for {
		select {
		case <-r.done:
			return
		case now := <-t.C:
			r.record(now, r.s.counters())
		}
	}
}

func (r *rates) record(now time.Time, vals map[string]float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, v := range vals {
		if last, ok := r.mu.last[k]; ok {
			r.mu.prev[k] = last
		}
		r.mu.last[k] = sample{at: now, v: v}
	}
	for k := range r.mu.last {
		if _, ok := vals[k]; !ok {
			delete(r.mu.last, k)
			delete(r.mu.prev, k)
		}
	}
}

// rate is the per-second change of key between the last two samples; 0 without two.
func (r *rates) rate(key string) float64 {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	prev, ok1 := r.mu.prev[key]
	last, ok2 := r.mu.last[key]
	if !ok1 || !ok2 || !last.at.After(prev.at) {
		return 0
	}
	return (last.v - prev.v) / last.at.Sub(prev.at).Seconds()
}

// details is the {"rate": …} object for key.
func (r *rates) details(key string) obj { return obj{"rate": r.rate(key)} }

// counters returns the values the sampler turns into rates: queue depths per queue, per
// vhost and in total.
func (s *Server) counters() map[string]float64 {
	m := map[string]float64{}
	var tr, tu float64
	for _, v := range s.cfg.Broker.ListVHosts() {
		var vr, vu float64
		for _, q := range v.QueueDepths() {
			key := "q\x00" + v.Name() + "\x00" + q.Name
			r, u := float64(q.Ready), float64(q.Unacked)
			m[key+"\x00messages"], m[key+"\x00ready"], m[key+"\x00unacked"] = r+u, r, u
			vr, vu = vr+r, vu+u
		}
		key := "v\x00" + v.Name()
		m[key+"\x00messages"], m[key+"\x00ready"], m[key+"\x00unacked"] = vr+vu, vr, vu
		tr, tu = tr+vr, tu+vu
	}
	m["totals\x00messages"], m["totals\x00ready"], m["totals\x00unacked"] = tr+tu, tr, tu
	if s.cfg.AMQP != nil {
		for _, v := range s.cfg.Broker.ListVHosts() {
			for k, n := range messageCounts(s.cfg.AMQP.Counters(v.Name())) {
				m["m\x00"+v.Name()+"\x00"+k] = float64(n)
			}
		}
		for k, n := range messageCounts(s.cfg.AMQP.Counters("")) {
			m["m\x00\x00"+k] = float64(n)
		}
	}
	return m
}

// messageCounts names the counters as the API's message_stats does
// (rabbit_mgmt_format, the fields of a vhost's or the overview's message_stats).
func messageCounts(c amqp.Counters) map[string]uint64 {
	return map[string]uint64{
		"publish":           c.Published,
		"confirm":           c.Confirmed,
		"return_unroutable": c.Returned,
		"drop_unroutable":   c.Dropped(),
		"deliver":           c.DeliveredConsumeAck,
		"deliver_no_ack":    c.DeliveredConsumeNoAck,
		"get":               c.DeliveredGetAck,
		"get_no_ack":        c.DeliveredGetNoAck,
		"get_empty":         c.GetEmpty,
		"deliver_get":       c.Delivered(),
		"redeliver":         c.Redelivered,
		"ack":               c.Acked,
		// churn_rates
		"connection_created": c.ConnectionsOpened,
		"connection_closed":  c.ConnectionsClosed,
		"channel_created":    c.ChannelsOpened,
		"channel_closed":     c.ChannelsClosed,
	}
}

// churnKeys are the messageCounts that go to the overview's churn_rates, not to
// message_stats.
var churnKeys = map[string]bool{"connection_created": true, "connection_closed": true, "channel_created": true, "channel_closed": true}

// messageStats is the "message_stats" object of the overview (vhost "") or of a vhost:
// each count with its "<name>_details" rate.
func (r *rates) messageStats(vhost string) obj {
	o := obj{}
	if r == nil || r.s.cfg.AMQP == nil {
		return o
	}
	for k, n := range messageCounts(r.s.cfg.AMQP.Counters(vhost)) {
		if churnKeys[k] {
			continue
		}
		o[k] = n
		o[k+"_details"] = r.details("m\x00" + vhost + "\x00" + k)
	}
	return o
}

// churnRates is the overview's "churn_rates" object.
func (r *rates) churnRates() obj {
	o := obj{}
	if r == nil || r.s.cfg.AMQP == nil {
		return o
	}
	for k, n := range messageCounts(r.s.cfg.AMQP.Counters("")) {
		if churnKeys[k] {
			o[k] = n
			o[k+"_details"] = r.details("m\x00\x00" + k)
		}
	}
	return o
}

// exchangeStats and queueStats are the "message_stats" of an exchange or a queue; nil
// when there are none (RabbitMQ leaves the field out then).
func (r *rates) exchangeStats(vhost, name string) obj { return nil }
func (r *rates) queueStats(vhost, name string) obj    { return nil }

// published counts a message published through the API.
func (r *rates) published(vhost, exchange string, routed bool) {}
