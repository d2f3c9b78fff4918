package mgmt

import (
	"sync"
	"time"

	"github.com/warrenmq/warren/amqp"
	"github.com/warrenmq/warren/vhost"
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
		lastAt     time.Time         // the newest record; zero before the first
	}
	api apiCounts // what the API's own publishes and gets add to the vhosts' counts

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
		} else if !r.mu.lastAt.IsZero() {
			// A key that was not sampled last time is a counter or depth that was zero
			// then (a queue that had no traffic, a new queue): it rose from 0.
			r.mu.prev[k] = sample{at: r.mu.lastAt, v: 0}
		}
		r.mu.last[k] = sample{at: now, v: v}
	}
	r.mu.lastAt = now
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
		depths := v.QueueDepths()
		objectCounters(m, v, depths)
		for _, q := range depths {
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
		for _, ch := range s.cfg.AMQP.Channels() {
			pub, del := channelCountKeys(ch.Counters)
			addMoved(m, "cc\x00"+ch.Name, pub, del)
		}
		for _, v := range s.cfg.Broker.ListVHosts() {
			for k, n := range messageCounts(s.rates.counts(v.Name())) {
				m["m\x00"+v.Name()+"\x00"+k] = float64(n)
			}
		}
		for k, n := range messageCounts(s.rates.counts("")) {
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
	for k, n := range messageCounts(r.counts(vhost)) {
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
	for k, n := range messageCounts(r.counts("")) {
		if churnKeys[k] {
			o[k] = n
			o[k+"_details"] = r.details("m\x00\x00" + k)
		}
	}
	return o
}

// queueCountKeys and exchangeCountKeys name a queue's and an exchange's message counters
// as their message_stats do, in two groups each: RabbitMQ 3.10.8 shows a group once one
// of its counters moved (rabbit_mgmt_db: queue_exchange_stats gives a queue's "publish"
// and an exchange's "publish_out", queue_stats the deliveries, exchange_stats
// "publish_in"), and leaves message_stats out when no group has.
func queueCountKeys(c vhost.MessageCounts) (publish, deliver []kv) {
	publish = []kv{{"publish", c.Publish}}
	deliver = []kv{
		{"deliver", c.Deliver}, {"deliver_no_ack", c.DeliverNoAck}, {"get", c.Get}, {"get_no_ack", c.GetNoAck},
		{"get_empty", c.GetEmpty}, {"deliver_get", c.DeliverGet()}, {"redeliver", c.Redeliver}, {"ack", c.Ack},
	}
	return publish, deliver
}

// channelCountKeys name a channel's message counters in its two groups (rabbit_mgmt_db:
// channel_stats_fine_stats for the publishing ones, channel_stats_deliver_stats for the
// deliveries), each shown once one of its counters moved, as a queue's.
func channelCountKeys(c amqp.Counters) (publish, deliver []kv) {
	publish = []kv{{"publish", c.Published}, {"confirm", c.Confirmed},
		{"return_unroutable", c.Returned}, {"drop_unroutable", c.Dropped()}}
	deliver = []kv{
		{"deliver", c.DeliveredConsumeAck}, {"deliver_no_ack", c.DeliveredConsumeNoAck},
		{"get", c.DeliveredGetAck}, {"get_no_ack", c.DeliveredGetNoAck}, {"get_empty", c.GetEmpty},
		{"deliver_get", c.Delivered()}, {"redeliver", c.Redelivered}, {"ack", c.Acked},
	}
	return publish, deliver
}

func (r *rates) channelStats(ch amqp.ChannelInfo) obj {
	pub, del := channelCountKeys(ch.Counters)
	return r.objectStats("cc\x00"+ch.Name, pub, del)
}

func exchangeCountKeys(c vhost.MessageCounts) (in, out []kv) {
	return []kv{{"publish_in", c.PublishIn}}, []kv{{"publish_out", c.PublishOut}}
}

type kv struct {
	k string
	n uint64
}

// moved reports whether a counter of the group is not zero.
func moved(g []kv) bool {
	for _, e := range g {
		if e.n != 0 {
			return true
		}
	}
	return false
}

// objectStats is the message_stats of a queue or an exchange (key names it in the
// sampler): the groups that moved, each count with its "<name>_details" rate; nil when
// none did (the field is then left out).
func (r *rates) objectStats(key string, groups ...[]kv) obj {
	var o obj
	for _, g := range groups {
		if !moved(g) {
			continue
		}
		if o == nil {
			o = obj{}
		}
		for _, e := range g {
			o[e.k] = e.n
			o[e.k+"_details"] = r.details(key + "\x00" + e.k)
		}
	}
	return o
}

func (r *rates) exchangeStats(vh string, x vhost.ExchangeStats) obj {
	in, out := exchangeCountKeys(x.Counts)
	return r.objectStats("xc\x00"+vh+"\x00"+x.Name, in, out)
}

func (r *rates) queueStats(vh, name string, c vhost.MessageCounts) obj {
	pub, del := queueCountKeys(c)
	return r.objectStats("qc\x00"+vh+"\x00"+name, pub, del)
}

// addMoved adds the counters of the groups that moved to m, under key, for their rates.
func addMoved(m map[string]float64, key string, groups ...[]kv) {
	for _, g := range groups {
		if moved(g) {
			for _, e := range g {
				m[key+"\x00"+e.k] = float64(e.n)
			}
		}
	}
}

// objectCounters adds the counters of v's queues and exchanges that moved to m, for
// their rates.
func objectCounters(m map[string]float64, v *vhost.VHost, depths []vhost.QueueDepth) {
	add := func(key string, groups ...[]kv) { addMoved(m, key, groups...) }
	for _, q := range depths {
		pub, del := queueCountKeys(q.Counts)
		add("qc\x00"+v.Name()+"\x00"+q.Name, pub, del)
	}
	for _, x := range v.Exchanges() {
		in, out := exchangeCountKeys(x.Counts)
		add("xc\x00"+v.Name()+"\x00"+x.Name, in, out)
	}
}

// apiCounts are the message counts of the API's publishes and gets, by vhost. RabbitMQ
// performs them on a channel of its own (rabbit_mgmt_util:with_channel: a publish is
// mandatory and confirmed, rabbit_mgmt_wm_exchange_publish; a get is basic.get,
// rabbit_mgmt_wm_queue_get), so they count in the vhost's and the overview's
// message_stats as any channel's do; warren's API calls the broker core directly.
type apiCounts struct {
	mu sync.Mutex
	by map[string]*amqp.Counters // guarded by mu
}

// apiCount adds to vhost's API counts with f (under the lock). Safe on nil.
func (r *rates) apiCount(vhost string, f func(*amqp.Counters)) {
	if r == nil {
		return
	}
	r.api.mu.Lock()
	defer r.api.mu.Unlock()
	if r.api.by == nil {
		r.api.by = map[string]*amqp.Counters{}
	}
	c := r.api.by[vhost]
	if c == nil {
		c = &amqp.Counters{}
		r.api.by[vhost] = c
	}
	f(c)
}

// counts are a vhost's message counts ("" for all): its AMQP channels' and the API's.
func (r *rates) counts(vhost string) amqp.Counters {
	c := r.s.cfg.AMQP.Counters(vhost)
	r.api.mu.Lock()
	defer r.api.mu.Unlock()
	for vh, a := range r.api.by {
		if vhost == "" || vh == vhost {
			addCounts(&c, a)
		}
	}
	return c
}

// addCounts adds b's message counts (not the connection and channel churn) to a.
func addCounts(a, b *amqp.Counters) {
	a.Published += b.Published
	a.PublishedConfirm += b.PublishedConfirm
	a.Unroutable += b.Unroutable
	a.Returned += b.Returned
	a.Confirmed += b.Confirmed
	a.DeliveredConsumeAck += b.DeliveredConsumeAck
	a.DeliveredConsumeNoAck += b.DeliveredConsumeNoAck
	a.DeliveredGetAck += b.DeliveredGetAck
	a.DeliveredGetNoAck += b.DeliveredGetNoAck
	a.GetEmpty += b.GetEmpty
	a.Redelivered += b.Redelivered
	a.Acked += b.Acked
}
