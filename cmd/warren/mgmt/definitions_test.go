package mgmt

import (
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"testing"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// normalize keeps what a round trip must preserve, in a stable order: the lists of
// users (without the default user's random salt: compared separately), vhosts,
// permissions, topic permissions, queues, exchanges and bindings.
func normalize(t *testing.T, raw []byte) map[string][]string {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, k := range []string{"users", "vhosts", "permissions", "topic_permissions", "queues", "exchanges", "bindings", "policies", "parameters"} {
		list, _ := d[k].([]any)
		for _, e := range list {
			m := e.(map[string]any)
			if k == "users" {
				// Tags in any order; limits {} either way.
				if tags, ok := m["tags"].([]any); ok {
					s := make([]string, len(tags))
					for i, tg := range tags {
						s[i] = tg.(string)
					}
					sort.Strings(s)
					m["tags"] = s
				}
			}
			if k == "queues" && m["name"] == "aliveness-test" {
				continue // RabbitMQ's own, from the aliveness check
			}
			b, _ := json.Marshal(m)
			out[k] = append(out[k], string(b))
		}
		sort.Strings(out[k])
	}
	return out
}

// A file exported from RabbitMQ 3.10.8 imports unchanged; exported again it gives the
// same users (with their password hashes), vhosts, permissions, queues, exchanges and
// bindings; and the imported user can log in with the password set in RabbitMQ.
func TestDefinitionsRoundTrip(t *testing.T) {
	e := start(t)
	rmq, _ := roundTrip(t, e, "testdata/rabbitmq-3.10.8-definitions.json")
	// "app" was created in RabbitMQ with password s3cret.
	e.want(e.doAs("app", "s3cret", "GET", "/api/whoami", ""), 200, `{"name":"app","tags":["management","monitoring"]}`)
	// Importing again changes nothing and succeeds.
	e.want(e.do("POST", "/api/definitions", string(rmq)), 204, "")

	// The imported topology routes: dev.events → app.orders, and through the
	// alternate exchange to app.dead.
	c, err := amqp091.Dial("amqp://guest:guest@" + e.b.Addr + "/dev")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ch, err := c.Channel()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"orders.new", "other"} {
		if err := ch.Publish("dev.events", key, false, false, amqp091.Publishing{Body: []byte(key)}); err != nil {
			t.Fatal(err)
		}
	}
	for q, body := range map[string]string{"app.orders": "orders.new", "app.dead": "other"} {
		for range 100 {
			if d, ok, err := ch.Get(q, true); err != nil {
				t.Fatal(err)
			} else if ok {
				if string(d.Body) != body {
					t.Fatalf("%s got %q, want %q", q, d.Body, body)
				}
				break
			}
		}
	}

	var vd map[string]any
	e.do("GET", "/api/definitions/dev", "").json(t, &vd)
	if qs, _ := vd["queues"].([]any); len(qs) != 2 || vd["users"] != nil || qs[0].(map[string]any)["vhost"] != nil {
		t.Fatalf("vhost definitions %v", vd)
	}
}

func TestDefinitionsImportErrors(t *testing.T) {
	e := start(t)
	e.want(e.do("POST", "/api/definitions", `{nope`), 400, `{"error":"bad_request","reason":"not_json"}`)
	e.want(e.do("POST", "/api/definitions", `{"queues":[{"name":"q","vhost":"missing"}]}`), 400,
		`{"error":"bad_request","reason":"no such vhost: 'missing'"}`)
	e.want(e.do("PUT", "/api/queues/%2F/q", `{"durable":true}`), 201, "")
	e.want(e.do("POST", "/api/definitions", `{"queues":[{"name":"q","vhost":"/","durable":false}]}`), 400,
		`{"error":"bad_request","reason":"inequivalent arg 'durable' for queue 'q' in vhost '/': received 'false' but current is 'true'"}`)
	// A vhost's definitions go to the vhost of the path.
	e.want(e.do("PUT", "/api/vhosts/v2", ""), 201, "")
	e.want(e.do("POST", "/api/definitions/v2", `{"queues":[{"name":"inv2","durable":true,"auto_delete":false,"arguments":{"x-max-length":5}}]}`), 204, "")
	var q map[string]any
	e.do("GET", "/api/queues/v2/inv2", "").json(t, &q)
	if args, _ := q["arguments"].(map[string]any); args["x-max-length"] != float64(5) {
		t.Fatalf("queue %v", q)
	}
}

// A RabbitMQ 3.10.8 export with policies (queues, all) and a vhost limit imports into
// warren, applies, and exports again as it came: testdata/rabbitmq-3.10.8-definitions-policies.json
// is the first file imported into a 3.10.8 node, the policies and limit set over its API, and
// the node's export.
func TestDefinitionsRoundTripPolicies(t *testing.T) {
	e := start(t)
	_, want := roundTrip(t, e, "testdata/rabbitmq-3.10.8-definitions-policies.json")
	if len(want["policies"]) != 2 || len(want["parameters"]) != 1 {
		t.Fatalf("the recorded file has policies %v and parameters %v", want["policies"], want["parameters"])
	}
	var q map[string]any
	e.do("GET", "/api/queues/dev/app.orders", "").json(t, &q)
	def, _ := q["effective_policy_definition"].(map[string]any)
	if q["policy"] != "orders-cap" || def["max-length"] != 1000.0 || def["overflow"] != "reject-publish" {
		t.Errorf("app.orders: policy %v, effective definition %v", q["policy"], q["effective_policy_definition"])
	}
}

// roundTrip imports the definitions file at path, exports, and reports every part of the
// export that differs from the file. It returns the file and its normalized parts.
func roundTrip(t *testing.T, e *env, path string) ([]byte, map[string][]string) {
	t.Helper()
	rmq, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	e.want(e.do("POST", "/api/definitions", string(rmq)), 204, "")
	r := e.do("GET", "/api/definitions", "")
	e.want(r, 200, "")
	want, got := normalize(t, rmq), normalize(t, r.body)
	for k := range want {
		if !reflect.DeepEqual(want[k], got[k]) {
			t.Errorf("%s:\n got %v\nwant %v", k, got[k], want[k])
		}
	}
	return rmq, want
}
