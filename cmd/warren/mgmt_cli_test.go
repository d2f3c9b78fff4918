package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/warrenmq/warren/cmd/warren/mgmt"
	"github.com/warrenmq/warren/conformance/warrentest"
)

// apiBroker is an in-process broker with its management API; it returns the API's
// --url and the broker.
func apiBroker(t *testing.T) (string, *warrentest.Broker) {
	t.Helper()
	b := warrentest.StartWith(t, warrentest.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api := mgmt.New(mgmt.Config{Broker: b.Core, AMQP: b.Server})
	go api.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		api.Shutdown(ctx)
	})
	return "--url=http://guest:guest@" + ln.Addr().String(), b
}

// runAPI runs warren with args in-process; it returns the output.
func runAPI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	app := newApp()
	var out bytes.Buffer
	app.Writer, app.ErrWriter, app.Reader = &out, &out, strings.NewReader(stdin)
	if err := app.Run(append([]string{"warren"}, args...)); err != nil {
		t.Fatalf("warren %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func runAPIErr(t *testing.T, args ...string) error {
	t.Helper()
	app := newApp()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	return app.Run(append([]string{"warren"}, args...))
}

// A session with the everyday commands: declare, publish, list, peek, get, purge,
// bind, delete, export and import.
func TestAPICommands(t *testing.T) {
	u, b := apiBroker(t)
	runAPI(t, "", "declare", "queue", u, `--arguments={"x-max-length":100}`, "orders")
	runAPI(t, "", "declare", "exchange", u, "--type=topic", "events")
	runAPI(t, "", "declare", "binding", u, "--routing-key=order.*", "events", "orders")
	if out := runAPI(t, "", "publish", u, "--exchange=events", "--routing-key=order.new", "first"); out != "Message published\n" {
		t.Fatalf("publish: %q", out)
	}
	runAPI(t, "second", "publish", u, "--routing-key=orders", `--properties={"content_type":"text/plain"}`)
	if out := runAPI(t, "", "publish", u, "--routing-key=nowhere", "x"); out != "Message published but NOT routed\n" {
		t.Fatalf("publish unroutable: %q", out)
	}

	out := runAPI(t, "", "list", "queues", u)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "vhost") || !strings.Contains(lines[1], "orders") ||
		strings.Fields(lines[1])[2] != "2" {
		t.Fatalf("list queues:\n%s", out)
	}
	if out := runAPI(t, "", "list", "bindings", u); !strings.Contains(out, "order.*") {
		t.Fatalf("list bindings:\n%s", out)
	}
	if out := runAPI(t, "", "list", "exchanges", u, "--all"); !strings.Contains(out, "events") || !strings.Contains(out, "amq.topic") {
		t.Fatalf("list exchanges:\n%s", out)
	}

	out = runAPI(t, "", "peek", u, "orders")
	if !strings.HasPrefix(out, "2 ready, 0 unacknowledged\n") || !strings.Contains(out, "first") || !strings.Contains(out, "second") {
		t.Fatalf("peek:\n%s", out)
	}
	var msgs []map[string]any
	if err := json.Unmarshal([]byte(runAPI(t, "", "get", u, "--format=json", "orders")), &msgs); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0]["payload"] != "first" {
		t.Fatalf("get: %v", msgs)
	}
	runAPI(t, "", "get", u, "--count=1", "--ack", "orders") // takes "first" (requeued by the get before)
	if out := runAPI(t, "", "peek", u, "orders"); !strings.HasPrefix(out, "1 ready") {
		t.Fatalf("after get --ack:\n%s", out)
	}
	runAPI(t, "", "purge", u, "orders")
	if out := runAPI(t, "", "peek", u, "orders"); !strings.HasPrefix(out, "0 ready") {
		t.Fatalf("after purge:\n%s", out)
	}

	c, err := amqp091.DialConfig(b.URL, amqp091.Config{Properties: amqp091.Table{"connection_name": "worker-1"}})
	if err != nil {
		t.Fatal(err)
	}
	closed := c.NotifyClose(make(chan *amqp091.Error, 1))
	out = runAPI(t, "", "list", "connections", u, "--format=json")
	var conns []map[string]any
	if err := json.Unmarshal([]byte(out), &conns); err != nil || len(conns) != 1 || conns[0]["user_provided_name"] != "worker-1" {
		t.Fatalf("list connections: %v %s", err, out)
	}
	runAPI(t, "", "delete", "connection", u, "--reason=bye", conns[0]["name"].(string))
	select {
	case e := <-closed:
		if e == nil || e.Reason != "CONNECTION_FORCED - bye" {
			t.Fatalf("closed with %v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not closed")
	}

	file := filepath.Join(t.TempDir(), "defs.json")
	if out := runAPI(t, "", "export", u, file); !strings.Contains(out, "1 queues") || !strings.Contains(out, "1 exchanges") {
		t.Fatalf("export: %s", out)
	}
	runAPI(t, "", "delete", "binding", u, "--routing-key=order.*", "events", "orders")
	runAPI(t, "", "delete", "exchange", u, "events")
	runAPI(t, "", "delete", "queue", u, "orders")
	if err := runAPIErr(t, "delete", "queue", u, "orders"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("deleting a missing queue: %v", err)
	}
	if out := runAPI(t, "", "import", u, file); !strings.HasPrefix(out, "Imported definitions") {
		t.Fatalf("import: %s", out)
	}
	if out := runAPI(t, "", "list", "bindings", u); !strings.Contains(out, "order.*") {
		t.Fatalf("bindings after import:\n%s", out)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	runAPI(t, string(data), "import", u) // from standard input

	if err := runAPIErr(t, "declare", "queue", u, "--arguments={bad", "q"); err == nil || !strings.Contains(err.Error(), "invalid --arguments") {
		t.Fatalf("bad arguments: %v", err)
	}
	if err := runAPIErr(t, "list", "queues", "--url=http://guest:wrong@"+strings.TrimPrefix(u, "--url=http://guest:guest@")); err == nil ||
		!strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong password: %v", err)
	}
}

// Policies and vhost limits: declare, list, replace, refuse, delete.
func TestAPIPolicyAndLimitCommands(t *testing.T) {
	u, _ := apiBroker(t)
	runAPI(t, "", "declare", "queue", u, "orders.new")
	runAPI(t, "", "declare", "policy", u, "--pattern=^orders\\.", `--definition={"max-length":3}`, "cap")

	listPolicies := func() []map[string]any {
		t.Helper()
		var ps []map[string]any
		if err := json.Unmarshal([]byte(runAPI(t, "", "list", "policies", u, "--format=json")), &ps); err != nil {
			t.Fatal(err)
		}
		return ps
	}
	ps := listPolicies()
	if len(ps) != 1 || ps[0]["name"] != "cap" || ps[0]["pattern"] != `^orders\.` || ps[0]["apply-to"] != "all" ||
		ps[0]["priority"] != float64(0) || ps[0]["definition"].(map[string]any)["max-length"] != float64(3) {
		t.Fatalf("list policies: %v", ps)
	}
	out := runAPI(t, "", "list", "policies", u)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 ||
		strings.Join(strings.Fields(lines[1]), " ") != `/ cap ^orders\. all {"max-length":3} 0` {
		t.Fatalf("list policies (table):\n%s", out)
	}
	var qs []map[string]any
	if err := json.Unmarshal([]byte(runAPI(t, "", "list", "queues", u, "--format=json")), &qs); err != nil {
		t.Fatal(err)
	}
	if len(qs) != 1 || qs[0]["policy"] != "cap" {
		t.Fatalf("queue's policy: %v", qs)
	}

	// Replaced: a large integer reaches the broker as written, priority and apply-to are sent.
	runAPI(t, "", "declare", "policy", u, "--pattern=^orders\\.", `--definition={"message-ttl":9007199254740993}`,
		"--priority=7", "--apply-to=queues", "cap")
	ps = listPolicies()
	if len(ps) != 1 || ps[0]["priority"] != float64(7) || ps[0]["apply-to"] != "queues" {
		t.Fatalf("replaced policy: %v", ps)
	}
	if out := runAPI(t, "", "list", "policies", u); !strings.Contains(out, `{"message-ttl":9007199254740993}`) {
		t.Fatalf("message-ttl lost its last digits:\n%s", out)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"not JSON", []string{"--pattern=.", "--definition={bad", "p"}, "invalid --definition"},
		{"not an object", []string{"--pattern=.", "--definition=[1]", "p"}, "invalid --definition"},
		{"no pattern", []string{"--definition={}", "p"}, `"pattern"`},
		{"unknown key", []string{"--pattern=.", `--definition={"no-such-key":1}`, "p"}, "400"},
		{"bad apply-to", []string{"--pattern=.", `--definition={"max-length":1}`, "--apply-to=nothing", "p"}, "400"},
		{"no name", []string{"--pattern=.", `--definition={"max-length":1}`}, "usage: warren declare policy NAME"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runAPIErr(t, append([]string{"declare", "policy", u}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}

	runAPI(t, "", "delete", "policy", u, "cap")
	if ps := listPolicies(); len(ps) != 0 {
		t.Fatalf("after delete: %v", ps)
	}
	if err := runAPIErr(t, "delete", "policy", u, "cap"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("deleting a missing policy: %v", err)
	}

	runAPI(t, "", "declare", "vhost-limit", u, "max-queues", "1")
	if out := runAPI(t, "", "list", "vhost-limits", u); !strings.Contains(out, `{"max-queues":1}`) {
		t.Fatalf("list vhost-limits:\n%s", out)
	}
	if err := runAPIErr(t, "declare", "queue", u, "second"); err == nil {
		t.Fatal("a second queue was declared beyond max-queues 1")
	}
	if err := runAPIErr(t, "declare", "vhost-limit", u, "max-queues", "many"); err == nil || !strings.Contains(err.Error(), "invalid VALUE") {
		t.Fatalf("a limit that is not a number: %v", err)
	}
	if err := runAPIErr(t, "declare", "vhost-limit", u, "max-bananas", "1"); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("an unknown limit: %v", err)
	}
	runAPI(t, "", "delete", "vhost-limit", u, "max-queues")
	if out := runAPI(t, "", "list", "vhost-limits", u, "--format=json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("after delete vhost-limit: %s", out)
	}
	runAPI(t, "", "declare", "queue", u, "second")
}
