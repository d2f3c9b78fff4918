package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Policies (RabbitMQ docs/policies.md) are set over the management HTTP API, so these checks need
// its URL: MGMT_URL (e.g. http://127.0.0.1:15672 for RabbitMQ with its management plugin), or
// MgmtURL set by a Go test that serves warren's API. Without one they are skipped. The API user
// is the AMQP URL's (guest/guest by default).

// MgmtURL is the management API's base URL when MGMT_URL is not set; a test that starts its own
// API sets it.
var MgmtURL string

func (e *Env) mgmtURL() string {
	if u := os.Getenv("MGMT_URL"); u != "" {
		return strings.TrimSuffix(u, "/")
	}
	if MgmtURL == "" {
		e.Skipf("no management API: set MGMT_URL")
	}
	return strings.TrimSuffix(MgmtURL, "/")
}

// api sends one request to the management API and returns the status and body.
func (e *Env) api(method, path string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		e.Must(err, "encode request")
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(e.ctx, method, e.mgmtURL()+path, rd)
	e.Must(err, method+" "+path)
	user, pass := e.uri.Username, e.uri.Password
	if user == "" {
		user, pass = "guest", "guest"
	}
	req.SetBasicAuth(user, pass)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	e.Must(err, method+" "+path)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	e.Must(err, method+" "+path+": read body")
	return resp.StatusCode, b
}

func (e *Env) policyPath(name string) string {
	return "/api/policies/" + url.PathEscape(e.Vhost) + "/" + url.PathEscape(name)
}

// setPolicy sets policy name on the check's vhost for the entities named exactly like one of
// names, and deletes it after the check.
func (e *Env) setPolicy(name string, priority int, applyTo string, def map[string]any, names ...string) {
	for i, n := range names {
		names[i] = regexp.QuoteMeta(n)
	}
	body := map[string]any{"pattern": "^(" + strings.Join(names, "|") + ")$", "definition": def, "priority": priority, "apply-to": applyTo}
	status, b := e.api(http.MethodPut, e.policyPath(name), body)
	if status != http.StatusCreated && status != http.StatusNoContent {
		e.Fatalf("PUT policy %s: %d %s", name, status, b)
	}
	e.Cleanup(func() { e.api(http.MethodDelete, e.policyPath(name), nil) })
}

func (e *Env) deletePolicy(name string) {
	if status, b := e.api(http.MethodDelete, e.policyPath(name), nil); status != http.StatusNoContent {
		e.Fatalf("DELETE policy %s: %d %s", name, status, b)
	}
}

// readyEventually waits until q has n ready messages: RabbitMQ applies a policy to a queue
// asynchronously after the API's answer.
func (e *Env) readyEventually(q string, n int) {
	e.Eventually(fmt.Sprintf("queue %s has %d ready messages", q, n), func() bool { return e.Ready(q) == n })
}

// rejectOne takes one message from q with basic.get and rejects it without requeue.
func rejectOne(e *Env, ch *Chan, q string) error {
	m, ok, err := ch.Get(q, false)
	e.Must(err, "basic.get")
	if !ok {
		return fmt.Errorf("basic.get %s: empty", q)
	}
	e.Must(m.Reject(false), "basic.reject")
	return nil
}

func (e *Env) publishN(ch *Chan, q string, bodies ...string) {
	for _, b := range bodies {
		e.Publish(ch, "", q, Text(b))
	}
	e.Sync(ch)
}

var policyChecks = []Check{
	{
		Name: "policy/api-create-update-get-delete",
		Rule: "RabbitMQ HTTP API (rabbit_mgmt_wm_policy): PUT answers 201 when created and 204 when replaced; GET gives the policy; DELETE 204, then GET and DELETE 404 Object Not Found; a bad definition is 400 with the validator's text",
		Run: func(e *Env) error {
			name := e.Name("policy")
			path := e.policyPath(name)
			body := map[string]any{"pattern": "^" + name + "$", "definition": map[string]any{"max-length": 3}, "apply-to": "queues"}
			e.Cleanup(func() { e.api(http.MethodDelete, path, nil) })
			if s, b := e.api(http.MethodPut, path, body); s != http.StatusCreated {
				return fmt.Errorf("first PUT: %d %s, want 201", s, b)
			}
			body["priority"] = 4
			if s, b := e.api(http.MethodPut, path, body); s != http.StatusNoContent {
				return fmt.Errorf("second PUT: %d %s, want 204", s, b)
			}
			s, b := e.api(http.MethodGet, path, nil)
			var got map[string]any
			if s != http.StatusOK || json.Unmarshal(b, &got) != nil {
				return fmt.Errorf("GET: %d %s", s, b)
			}
			want := map[string]any{"vhost": e.Vhost, "name": name, "pattern": "^" + name + "$", "apply-to": "queues",
				"definition": map[string]any{"max-length": float64(3)}, "priority": float64(4)}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("GET: %v, want %v", got, want)
			}
			if s, b := e.api(http.MethodPut, path, map[string]any{"pattern": "x", "definition": map[string]any{"max-length": -1}}); s != http.StatusBadRequest ||
				!strings.Contains(string(b), `"reason":"Validation failed\n\n-1 is not a valid maximum length\n"`) {
				return fmt.Errorf("bad PUT: %d %s", s, b)
			}
			if s, b := e.api(http.MethodPut, path, map[string]any{"pattern": "x", "definition": map[string]any{"no-such-key": 1}}); s != http.StatusBadRequest ||
				!strings.Contains(string(b), `[{&lt;&lt;\"no-such-key\"&gt;&gt;,1}] are not recognised policy settings`) {
				return fmt.Errorf("unknown key PUT: %d %s", s, b)
			}
			if s, b := e.api(http.MethodPut, path, map[string]any{"pattern": "x"}); s != http.StatusBadRequest ||
				!strings.Contains(string(b), `[{key_missing,definition}]`) {
				return fmt.Errorf("PUT without definition: %d %s", s, b)
			}
			if s, b := e.api(http.MethodDelete, path, nil); s != http.StatusNoContent {
				return fmt.Errorf("DELETE: %d %s", s, b)
			}
			for _, m := range []string{http.MethodGet, http.MethodDelete} {
				if s, b := e.api(m, path, nil); s != http.StatusNotFound || string(b) != `{"error":"Object Not Found","reason":"Not Found"}` {
					return fmt.Errorf("%s after delete: %d %s", m, s, b)
				}
			}
			return nil
		},
	},
	{
		Name: "policy/max-length-applies-to-live-queue",
		Rule: "RabbitMQ docs/policies.md: a policy changes matching queues without redeclaring them; a lower max-length drops the excess at the head (docs/maxlength.md, drop-head); deleting the policy lifts the limit",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			e.publishN(ch, q, "1", "2", "3", "4", "5")
			p := e.Name("policy")
			e.setPolicy(p, 0, "queues", map[string]any{"max-length": 2}, q)
			e.readyEventually(q, 2)
			e.deletePolicy(p)
			e.publishN(ch, q, "6", "7")
			if got := e.Drain(q); strings.Join(got, ",") != "4,5,6,7" {
				return fmt.Errorf("queue holds %v, want [4 5 6 7]", got)
			}
			return nil
		},
	},
	{
		Name: "policy/highest-priority-wins",
		Rule: "RabbitMQ docs/policies.md: when several policies match, the one with the greatest priority applies, and only that one",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			e.setPolicy(e.Name("policy"), 1, "queues", map[string]any{"max-length": 1}, q)
			e.setPolicy(e.Name("policy"), 5, "all", map[string]any{"max-length": 3}, q)
			e.Inspect(q) // barrier: RabbitMQ's queue process has taken the policy change
			e.publishN(ch, q, "1", "2", "3", "4", "5")
			e.readyEventually(q, 3)
			return nil
		},
	},
	{
		Name: "policy/queue-argument-vs-policy",
		Rule: "rabbit_amqqueue_process:process_args_policy/1: for max-length the smaller of argument and policy applies; for dead-letter-exchange the argument wins",
		Run: func(e *Env) error {
			ch := e.Channel()
			small := e.declareWith(ch, amqp.Table{"x-max-length": int32(1)})
			large := e.declareWith(ch, amqp.Table{"x-max-length": int32(10)})
			e.setPolicy(e.Name("policy"), 0, "queues", map[string]any{"max-length": 2}, small, large)
			e.Inspect(small)
			e.Inspect(large)
			e.publishN(ch, small, "1", "2", "3")
			e.publishN(ch, large, "1", "2", "3")
			e.readyEventually(small, 1)
			e.readyEventually(large, 2)

			argDLX, argDLQ := e.deadLetterPair(ch)
			polDLX, polDLQ := e.deadLetterPair(ch)
			q := e.declareWith(ch, amqp.Table{"x-dead-letter-exchange": argDLX})
			e.setPolicy(e.Name("policy"), 0, "queues", map[string]any{"dead-letter-exchange": polDLX}, q)
			e.Inspect(q)
			e.publishN(ch, q, "m")
			if err := rejectOne(e, ch, q); err != nil {
				return err
			}
			e.readyEventually(argDLQ, 1)
			if n := e.Ready(polDLQ); n != 0 {
				return fmt.Errorf("policy's dead-letter queue got %d messages, want 0 (the argument wins)", n)
			}
			return nil
		},
	},
	{
		Name: "policy/dead-letter-exchange-takes-next-reject",
		Rule: "RabbitMQ docs/dlx.md: a dead-letter exchange may be set by policy; set on a live queue it applies to the next message rejected without requeue",
		Run: func(e *Env) error {
			ch := e.Channel()
			dlx, dlq := e.deadLetterPair(ch)
			q := e.DeclareQueue(ch)
			e.publishN(ch, q, "m")
			e.setPolicy(e.Name("policy"), 0, "queues", map[string]any{"dead-letter-exchange": dlx, "dead-letter-routing-key": "rk"}, q)
			e.Inspect(q)
			if err := rejectOne(e, ch, q); err != nil {
				return err
			}
			e.readyEventually(dlq, 1)
			d, ok, err := ch.Get(dlq, true)
			e.Must(err, "basic.get dead letter")
			if !ok || string(d.Body) != "m" || d.RoutingKey != "rk" {
				return fmt.Errorf("dead letter %q with key %q, want \"m\" with \"rk\"", d.Body, d.RoutingKey)
			}
			return nil
		},
	},
	{
		Name: "policy/message-ttl-applies-to-new-messages",
		Rule: "rabbit_amqqueue_process: a message's expiry is fixed when it is enqueued (message_properties/3), so a message-ttl policy set later expires messages published after it, not those already queued (observed on RabbitMQ 3.10.8)",
		Run: func(e *Env) error {
			ch := e.Channel()
			before, after := e.DeclareQueue(ch), e.DeclareQueue(ch)
			e.publishN(ch, before, "old")
			e.setPolicy(e.Name("policy"), 0, "queues", map[string]any{"message-ttl": 50}, before, after)
			e.Inspect(after)
			e.publishN(ch, after, "new")
			// Once "new" has expired, "old" has been queued longer than the TTL too.
			e.readyEventually(after, 0)
			if got := e.Drain(before); strings.Join(got, ",") != "old" {
				return fmt.Errorf("queue %s holds %v, want [old]: a message queued before the policy must keep no expiry", before, got)
			}
			return nil
		},
	},
	{
		Name: "policy/expires-deletes-unused-queue",
		Rule: "RabbitMQ docs/ttl.md (queue TTL): expires may be set by policy; a live queue unused for that long is deleted",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			e.setPolicy(e.Name("policy"), 0, "queues", map[string]any{"expires": 100}, q)
			pub := e.Channel()
			returns := pub.NotifyReturn(make(chan amqp.Return, 100))
			deadline := e.within(3 * time.Second)
			for !e.gone(pub, returns, q) {
				select {
				case <-deadline:
					return fmt.Errorf("queue %s still exists 3 s after a 100 ms expires policy", q)
				case <-time.After(50 * time.Millisecond):
				}
			}
			return nil
		},
	},
	{
		Name: "policy/alternate-exchange",
		Rule: "RabbitMQ docs/ae.md: alternate-exchange may be set by policy; set on a live exchange it takes the next message the exchange cannot route (no basic.return for a mandatory one)",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.DeclareExchange(ch, "direct")
			ae := e.DeclareExchange(ch, "fanout")
			aq := e.DeclareQueue(ch)
			e.Bind(ch, aq, "", ae, nil)
			e.setPolicy(e.Name("policy"), 0, "exchanges", map[string]any{"alternate-exchange": ae}, x)
			returns := ch.NotifyReturn(make(chan amqp.Return, 1))
			e.Must(ch.PublishWithContext(e.ctx, x, "nowhere", true, false, Text("m")), "basic.publish")
			e.Sync(ch)
			select {
			case r := <-returns:
				return fmt.Errorf("returned (%d %s), want it routed to the alternate exchange", r.ReplyCode, r.ReplyText)
			default:
			}
			e.readyEventually(aq, 1)
			return nil
		},
	},
}

func init() { Checks = append(Checks, policyChecks...) }
