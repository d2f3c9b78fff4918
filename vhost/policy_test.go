package vhost

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
)

// setPolicy sets a policy from JSON (as the management API decodes it) or fails the test.
func setPolicy(t testing.TB, v *VHost, name, body string) {
	t.Helper()
	if _, err := v.SetPolicy(name, policyInput(t, body)); err != nil {
		t.Fatal(err)
	}
}

func policyInput(t testing.TB, body string) PolicyInput {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	in := PolicyInput{Pattern: m["pattern"], Definition: m["definition"]}
	in.Priority, in.HasPriority = m["priority"]
	in.ApplyTo, in.HasApplyTo = m["apply-to"]
	return in
}

// Texts from a RabbitMQ 3.10.8 node (PUT /api/policies/%2F/x, reason before HTML escaping).
func TestPolicyValidation(t *testing.T) {
	v := newTestVHost(t)
	for _, tc := range []struct{ body, want string }{
		{`{"pattern":"x","definition":{"foo":1}}`, "[{<<\"foo\">>,1}] are not recognised policy settings"},
		{`{"pattern":"x","definition":{"foo":1,"bar":"z"}}`, "[{<<\"bar\">>,<<\"z\">>},{<<\"foo\">>,1}] are not recognised policy settings"},
		{`{"pattern":"x","definition":{"max-length":-1}}`, "-1 is not a valid maximum length"},
		{`{"pattern":"x","definition":{"max-length":"a"}}`, "<<\"a\">> is not a valid maximum length"},
		{`{"pattern":"x","definition":{"overflow":"zz"}}`, "<<\"zz\">> is not a valid overflow value"},
		{`{"pattern":"x","definition":{"expires":0}}`, "0 is not a valid queue expiry"},
		{`{"pattern":"x","definition":{"message-ttl":1.5}}`, "1.5 is not a valid message TTL"},
		{`{"pattern":"x","definition":{"message-ttl":"100"}}`, "<<\"100\">> is not a valid message TTL"},
		{`{"pattern":"x","definition":{"alternate-exchange":1}}`, "1 is not a valid alternate exchange name"},
		{`{"pattern":"x","definition":{}}`, "no policy provided"},
		{`{"pattern":"x","definition":{"max-length":1,"expires":0,"foo":1}}`, "0 is not a valid queue expiry"},
		{`{"pattern":"x","definition":{"message-ttl":-1,"overflow":"x"}}`, "-1 is not a valid message TTL"},
		{`{"pattern":"x","definition":{"max-length":1},"apply-to":"foo"}`, "apply-to 'foo' unrecognised; should be 'queues', 'exchanges' or 'all'"},
		{`{"pattern":"x","definition":{"max-length":1},"apply-to":null}`, "apply-to 'null' unrecognised; should be 'queues', 'exchanges' or 'all'"},
		{`{"pattern":"x","definition":{"max-length":1},"priority":"a"}`, "priority should be a number, actually was <<\"a\">>"},
		{`{"pattern":"x","definition":{"max-length":1},"priority":null}`, "priority should be a number, actually was null"},
		{`{"pattern":1,"definition":{"max-length":1}}`, "pattern should be a binary but was 1"},
		{`{"pattern":"(","definition":{"max-length":1}}`, "pattern should be regular expression but is invalid: {\"missing )\",1}"},
		{`{"pattern":"(","definition":{"foo":1},"priority":"a","apply-to":"zz"}`,
			"[{<<\"foo\">>,1}] are not recognised policy settings\n" +
				"apply-to 'zz' unrecognised; should be 'queues', 'exchanges' or 'all'\n" +
				"pattern should be regular expression but is invalid: {\"missing )\",1}\n" +
				"priority should be a number, actually was <<\"a\">>"},
		{`{"pattern":"x","definition":{"ha-mode":"all"}}`, "[{<<\"ha-mode\">>,<<\"all\">>}] are not recognised policy settings"},
	} {
		t.Run(tc.body, func(t *testing.T) {
			_, err := v.SetPolicy("bad", policyInput(t, tc.body))
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a PolicyError", err)
			}
			if want := "Validation failed\n\n" + tc.want + "\n"; pe.Error() != want {
				t.Fatalf("got  %q\nwant %q", pe.Error(), want)
			}
		})
	}
	if v.Policy("bad") != nil {
		t.Fatal("a refused policy was stored")
	}
	// Accepted as RabbitMQ accepts them: a float priority, keys warren ignores, defaults.
	for _, body := range []string{
		`{"pattern":"x","definition":{"max-length":1},"priority":1.5}`,
		`{"pattern":"x","definition":{"queue-mode":"lazy","queue-version":2,"dead-letter-strategy":"at-least-once"}}`,
	} {
		if _, err := v.SetPolicy("good", policyInput(t, body)); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
	}
	if p := v.Policy("good"); p.ApplyTo != "all" || p.Priority != 0 {
		t.Fatalf("defaults: %+v", p)
	}
}

func TestPolicyMatching(t *testing.T) {
	v := newTestVHost(t)
	declareQ(t, v, nil, "orders.eu")
	declareQ(t, v, nil, "amq-like")
	_, err := v.DeclareQueue(nil, "orders.q", false, true, false, false, wire.Table{"x-queue-type": "quorum"})
	must(t, err)
	must(t, v.DeclareExchange("orders.x", "topic", false, false, false, false, nil))
	pol := func(q string) string {
		if p := v.QueuePolicy(q); p != nil {
			return p.Name
		}
		return ""
	}
	setPolicy(t, v, "low", `{"pattern":"^orders","definition":{"max-length":5},"priority":1}`)
	setPolicy(t, v, "high", `{"pattern":"^orders\\.","definition":{"max-length":3},"priority":7,"apply-to":"queues"}`)
	if pol("orders.eu") != "high" || pol("orders.q") != "high" || pol("amq-like") != "" {
		t.Fatalf("got %q %q %q", pol("orders.eu"), pol("orders.q"), pol("amq-like"))
	}
	if p := v.ExchangePolicy("orders.x"); p == nil || p.Name != "low" {
		t.Fatalf("exchange policy %v, want low (high applies to queues only)", p)
	}
	// delivery-limit is a quorum queue key: a policy with it skips classic queues
	// (rabbit_classic_queue:capabilities/0, unsupported_policies).
	setPolicy(t, v, "high", `{"pattern":"^orders\\.","definition":{"delivery-limit":2},"priority":7}`)
	if pol("orders.eu") != "low" || pol("orders.q") != "high" {
		t.Fatalf("got %q %q", pol("orders.eu"), pol("orders.q"))
	}
	// apply-to by queue type (RabbitMQ 3.12+).
	setPolicy(t, v, "qq-only", `{"pattern":"^orders","definition":{"max-length":4},"priority":50,"apply-to":"quorum_queues"}`)
	setPolicy(t, v, "cq-only", `{"pattern":"^orders","definition":{"max-length":4},"priority":40,"apply-to":"classic_queues"}`)
	if pol("orders.eu") != "cq-only" || pol("orders.q") != "qq-only" || v.ExchangePolicy("orders.x").Name != "high" {
		t.Fatalf("by queue type: %q %q %q", pol("orders.eu"), pol("orders.q"), v.ExchangePolicy("orders.x").Name)
	}
	deletePolicy(t, v, "qq-only")
	deletePolicy(t, v, "cq-only")
	// Equal priorities: the smaller name.
	setPolicy(t, v, "b-tie", `{"pattern":"^amq","definition":{"max-length":5},"priority":3}`)
	setPolicy(t, v, "a-tie", `{"pattern":"^amq","definition":{"max-length":5},"priority":3}`)
	if pol("amq-like") != "a-tie" {
		t.Fatalf("tie: got %q", pol("amq-like"))
	}
	// A leading negative lookahead, as RabbitMQ's docs write "everything but amq.".
	setPolicy(t, v, "not-amq", `{"pattern":"^(?!amq).*","definition":{"max-length":9},"priority":100}`)
	if pol("amq-like") != "a-tie" || pol("orders.eu") != "not-amq" {
		t.Fatalf("lookahead: got %q %q", pol("amq-like"), pol("orders.eu"))
	}
	found, err := v.DeletePolicy("not-amq")
	must(t, err)
	if !found || pol("orders.eu") != "low" {
		t.Fatalf("after delete: found=%v %q", found, pol("orders.eu"))
	}
	if found, _ := v.DeletePolicy("not-amq"); found {
		t.Fatal("deleted twice")
	}
	// A new queue gets the policy at declare.
	declareQ(t, v, nil, "orders.new")
	if pol("orders.new") != "low" {
		t.Fatalf("new queue: %q", pol("orders.new"))
	}
	// Listing order: by priority, lowest first.
	var names []string
	for _, p := range v.Policies() {
		names = append(names, p.Name)
	}
	if !equal(names, []string{"low", "a-tie", "b-tie", "high"}) {
		t.Fatalf("list order %v", names)
	}
}

// The merge rules of rabbit_amqqueue_process:process_args_policy/1 (classic) and
// rabbit_quorum_queue:ra_machine_config/1 (quorum).
func TestPolicyMerge(t *testing.T) {
	pol := func(def string) *Policy {
		p, err := newPolicy("/", "p", policyInput(t, `{"pattern":".*","definition":`+def+`}`))
		must(t, err)
		return p
	}
	args := func(a wire.Table) queueOpts {
		o, err := validateQueueArgs("/", "q", a)
		must(t, err)
		return o
	}
	all := pol(`{"expires":5000,"message-ttl":5000,"max-length":5,"max-length-bytes":500,"overflow":"reject-publish",
		"dead-letter-exchange":"pdlx","dead-letter-routing-key":"prk","delivery-limit":5}`)
	for _, tc := range []struct {
		name string
		args wire.Table
		want func(o queueOpts) bool
	}{
		{"policy alone", nil, func(o queueOpts) bool {
			return o.expires == 5000 && o.ttl == 5000 && o.maxLen == 5 && o.maxBytes == 500 && o.overflow == rejectPublish &&
				o.dlx == "pdlx" && o.hasDLX && o.dlrk == "prk" && o.hasRK && o.delivLim == -1 // classic: no delivery limit
		}},
		{"smaller argument wins", wire.Table{"x-expires": int32(100), "x-message-ttl": int32(100), "x-max-length": int32(1), "x-max-length-bytes": int32(10)},
			func(o queueOpts) bool { return o.expires == 100 && o.ttl == 100 && o.maxLen == 1 && o.maxBytes == 10 }},
		{"smaller policy wins", wire.Table{"x-expires": int32(9000), "x-message-ttl": int32(9000), "x-max-length": int32(50), "x-max-length-bytes": int32(5000)},
			func(o queueOpts) bool {
				return o.expires == 5000 && o.ttl == 5000 && o.maxLen == 5 && o.maxBytes == 500
			}},
		{"arguments win for overflow and dead-lettering", wire.Table{"x-overflow": "drop-head", "x-dead-letter-exchange": "adlx", "x-dead-letter-routing-key": "ark"},
			func(o queueOpts) bool { return o.overflow == dropHead && o.dlx == "adlx" && o.dlrk == "ark" }},
		{"quorum: policy overflow and expires, smaller delivery-limit",
			wire.Table{"x-queue-type": "quorum", "x-overflow": "drop-head", "x-expires": int32(100), "x-delivery-limit": int32(9), "x-dead-letter-exchange": "adlx"},
			func(o queueOpts) bool {
				return o.overflow == rejectPublish && o.expires == 5000 && o.delivLim == 5 && o.dlx == "adlx" && o.dlrk == "prk"
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if o := withPolicy(args(tc.args), all); !tc.want(o) {
				t.Fatalf("got %+v", o)
			}
		})
	}
	// rabbit_quorum_queue:overflow/3: a quorum queue takes the policy's overflow, and
	// reject-publish-dlx, which it does not support, falls back to drop-head (with a
	// warning), whatever the argument said.
	dlxPol := pol(`{"overflow":"reject-publish-dlx","max-length":5}`)
	if o := withPolicy(args(wire.Table{"x-queue-type": "quorum", "x-overflow": "reject-publish"}), dlxPol); o.overflow != dropHead {
		t.Fatalf("quorum with a reject-publish-dlx policy: overflow %v, want drop-head", o.overflow)
	}
	if o := withPolicy(args(nil), dlxPol); o.overflow != rejectPublishDLX {
		t.Fatalf("classic with a reject-publish-dlx policy: overflow %v", o.overflow)
	}
	if o := withPolicy(args(wire.Table{"x-max-length": int32(3)}), nil); o.maxLen != 3 {
		t.Fatalf("no policy: %+v", o)
	}
}

func TestPolicyLive(t *testing.T) {
	v := newTestVHost(t)
	must(t, v.DeclareExchange("dlx", "fanout", false, false, false, false, nil))
	declareQ(t, v, nil, "dlq")
	must(t, v.BindQueue(nil, "dlq", "dlx", "", nil))

	t.Run("lower max-length drops the head at once", func(t *testing.T) {
		declareQ(t, v, nil, "ml")
		for _, b := range []string{"1", "2", "3", "4", "5"} {
			publish(t, v, "", "ml", b, nil)
		}
		setPolicy(t, v, "ml", `{"pattern":"^ml$","definition":{"max-length":3,"dead-letter-exchange":"dlx"}}`)
		if got := drain(t, v, "dlq"); !equal(got, []string{"1", "2"}) {
			t.Fatalf("dead-lettered %v", got)
		}
		publish(t, v, "", "ml", "6", nil)
		if got := drain(t, v, "ml"); !equal(got, []string{"4", "5", "6"}) {
			t.Fatalf("left %v", got)
		}
		drain(t, v, "dlq")
		deletePolicy(t, v, "ml")
		for _, b := range []string{"a", "b", "c", "d"} {
			publish(t, v, "", "ml", b, nil)
		}
		if got := drain(t, v, "ml"); len(got) != 4 {
			t.Fatalf("after delete: %v", got)
		}
	})
	t.Run("reject-publish overflow refuses new messages", func(t *testing.T) {
		declareQ(t, v, nil, "rp")
		setPolicy(t, v, "rp", `{"pattern":"^rp$","definition":{"max-length":1,"overflow":"reject-publish"}}`)
		p := v.NewPublisher()
		for i, b := range []string{"1", "2"} {
			_, err := p.Publish(msg(t, "", "rp", b, nil))
			must(t, err)
			if p.Rejected() != (i == 1) {
				t.Fatalf("publish %s: rejected=%v", b, p.Rejected())
			}
		}
		if got := drain(t, v, "rp"); !equal(got, []string{"1"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("a new dead-letter exchange takes the next reject", func(t *testing.T) {
		q := declareQ(t, v, nil, "rj")
		publish(t, v, "", "rj", "before", nil)
		publish(t, v, "", "rj", "after", nil)
		d1, _, _, err := v.Get(nil, "rj", false)
		must(t, err)
		q.Reject(false, d1.Entry)
		setPolicy(t, v, "rj", `{"pattern":"^rj$","definition":{"dead-letter-exchange":"dlx","dead-letter-routing-key":"k"}}`)
		d2, _, _, err := v.Get(nil, "rj", false)
		must(t, err)
		q.Reject(false, d2.Entry)
		d, ok, _, err := v.Get(nil, "dlq", true)
		must(t, err)
		if !ok || string(d.Msg.Body) != "after" || d.Msg.RoutingKey != "k" {
			t.Fatalf("dead letter ok=%v %+v", ok, d.Msg)
		}
		if got := drain(t, v, "dlq"); len(got) != 0 {
			t.Fatalf("also dead-lettered %v", got)
		}
	})
	t.Run("message-ttl applies to messages enqueued afterwards", func(t *testing.T) {
		now := fakeClock(t)
		declareQ(t, v, nil, "ttl")
		publish(t, v, "", "ttl", "old", nil)
		setPolicy(t, v, "ttl", `{"pattern":"^ttl$","definition":{"message-ttl":1000,"dead-letter-exchange":"dlx"}}`)
		publish(t, v, "", "ttl", "new", nil)
		advance(now, 2*time.Second)
		q := v.Queue("ttl")
		q.mu.Lock()
		q.dropExpiredLocked(0) // the head ("old") has no expiry: nothing goes
		q.unlockFlush()
		if got := drain(t, v, "ttl"); !equal(got, []string{"old"}) {
			// "new" expired once "old" left the head (RabbitMQ 3.10.8 does the same)
			t.Fatalf("got %v", got)
		}
		if got := drain(t, v, "dlq"); !equal(got, []string{"new"}) {
			t.Fatalf("dead-lettered %v", got)
		}
	})
	t.Run("expires deletes an unused queue", func(t *testing.T) {
		now := fakeClock(t)
		q := declareQ(t, v, nil, "exp")
		setPolicy(t, v, "exp", `{"pattern":"^exp$","definition":{"expires":3600000}}`)
		advance(now, time.Hour+time.Millisecond)
		q.idleTick()
		if v.Queue("exp") != nil {
			t.Fatal("not deleted")
		}
		q2 := declareQ(t, v, nil, "exp2")
		setPolicy(t, v, "exp2", `{"pattern":"^exp2$","definition":{"expires":3600000}}`)
		deletePolicy(t, v, "exp2")
		advance(now, 2*time.Hour)
		q2.idleTick()
		if v.Queue("exp2") == nil {
			t.Fatal("deleted after its policy's expires was removed")
		}
	})
	t.Run("alternate-exchange applies to the next publish", func(t *testing.T) {
		must(t, v.DeclareExchange("src", "direct", false, false, false, false, nil))
		must(t, v.DeclareExchange("ae", "fanout", false, false, false, false, nil))
		declareQ(t, v, nil, "aeq")
		must(t, v.BindQueue(nil, "aeq", "ae", "", nil))
		if publish(t, v, "src", "nowhere", "1", nil) {
			t.Fatal("routed without an alternate exchange")
		}
		setPolicy(t, v, "ae", `{"pattern":"^src$","definition":{"alternate-exchange":"ae"},"apply-to":"exchanges"}`)
		if !publish(t, v, "src", "nowhere", "2", nil) {
			t.Fatal("not routed to the policy's alternate exchange")
		}
		// The argument wins over the policy.
		// The default exchange shows a policy but does not use its alternate exchange.
		setPolicy(t, v, "dflt", `{"pattern":"^$","definition":{"alternate-exchange":"ae"},"apply-to":"exchanges"}`)
		if p := v.ExchangePolicy(""); p == nil || p.Name != "dflt" {
			t.Fatalf("default exchange policy %v", p)
		}
		if publish(t, v, "", "no-such-queue", "x", nil) {
			t.Fatal("the default exchange used the policy's alternate exchange")
		}
		deletePolicy(t, v, "dflt")
		must(t, v.DeclareExchange("src2", "direct", false, false, false, false, wire.Table{"alternate-exchange": "none"}))
		setPolicy(t, v, "ae", `{"pattern":"^src","definition":{"alternate-exchange":"ae"},"apply-to":"exchanges"}`)
		if publish(t, v, "src2", "nowhere", "3", nil) {
			t.Fatal("policy won over the argument")
		}
		deletePolicy(t, v, "ae")
		if publish(t, v, "src", "nowhere", "4", nil) {
			t.Fatal("routed after the policy was deleted")
		}
		if got := drain(t, v, "aeq"); !equal(got, []string{"2"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("quorum delivery-limit", func(t *testing.T) {
		_, err := v.DeclareQueue(nil, "dl", false, true, false, false, wire.Table{"x-queue-type": "quorum"})
		must(t, err)
		q := v.Queue("dl")
		setPolicy(t, v, "dl", `{"pattern":"^dl$","definition":{"delivery-limit":1,"dead-letter-exchange":"dlx"}}`)
		publish(t, v, "", "dl", "m", nil)
		for range 2 {
			d, ok, _, err := v.Get(nil, "dl", false)
			must(t, err)
			if !ok {
				t.Fatal("empty")
			}
			q.Requeue(d.Entry)
		}
		if got := drain(t, v, "dlq"); !equal(got, []string{"m"}) {
			t.Fatalf("dead-lettered %v", got)
		}
	})
}

func TestPolicySurvivesRestart(t *testing.T) {
	d := newDisk(t, Config{})
	v := d.v()
	_, err := v.DeclareQueue(nil, "dq", false, true, false, false, nil)
	must(t, err)
	setPolicy(t, v, "keep", `{"pattern":"^dq$","definition":{"max-length":2},"priority":2.5,"apply-to":"queues"}`)
	setPolicy(t, v, "gone", `{"pattern":"^dq$","definition":{"max-length":1}}`)
	deletePolicy(t, v, "gone")
	must(t, d.b.AddVHost("other"))
	old := d.b.VHost("other")
	setPolicy(t, old, "dropped", `{"pattern":".*","definition":{"max-length":1}}`)
	must(t, d.b.DeleteVHost("other"))
	// A change that reaches the vhost after its deletion (an API call that looked it up
	// before) is refused: its record would belong to the next vhost of that name.
	if _, err := old.SetPolicy("late", PolicyInput{Pattern: "^x", Definition: map[string]any{"max-length": 1}}); !errors.Is(err, ErrNoVHost) {
		t.Fatalf("policy set on a deleted vhost: %v, want ErrNoVHost", err)
	}
	if _, err := old.DeletePolicy("dropped"); !errors.Is(err, ErrNoVHost) {
		t.Fatalf("policy deleted on a deleted vhost: %v, want ErrNoVHost", err)
	}
	must(t, d.b.AddVHost("other"))

	v = d.restart()
	ps := v.Policies()
	if len(ps) != 1 || ps[0].Name != "keep" || ps[0].Priority != 2.5 || ps[0].ApplyTo != "queues" || ps[0].Definition["max-length"] != int64(2) {
		t.Fatalf("recovered %+v", ps)
	}
	if p := v.QueuePolicy("dq"); p == nil || p.Name != "keep" {
		t.Fatalf("queue policy %v", p)
	}
	for _, b := range []string{"1", "2", "3"} {
		publish(t, v, "", "dq", b, nil)
	}
	if got := drain(t, v, "dq"); !equal(got, []string{"2", "3"}) {
		t.Fatalf("got %v", got)
	}
	if ps := d.b.VHost("other").Policies(); len(ps) != 0 {
		t.Fatalf("policies of a deleted vhost came back: %+v", ps)
	}
}

func deletePolicy(t testing.TB, v *VHost, name string) {
	t.Helper()
	if found, err := v.DeletePolicy(name); err != nil || !found {
		t.Fatalf("delete policy %s: found=%v %v", name, found, err)
	}
}

// Policy changes race with publishes, deliveries, rejects and expiry: run with -race.
func TestPolicyConcurrent(t *testing.T) {
	v := newTestVHost(t)
	must(t, v.DeclareExchange("dlx", "fanout", false, false, false, false, nil))
	declareQ(t, v, nil, "dlq")
	must(t, v.BindQueue(nil, "dlq", "dlx", "", nil))
	q := declareQ(t, v, nil, "hot")
	c := newConsumer(-1)
	_, _, err := v.Consume(nil, "hot", "", c, false, false, nil)
	must(t, err)
	must(t, v.DeclareExchange("src", "direct", false, false, false, false, nil))
	must(t, v.BindQueue(nil, "hot", "src", "k", nil))

	done := make(chan struct{})
	go func() {
		defer close(done)
		defs := []string{
			`{"max-length":3,"dead-letter-exchange":"dlx","message-ttl":1}`,
			`{"max-length-bytes":10,"overflow":"reject-publish","expires":3600000}`,
			`{"dead-letter-exchange":"dlx","dead-letter-routing-key":"r","alternate-exchange":"dlx"}`,
		}
		for i := range 300 {
			setPolicy(t, v, "p", `{"pattern":"^(hot|src)$","definition":`+defs[i%len(defs)]+`}`)
			if i%7 == 0 {
				deletePolicy(t, v, "p")
			}
		}
	}()
	p := v.NewPublisher()
	for i := 0; ; i++ {
		select {
		case <-done:
			drain(t, v, "dlq")
			return
		default:
		}
		if i > 200_000 {
			t.Fatal("policy changes did not finish")
		}
		_, err := p.Publish(msg(t, "src", []string{"k", "x"}[i%2], "body", nil))
		must(t, err)
		for _, d := range c.deliveries() {
			q.Reject(i%3 == 0, d.Entry)
		}
		c.mu.Lock()
		c.got = c.got[:0]
		c.mu.Unlock()
	}
}

// A pattern with a leading lookahead matches as PCRE (re:run/3) matches it, top-level
// alternation included. The expectations are PCRE's (checked with a PCRE-compatible
// engine for these patterns: Python's re.search).
func TestPolicyPatternLookahead(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{`^(?!amq\.).*`, "amq.gen", false},
		{`^(?!amq\.).*`, "orders", true},
		{`^(?!amq\.)orders|events`, "orders.eu", true},
		{`^(?!amq\.)orders|events`, "amq.events", true},
		{`^(?!amq\.)orders|events`, "my.events.q", true},
		{`^(?!amq\.)orders|events`, "amq.orders", false},
		{`^(?!amq\.)orders|events`, "x.orders", false},
		{`^(?!tmp)(a|b)c`, "bc", true},
		{`^(?!tmp)(a|b)c`, "tmpbc", false},
		{`^(?!tmp)[|]x|y`, "|x", true},
		{`^(?!tmp)[|]x|y`, "zzy", true},
		{`^(?!tmp)[|]x|y`, "tmp|x", false},
		{`^(?=ord)o|^amq`, "amq.x", true},
		{`^(?=ord)o|^amq`, "orders", true},
		{`^(?=ord)o|^amq`, "oxx", false},
		{`^(?!a\|b)c`, "c", true},
		{`^(?!a\|b)c|d`, "a|bc", false},
		{`^(?![]|])x|q`, "]x", false},
		{`^(?![]|])x|q`, "|q", true},
	} {
		p, err := compilePattern(c.pattern)
		if err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		if got := p.match(c.name); got != c.want {
			t.Errorf("%s on %q: %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

// Policies are matched under the read lock (rematchTo): queues declared and deleted while
// policies change still end up with the policy the final list gives them.
func TestPolicyRematchWhileDeclaring(t *testing.T) {
	v := newTestVHost(t)
	for i := range 1000 {
		declareQ(t, v, nil, fmt.Sprintf("a.%d", i))
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 1500; i++ { // bounded: the policy changes may outlast it
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if i%20 == 0 {
				time.Sleep(100 * time.Microsecond) // let some changes take the fast path
			}
			name := fmt.Sprintf("b.%d", i)
			if _, err := v.DeclareQueue(nil, name, false, false, false, false, nil); err != nil {
				done <- err
				return
			}
			if i%3 == 0 {
				if _, err := v.DeleteQueue(nil, name, false, false); err != nil {
					done <- err
					return
				}
			}
		}
		done <- nil
	}()
	for i := range 20 {
		setPolicy(t, v, "odd", `{"pattern":"[13579]$","definition":{"max-length":7},"priority":1}`)
		setPolicy(t, v, "b", `{"pattern":"^b\\.","definition":{"max-length":5},"priority":2}`)
		if i%2 == 0 {
			deletePolicy(t, v, "b")
		}
	}
	close(stop)
	must(t, <-done)
	if len(v.queueList(false)) < 1000 {
		t.Fatal("queues went missing")
	}
	for _, q := range v.queueList(false) {
		want := ""
		switch {
		case strings.HasPrefix(q.name, "b."):
			want = "b"
		case strings.ContainsAny(q.name[len(q.name)-1:], "13579"):
			want = "odd"
		}
		if got := v.QueuePolicy(q.name); (got == nil && want != "") || (got != nil && got.Name != want) {
			t.Fatalf("queue %s: policy %v, want %q", q.name, got, want)
		}
	}
}
