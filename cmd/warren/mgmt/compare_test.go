package mgmt

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// TestCompareWithRabbitMQ runs the same calls against RabbitMQ's management API and
// warren's and compares status codes, error bodies and field names. It needs a RabbitMQ
// with the management plugin:
//
//	RABBITMQ_MGMT_PORT=15673 conformance/rabbitmq.sh start 5697 /tmp/rmq-mgmt
//	RABBITMQ_API=http://127.0.0.1:15673 RABBITMQ_AMQP=amqp://guest:guest@127.0.0.1:5697/ go test -run Compare ./cmd/warren/mgmt
//
// A field warren gives that RabbitMQ does not is a failure, unless it is one of warren's
// own (warrenFields); fields RabbitMQ gives and warren does not are logged (Erlang
// process statistics and the like, which warren leaves out on purpose).
func TestCompareWithRabbitMQ(t *testing.T) {
	rapi, ramqp := os.Getenv("RABBITMQ_API"), os.Getenv("RABBITMQ_AMQP")
	if rapi == "" || ramqp == "" {
		t.Skip("set RABBITMQ_API and RABBITMQ_AMQP to compare with a RabbitMQ node")
	}
	e := start(t)
	sides := []struct {
		name, api, amqp string
	}{{"rabbitmq", rapi, ramqp}, {"warren", e.base, e.b.URL}}

	suffix := fmt.Sprint(time.Now().UnixNano())
	q, x := "cmpq-"+suffix, "cmpx-"+suffix
	vh, user := "cmpv-"+suffix, "cmpu-"+suffix
	type callT struct{ method, path, body string }
	// setup runs first; RabbitMQ's statistics lag by its emission interval, so the
	// objects it creates are read after a wait.
	setup := []callT{
		{"PUT", "/api/exchanges/%2F/" + x, `{"type":"topic","durable":false,"arguments":{"alternate-exchange":"amq.fanout"}}`},
		{"PUT", "/api/exchanges/%2F/" + x, `{"type":"topic","durable":false,"arguments":{"alternate-exchange":"amq.fanout"}}`},
		{"PUT", "/api/exchanges/%2F/" + x, `{"type":"direct"}`},
		{"PUT", "/api/exchanges/%2F/" + x + "b", `{"type":"bogus"}`},
		{"PUT", "/api/exchanges/%2F/amq." + x, `{"type":"direct"}`},
		{"PUT", "/api/queues/%2F/" + q, `{"durable":false,"arguments":{"x-message-ttl":60000}}`},
		{"PUT", "/api/queues/%2F/" + q, `{"durable":true}`},
		{"PUT", "/api/queues/%2F/" + q + "b", `{"durable":"maybe"}`},
		{"PUT", "/api/queues/%2F/" + q + "c", `{"arguments":{"x-max-length":"ten"}}`},
		{"PUT", "/api/queues/%2F/" + q + "d", `{not json`},
		{"PUT", "/api/queues/no-such-vhost/" + q, `{}`},
		{"POST", "/api/bindings/%2F/e/" + x + "/q/" + q, `{"routing_key":"a.*","arguments":{}}`},
		// Traffic for message_stats: a queue's publish and delivery groups, an
		// exchange's publish_in and publish_out, and an idle queue with none.
		{"POST", "/api/exchanges/%2F/" + x + "/publish", `{"properties":{},"routing_key":"a.b","payload":"s","payload_encoding":"string"}`},
		{"POST", "/api/queues/%2F/" + q + "/get", `{"count":1,"ackmode":"ack_requeue_true","encoding":"auto"}`},
		{"PUT", "/api/queues/%2F/" + q + "-idle", `{}`},
		{"PUT", "/api/vhosts/" + vh, ``},
		{"PUT", "/api/users/" + user, `{"password":"pw","tags":""}`},
	}
	calls := []callT{
		{"GET", "/api/bindings/%2F/e/" + x + "/q/" + q, ""},
		{"GET", "/api/bindings/%2F/e/" + x + "/q/" + q + "/a.*", ""},
		{"GET", "/api/exchanges/%2F/" + x + "/bindings/source", ""},
		{"GET", "/api/queues/%2F/" + q + "/bindings", ""},
		{"POST", "/api/exchanges/%2F/" + x + "/publish", `{"properties":{"delivery_mode":1,"headers":{"k":"v"},"content_type":"text/plain"},"routing_key":"a.b","payload":"hello","payload_encoding":"string"}`},
		{"POST", "/api/exchanges/%2F/" + x + "/publish", `{"properties":{},"routing_key":"zz","payload":"aGk=","payload_encoding":"base64"}`},
		{"POST", "/api/exchanges/%2F/nope-" + suffix + "/publish", `{"properties":{},"routing_key":"a","payload":"x","payload_encoding":"string"}`},
		{"POST", "/api/exchanges/%2F/" + x + "/publish", `{"routing_key":"a"}`},
		{"GET", "/api/exchanges/%2F/" + x, ""},
		{"GET", "/api/exchanges/%2F/amq.default", ""},
		{"GET", "/api/queues/%2F/" + q, ""},
		{"GET", "/api/queues/%2F/" + q + "-idle", ""},
		{"POST", "/api/queues/%2F/" + q + "/get", `{"count":5,"ackmode":"ack_requeue_true","encoding":"auto","truncate":50000}`},
		{"POST", "/api/queues/%2F/" + q + "/get", `{"count":5}`},
		{"POST", "/api/queues/%2F/" + q + "/get", `{"count":5,"ackmode":"reject_requeue_false","encoding":"base64"}`},
		{"GET", "/api/connections", ""},
		{"GET", "/api/channels", ""},
		{"GET", "/api/consumers", ""},
		{"GET", "/api/overview", ""},
		{"GET", "/api/whoami", ""},
		{"GET", "/api/vhosts", ""},
		{"GET", "/api/vhosts/%2F", ""},
		{"GET", "/api/users/guest", ""},
		{"GET", "/api/permissions/%2F/guest", ""},
		{"GET", "/api/health/checks/alarms", ""},
		{"GET", "/api/health/checks/virtual-hosts", ""},
		{"GET", "/api/aliveness-test/%2F", ""},
		{"GET", "/api/queues/%2F/nope-" + suffix, ""},
		{"GET", "/api/exchanges/nope-" + suffix, ""},
		{"GET", "/api/connections/nope", ""},
		// Limits (api_limits.go).
		{"GET", "/api/vhost-limits/" + vh, ""},
		{"PUT", "/api/vhost-limits/" + vh + "/max-queues", `{"value":100}`},
		{"PUT", "/api/vhost-limits/" + vh + "/max-connections", `{"value":5}`},
		{"PUT", "/api/vhost-limits/" + vh + "/max-foo", `{"value":1}`},
		{"PUT", "/api/vhost-limits/" + vh + "/max-queues", `{"value":"x"}`},
		{"PUT", "/api/vhost-limits/" + vh + "/max-queues", `{"value":2.5}`},
		{"PUT", "/api/vhost-limits/" + vh + "/max-queues", `{}`},
		{"PUT", "/api/vhost-limits/nope-" + suffix + "/max-queues", `{"value":1}`},
		{"GET", "/api/vhost-limits/" + vh, ""},
		{"GET", "/api/vhost-limits/nope-" + suffix, ""},
		{"GET", "/api/definitions/" + vh, ""},
		{"DELETE", "/api/vhost-limits/" + vh + "/max-queues", ""},
		{"DELETE", "/api/vhost-limits/" + vh + "/max-foo", ""},
		{"GET", "/api/vhost-limits/" + vh, ""},
		{"GET", "/api/user-limits/" + user, ""},
		{"PUT", "/api/user-limits/" + user + "/max-channels", `{"value":20}`},
		{"PUT", "/api/user-limits/" + user + "/max-connections", `{"value":10}`},
		{"PUT", "/api/user-limits/" + user + "/max-queues", `{"value":1}`},
		{"PUT", "/api/user-limits/" + user + "/max-channels", `{"value":"x"}`},
		{"PUT", "/api/user-limits/nope-" + suffix + "/max-channels", `{"value":1}`},
		{"GET", "/api/user-limits/" + user, ""},
		{"GET", "/api/users/" + user, ""},
		{"GET", "/api/user-limits/nope-" + suffix, ""},
		{"DELETE", "/api/user-limits/" + user + "/max-channels", ""},
		{"DELETE", "/api/user-limits/" + user + "/max-foo", ""},
		{"GET", "/api/user-limits/" + user, ""},
		{"DELETE", "/api/users/" + user, ""},
		{"DELETE", "/api/vhosts/" + vh, ""},
		{"DELETE", "/api/queues/%2F/" + q + "-idle", ""},

		{"DELETE", "/api/bindings/%2F/e/" + x + "/q/" + q + "/a.*", ""},
		{"DELETE", "/api/bindings/%2F/e/" + x + "/q/" + q + "/a.*", ""},
		{"DELETE", "/api/queues/%2F/" + q + "/contents", ""},
		{"DELETE", "/api/exchanges/%2F/amq.direct", ""},
		{"DELETE", "/api/queues/%2F/" + q, ""},
		{"DELETE", "/api/queues/%2F/" + q, ""},
		{"DELETE", "/api/exchanges/%2F/" + x, ""},
		{"DELETE", "/api/exchanges/%2F/" + x, ""},
	}

	// A connection with a channel and a consumer on each side, for the listings.
	for _, s := range sides {
		c, err := amqp091.DialConfig(s.amqp, amqp091.Config{Properties: amqp091.Table{"connection_name": "compare-" + suffix}})
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		defer c.Close()
		ch, err := c.Channel()
		if err != nil {
			t.Fatal(err)
		}
		cq, err := ch.QueueDeclare("", false, true, true, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ch.Consume(cq.Name, "ctag-"+suffix, false, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	check := func(call callT) {
		var got [2]reply
		for i, s := range sides {
			got[i] = httpCall(t, s.api, call.method, call.path, call.body)
		}
		what := call.method + " " + strings.ReplaceAll(call.path, suffix, "*")
		r, w := got[0], got[1]
		if r.code != w.code {
			t.Errorf("%s: RabbitMQ %d %s, warren %d %s", what, r.code, r.body, w.code, w.body)
			return
		}
		if r.code >= 400 {
			if rb, wb := errorBody(r.body), errorBody(w.body); rb != wb {
				t.Errorf("%s: error body\n RabbitMQ %s\n   warren %s", what, rb, wb)
			}
			return
		}
		compareFields(t, what, r.body, w.body)
	}
	for _, call := range setup {
		check(call)
	}
	time.Sleep(6 * time.Second) // RabbitMQ's stats emission interval is 5 s
	for _, call := range calls {
		check(call)
	}
}

// warrenFields are the fields warren adds to RabbitMQ's objects.
var warrenFields = map[string]bool{"warren_version": true}

func httpCall(t *testing.T, base, method, path, body string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("guest", "guest")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{code: resp.StatusCode, hdr: resp.Header, body: b}
}

// errorBody normalizes an error body for comparison: the JSON re-encoded, or the text.
func errorBody(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return strings.TrimSpace(string(b))
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// compareFields checks that the objects warren returns have no field RabbitMQ's lack,
// recursively for nested objects, and the first element of lists.
func compareFields(t *testing.T, what string, rb, wb []byte) {
	t.Helper()
	var r, w any
	if len(rb) == 0 && len(wb) == 0 {
		return
	}
	if err := json.Unmarshal(rb, &r); err != nil {
		t.Errorf("%s: RabbitMQ body %q", what, rb)
		return
	}
	if err := json.Unmarshal(wb, &w); err != nil {
		t.Errorf("%s: warren body %q", what, wb)
		return
	}
	var missing []string
	var walk func(path string, r, w any)
	walk = func(path string, r, w any) {
		switch rv := r.(type) {
		case map[string]any:
			wv, ok := w.(map[string]any)
			if !ok {
				t.Errorf("%s: %s is %T in RabbitMQ, %T in warren", what, path, r, w)
				return
			}
			for k, v := range wv {
				if path == "" && warrenFields[k] {
					continue
				}
				rvv, ok := rv[k]
				if !ok {
					if strings.HasSuffix(path, ".arguments") || strings.HasSuffix(path, ".client_properties") ||
						strings.HasSuffix(path, ".headers") || strings.Contains(path, "cluster_state") {
						continue // data, not field names
					}
					t.Errorf("%s: warren has %s.%s, RabbitMQ does not", what, path, k)
					continue
				}
				walk(path+"."+k, rvv, v)
			}
			for k := range rv {
				if _, ok := wv[k]; !ok {
					if strings.HasSuffix(path, ".message_stats") && !strings.HasPrefix(k, "disk_") {
						// (disk_reads and disk_writes, the overview's counts of
						// message store I/O, warren does not keep.)
						// A counter RabbitMQ shows in a group warren shows too.
						t.Errorf("%s: RabbitMQ has %s.%s, warren does not", what, path, k)
						continue
					}
					missing = append(missing, path+"."+k)
				}
			}
		case []any:
			wv, ok := w.([]any)
			if !ok {
				t.Errorf("%s: %s is a list in RabbitMQ, %T in warren", what, path, w)
				return
			}
			if len(rv) > 0 && len(wv) > 0 {
				walk(path+"[0]", rv[0], wv[0])
			}
		}
	}
	walk("", r, w)
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Logf("%s: fields warren leaves out: %s", what, strings.Join(missing, " "))
	}
}
