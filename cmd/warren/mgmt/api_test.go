package mgmt

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/vhost"
)

// The expected codes and bodies below are RabbitMQ 3.10.8's (Debian's rabbitmq-server
// with rabbitmq_management), recorded with the same requests.

func TestAuthentication(t *testing.T) {
	e := start(t)
	r := e.doAs("", "", "GET", "/api/overview", "")
	e.want(r, 401, "")
	if got := r.hdr.Get("WWW-Authenticate"); got != `Basic realm="RabbitMQ Management"` {
		t.Fatalf("WWW-Authenticate %q", got)
	}
	e.want(e.doAs("guest", "wrong", "GET", "/api/overview", ""), 401, `{"error":"not_authorized","reason":"Login failed"}`)
	e.want(e.doAs("nobody", "x", "GET", "/api/whoami", ""), 401, `{"error":"not_authorized","reason":"Login failed"}`)
	e.want(e.do("GET", "/api/whoami", ""), 200, `{"name":"guest","tags":["administrator"]}`)

	// A user without a management tag may not use the API.
	if err := e.b.Core.AddUser("app", "pw", nil); err != nil {
		t.Fatal(err)
	}
	e.want(e.doAs("app", "pw", "GET", "/api/whoami", ""), 401, `{"error":"not_authorised","reason":"Not management user"}`)
	if err := e.b.Core.SetTags("app", []string{"management"}); err != nil {
		t.Fatal(err)
	}
	e.want(e.doAs("app", "pw", "GET", "/api/whoami", ""), 200, `{"name":"app","tags":["management"]}`)
	e.want(e.doAs("app", "pw", "GET", "/api/users", ""), 401, `{"error":"not_authorised","reason":"Not administrator user"}`)
	// No permissions on "/": the vhost is refused.
	e.want(e.doAs("app", "pw", "GET", "/api/queues/%2F", ""), 401, `{"error":"not_authorised","reason":"User not authorised to access virtual host"}`)
	e.want(e.doAs("app", "pw", "GET", "/api/queues", ""), 200, `[]`)
	e.want(e.doAs("app", "pw", "GET", "/api/health/checks/alarms", ""), 200, `{"status":"ok"}`)
}

func TestRouting(t *testing.T) {
	e := start(t)
	e.want(e.do("GET", "/api/nothing-here", ""), 404, `{"error":"Object Not Found","reason":"Not Found"}`)
	e.want(e.do("GET", "/api/queues/nope", ""), 404, `{"error":"Object Not Found","reason":"Not Found"}`)
	r := e.do("PATCH", "/api/queues/%2F/q", "")
	e.want(r, 405, "")
	if allow := r.hdr.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "DELETE") || !strings.Contains(allow, "PUT") {
		t.Fatalf("Allow %q", allow)
	}
	// "/" is "%2F"; a queue may be named "/" too, and with "%2F" inside a name.
	e.want(e.do("PUT", "/api/queues/%2F/%2F", `{}`), 201, "")
	e.want(e.do("PUT", "/api/queues/%2F/a%2Fb", `{}`), 201, "")
	var q map[string]any
	r = e.do("GET", "/api/queues/%2F/%2F", "")
	e.want(r, 200, "")
	r.json(t, &q)
	if q["name"] != "/" || q["vhost"] != "/" {
		t.Fatalf("queue %v", q)
	}
	r = e.do("GET", "/api/queues/%2F/a%2Fb", "")
	e.want(r, 200, "")
	r.json(t, &q)
	if q["name"] != "a/b" {
		t.Fatalf("queue %v", q)
	}
	// A literal segment wins over a wildcard.
	r = e.do("GET", "/api/users/without-permissions", "")
	e.want(r, 200, "[]")
}

func TestConnectionsListAndClose(t *testing.T) {
	e := start(t)
	conn := e.dial("orders-service")
	e.channel(conn)
	closed := conn.NotifyClose(make(chan *amqp091.Error, 1))

	var list []map[string]any
	e.do("GET", "/api/connections/", "").json(t, &list) // amqp091-go's tests call it with a slash
	if len(list) != 1 {
		t.Fatalf("connections %v", list)
	}
	c := list[0]
	// The fields of RabbitMQ 3.10.8's listing that warren has values for.
	hasKeys(t, "connection", c, "name", "node", "type", "protocol", "state", "user", "vhost", "auth_mechanism",
		"client_properties", "connected_at", "host", "port", "peer_host", "peer_port", "frame_max", "channel_max",
		"timeout", "channels", "ssl", "user_provided_name", "user_who_performed_action")
	name := conn.LocalAddr().String() + " -> " + e.b.Addr
	if c["name"] != name || c["protocol"] != "AMQP 0-9-1" || c["state"] != "running" || c["user_provided_name"] != "orders-service" ||
		c["channels"] != float64(1) || c["auth_mechanism"] != "PLAIN" || c["timeout"] != float64(10) {
		t.Fatalf("connection %v", c)
	}
	props, _ := c["client_properties"].(map[string]any)
	if props["connection_name"] != "orders-service" || props["capabilities"] == nil {
		t.Fatalf("client_properties %v", props)
	}

	var one map[string]any
	e.do("GET", "/api/connections/"+url.PathEscape(name), "").json(t, &one)
	if one["name"] != name {
		t.Fatalf("connection %v", one)
	}
	var chans []map[string]any
	e.do("GET", "/api/connections/"+url.PathEscape(name)+"/channels", "").json(t, &chans)
	if len(chans) != 1 || chans[0]["name"] != name+" (1)" || chans[0]["number"] != float64(1) {
		t.Fatalf("channels %v", chans)
	}
	e.want(e.do("GET", "/api/connections/nope", ""), 404, `{"error":"Object Not Found","reason":"Not Found"}`)
	e.want(e.do("DELETE", "/api/connections/nope", ""), 404, `{"error":"Object Not Found","reason":"Not Found"}`)

	e.want(e.do("DELETE", "/api/connections/"+url.PathEscape(name), ""), 204, "")
	select {
	case err := <-closed:
		if err == nil || err.Code != 320 || err.Reason != "CONNECTION_FORCED - Closed via management plugin" {
			t.Fatalf("closed with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed")
	}
}

func TestCloseConnectionWithReason(t *testing.T) {
	e := start(t)
	conn := e.dial("x")
	closed := conn.NotifyClose(make(chan *amqp091.Error, 1))
	name := conn.LocalAddr().String() + " -> " + e.b.Addr
	req := "/api/connections/" + url.PathEscape(name)
	r := e.doWithHeader("DELETE", req, "X-Reason", "rolling restart")
	e.want(r, 204, "")
	select {
	case err := <-closed:
		if err == nil || err.Reason != "CONNECTION_FORCED - rolling restart" {
			t.Fatalf("closed with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed")
	}
}

func TestQueueLifecycle(t *testing.T) {
	e := start(t)
	e.want(e.do("PUT", "/api/queues/%2F/newq", `{"durable":true,"arguments":{"x-max-length":10}}`), 201, "")
	e.want(e.do("PUT", "/api/queues/%2F/newq", `{"durable":true,"arguments":{"x-max-length":10}}`), 204, "")
	e.want(e.do("PUT", "/api/queues/%2F/newq", `{"durable":false}`), 400,
		`{"error":"bad_request","reason":"inequivalent arg 'durable' for queue 'newq' in vhost '/': received 'false' but current is 'true'"}`)
	e.want(e.do("PUT", "/api/queues/%2F/q2", `{bad`), 400, `{"error":"bad_request","reason":"not_json"}`)
	e.want(e.do("PUT", "/api/queues/%2F/q2", `{"durable":"yes"}`), 400, `{"error":"bad_request","reason":["not_boolean","yes"]}`)
	e.want(e.do("PUT", "/api/queues/%2F/q3", `{"arguments":{"x-message-ttl":"abc"}}`), 400,
		`{"error":"bad_request","reason":"invalid arg 'x-message-ttl' for queue 'q3' in vhost '/': \"expected integer, got longstr\""}`)
	e.want(e.do("PUT", "/api/queues/nope/q3", `{}`), 404, `{"error":"not_found","reason":"vhost_not_found"}`)

	for i := range 3 {
		e.want(e.do("POST", "/api/exchanges/%2F/amq.default/publish",
			fmt.Sprintf(`{"properties":{"delivery_mode":2,"headers":{"h":"v"},"content_type":"text/plain"},"routing_key":"newq","payload":"hello %d","payload_encoding":"string"}`, i)),
			200, `{"routed":true}`)
	}
	e.want(e.do("POST", "/api/exchanges/%2F/amq.default/publish", `{"properties":{},"routing_key":"nowhere","payload":"x","payload_encoding":"string"}`),
		200, `{"routed":false}`)
	e.want(e.do("POST", "/api/exchanges/%2F/nope/publish", `{"properties":{},"routing_key":"a.c","payload":"hi","payload_encoding":"string"}`),
		400, `{"error":"bad_request","reason":"404 NOT_FOUND - no exchange 'nope' in vhost '/'"}`)

	var q map[string]any
	e.do("GET", "/api/queues/%2F/newq", "").json(t, &q)
	hasKeys(t, "queue", q, "name", "vhost", "durable", "auto_delete", "exclusive", "arguments", "consumers", "messages",
		"messages_ready", "messages_unacknowledged", "messages_details", "message_bytes", "node", "state", "type",
		"consumer_details", "policy", "exclusive_consumer_tag")
	if q["messages"] != float64(3) || q["messages_ready"] != float64(3) || q["message_bytes"] != float64(21) ||
		q["messages_persistent"] != float64(3) || q["type"] != "classic" {
		t.Fatalf("queue %v", q)
	}

	e.want(e.do("POST", "/api/queues/%2F/newq/get", `{"count":2}`), 400,
		`{"error":"bad_request","reason":"[{key_missing,ackmode},{key_missing,encoding}]"}`)
	want := `[{"exchange":"","message_count":2,"payload":"hello 0","payload_bytes":7,"payload_encoding":"string","properties":{"content_type":"text/plain","delivery_mode":2,"headers":{"h":"v"}},"redelivered":false,"routing_key":"newq"},` +
		`{"exchange":"","message_count":1,"payload":"hello 1","payload_bytes":7,"payload_encoding":"string","properties":{"content_type":"text/plain","delivery_mode":2,"headers":{"h":"v"}},"redelivered":false,"routing_key":"newq"}]`
	e.want(e.do("POST", "/api/queues/%2F/newq/get", `{"count":2,"ackmode":"ack_requeue_true","encoding":"auto","truncate":50000}`), 200, want)
	// Requeued: the same two come back, now redelivered.
	var got []map[string]any
	e.do("POST", "/api/queues/%2F/newq/get", `{"count":5,"ackmode":"ack_requeue_false","encoding":"base64"}`).json(t, &got)
	if len(got) != 3 || got[0]["redelivered"] != true || got[2]["redelivered"] != false ||
		got[0]["payload"] != "aGVsbG8gMA==" || got[0]["payload_encoding"] != "base64" {
		t.Fatalf("get %v", got)
	}
	e.do("GET", "/api/queues/%2F/newq", "").json(t, &q)
	if q["messages"] != float64(0) {
		t.Fatalf("after ack_requeue_false: %v", q)
	}

	e.do("POST", "/api/exchanges/%2F/amq.default/publish", `{"properties":{},"routing_key":"newq","payload":"x","payload_encoding":"string"}`)
	e.want(e.do("DELETE", "/api/queues/%2F/newq/contents", ""), 204, "")
	e.do("GET", "/api/queues/%2F/newq", "").json(t, &q)
	if q["messages"] != float64(0) {
		t.Fatalf("after purge: %v", q)
	}
	e.want(e.do("DELETE", "/api/queues/%2F/newq", ""), 204, "")
	e.want(e.do("DELETE", "/api/queues/%2F/newq", ""), 404, `{"error":"Object Not Found","reason":"Not Found"}`)
	e.want(e.do("GET", "/api/queues/%2F/newq", ""), 404, `{"error":"Object Not Found","reason":"Not Found"}`)
}

func TestDeleteQueueInUse(t *testing.T) {
	e := start(t)
	ch := e.channel(e.dial("c"))
	if _, err := ch.QueueDeclare("pq2", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Consume("pq2", "ctag1", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	e.want(e.do("DELETE", "/api/queues/%2F/pq2?if-unused=true", ""), 400,
		`{"error":"bad_request","reason":"queue 'pq2' in vhost '/' in use"}`)

	var cons []map[string]any
	e.do("GET", "/api/consumers", "").json(t, &cons)
	if len(cons) != 1 {
		t.Fatalf("consumers %v", cons)
	}
	hasKeys(t, "consumer", cons[0], "arguments", "ack_required", "active", "activity_status", "channel_details",
		"consumer_tag", "exclusive", "prefetch_count", "queue")
	if cons[0]["consumer_tag"] != "ctag1" || cons[0]["ack_required"] != true {
		t.Fatalf("consumer %v", cons[0])
	}
	e.want(e.do("DELETE", "/api/queues/%2F/pq2", ""), 204, "")
}

func TestExchangesAndBindings(t *testing.T) {
	e := start(t)
	e.want(e.do("PUT", "/api/exchanges/%2F/newx", `{"type":"direct","durable":true}`), 201, "")
	e.want(e.do("PUT", "/api/exchanges/%2F/newx", `{"type":"direct","durable":true}`), 204, "")
	e.want(e.do("PUT", "/api/exchanges/%2F/newx", `{"type":"topic","durable":true}`), 400,
		`{"error":"bad_request","reason":"inequivalent arg 'type' for exchange 'newx' in vhost '/': received 'topic' but current is 'direct'"}`)
	e.want(e.do("PUT", "/api/exchanges/%2F/newx2", `{"type":"nope"}`), 400, `{"error":"bad_request","reason":"unknown exchange type 'nope'"}`)
	e.want(e.do("PUT", "/api/exchanges/%2F/amq.zz", `{"type":"direct"}`), 401, `{"error":"not_authorised","reason":"Access refused."}`)
	e.want(e.do("PUT", "/api/exchanges/%2F/newx3", `{}`), 201, "")
	var x map[string]any
	e.do("GET", "/api/exchanges/%2F/newx3", "").json(t, &x)
	if x["type"] != "direct" || x["durable"] != false {
		t.Fatalf("exchange %v", x)
	}
	e.do("GET", "/api/exchanges/%2F/amq.default", "").json(t, &x)
	if x["name"] != "" || x["durable"] != true {
		t.Fatalf("default exchange %v", x)
	}
	var xs []map[string]any
	e.do("GET", "/api/exchanges/%2F", "").json(t, &xs)
	if len(xs) != 9 { // 7 predeclared, newx, newx3
		t.Fatalf("%d exchanges", len(xs))
	}

	e.want(e.do("PUT", "/api/queues/%2F/newq", `{}`), 201, "")
	r := e.do("POST", "/api/bindings/%2F/e/newx/q/newq", `{"routing_key":"rk","arguments":{}}`)
	e.want(r, 201, "")
	if loc := r.hdr.Get("Location"); loc != "newq/rk" {
		t.Fatalf("Location %q", loc)
	}
	e.want(e.do("GET", "/api/bindings/%2F/e/newx/q/newq", ""), 200,
		`[{"arguments":{},"destination":"newq","destination_type":"queue","properties_key":"rk","routing_key":"rk","source":"newx","vhost":"/"}]`)
	e.want(e.do("GET", "/api/bindings/%2F/e/newx/q/newq/rk", ""), 200,
		`{"arguments":{},"destination":"newq","destination_type":"queue","properties_key":"rk","routing_key":"rk","source":"newx","vhost":"/"}`)
	e.want(e.do("GET", "/api/bindings/%2F/e/nope/q/newq", ""), 404, "")

	// With arguments the properties key carries a hash, and names the binding.
	r = e.do("POST", "/api/bindings/%2F/e/amq.headers/q/newq", `{"routing_key":"","arguments":{"x-match":"any","a":1}}`)
	e.want(r, 201, "")
	loc := r.hdr.Get("Location")
	if !strings.HasPrefix(loc, "newq/~") {
		t.Fatalf("Location %q", loc)
	}
	e.want(e.do("DELETE", "/api/bindings/%2F/e/amq.headers/q/"+loc, ""), 204, "")

	e.want(e.do("POST", "/api/bindings/%2F/e/newx/e/newx3", `{"routing_key":"k"}`), 201, "")
	var bs []map[string]any
	e.do("GET", "/api/exchanges/%2F/newx/bindings/source", "").json(t, &bs)
	if len(bs) != 2 || bs[0]["destination"] != "newx3" || bs[1]["destination"] != "newq" {
		t.Fatalf("source bindings %v", bs)
	}
	e.do("GET", "/api/queues/%2F/newq/bindings", "").json(t, &bs)
	if len(bs) != 2 || bs[0]["source"] != "" || bs[1]["source"] != "newx" {
		t.Fatalf("queue bindings %v", bs)
	}

	e.want(e.do("DELETE", "/api/bindings/%2F/e/newx/q/newq/rk", ""), 204, "")
	e.want(e.do("DELETE", "/api/bindings/%2F/e/newx/q/newq/rk", ""), 404, `{"error":"Object Not Found","reason":"Not Found"}`)
	e.want(e.do("DELETE", "/api/exchanges/%2F/amq.direct", ""), 401, `{"error":"not_authorised","reason":"Access refused."}`)
	e.want(e.do("DELETE", "/api/exchanges/%2F/newx", ""), 204, "")
	e.want(e.do("DELETE", "/api/exchanges/%2F/nope", ""), 404, `{"error":"Object Not Found","reason":"Not Found"}`)
}

// The peek shows messages and changes nothing: a consumer afterwards gets all of them in
// order, none redelivered.
func TestPeek(t *testing.T) {
	e := start(t)
	ch := e.channel(e.dial("c"))
	if _, err := ch.QueueDeclare("q", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := ch.Publish("", "q", false, false, amqp091.Publishing{ContentType: "text/plain", Body: []byte(fmt.Sprintf("m%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	d, ok, err := ch.Get("q", false) // m0 stays unacked
	if err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	}
	var p struct {
		Ready    int              `json:"messages_ready"`
		Unacked  int              `json:"messages_unacknowledged"`
		Messages []map[string]any `json:"messages"`
	}
	for range 3 {
		e.do("GET", "/api/queues/%2F/q/peek?count=10", "").json(t, &p)
	}
	if p.Ready != 3 || p.Unacked != 1 || len(p.Messages) != 4 {
		t.Fatalf("peek %+v", p)
	}
	for i, m := range p.Messages {
		state := "ready"
		if i == 0 {
			state = "unacked"
		}
		if m["payload"] != fmt.Sprintf("m%d", i) || m["state"] != state || m["position"] != float64(i) {
			t.Fatalf("message %d: %v", i, m)
		}
	}
	e.do("GET", "/api/queues/%2F/q/peek?offset=2&count=1&encoding=base64", "").json(t, &p)
	if len(p.Messages) != 1 || p.Messages[0]["payload"] != "bTI=" {
		t.Fatalf("peek offset 2: %+v", p)
	}
	e.want(e.do("GET", "/api/queues/%2F/q/peek?count=5000", ""), 400, "")
	e.want(e.do("GET", "/api/queues/%2F/nope/peek", ""), 404, "")

	if err := d.Ack(false); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 4; i++ {
		d, ok, err := ch.Get("q", true)
		if err != nil || !ok || string(d.Body) != fmt.Sprintf("m%d", i) || d.Redelivered {
			t.Fatalf("get %d after peeks: %q redelivered=%v ok=%v err=%v", i, d.Body, d.Redelivered, ok, err)
		}
	}
}

func TestOverviewVHostsHealth(t *testing.T) {
	e := start(t)
	var o map[string]any
	e.do("GET", "/api/overview", "").json(t, &o)
	hasKeys(t, "overview", o, "management_version", "rates_mode", "exchange_types", "product_version", "product_name",
		"rabbitmq_version", "cluster_name", "node", "message_stats", "queue_totals", "object_totals", "listeners")
	if o["node"] != "warren@test" || o["product_name"] != "RabbitMQ" {
		t.Fatalf("overview %v", o)
	}
	totals, _ := o["object_totals"].(map[string]any)
	if totals["exchanges"] != float64(7) || totals["queues"] != float64(0) {
		t.Fatalf("object_totals %v", totals)
	}

	var vs []map[string]any
	e.do("GET", "/api/vhosts", "").json(t, &vs)
	if len(vs) != 1 || vs[0]["name"] != "/" || vs[0]["description"] != "Default virtual host" {
		t.Fatalf("vhosts %v", vs)
	}
	e.want(e.do("PUT", "/api/vhosts/dev", ""), 201, "")
	e.want(e.do("PUT", "/api/vhosts/dev", ""), 204, "")
	e.want(e.do("GET", "/api/vhosts/dev", ""), 200, "")
	e.want(e.do("GET", "/api/permissions/dev/guest", ""), 200, `{"configure":".*","read":".*","user":"guest","vhost":"dev","write":".*"}`)
	e.want(e.do("DELETE", "/api/vhosts/dev", ""), 204, "")
	e.want(e.do("GET", "/api/vhosts/dev", ""), 404, `{"error":"Object Not Found","reason":"Not Found"}`)

	e.want(e.do("GET", "/api/health/checks/alarms", ""), 200, `{"status":"ok"}`)
	e.want(e.do("GET", "/api/health/checks/virtual-hosts", ""), 200, `{"status":"ok"}`)
	e.want(e.do("GET", "/api/health/checks/protocol-listener/amqp091", ""), 200, `{"status":"ok"}`)
	e.want(e.do("GET", "/api/health/checks/protocol-listener/mqtt", ""), 503, "")
	e.want(e.do("GET", "/api/health/checks/port-listener/1", ""), 503, "")
	e.want(e.do("GET", "/api/aliveness-test/%2F", ""), 200, `{"status":"ok"}`)
	e.b.Core.SetAlarm("disk", true)
	e.want(e.do("GET", "/api/health/checks/alarms", ""), 503, "")
	e.b.Core.SetAlarm("disk", false)
}

func TestUsersAndPermissions(t *testing.T) {
	e := start(t)
	e.want(e.do("PUT", "/api/users/bob", `{"password":"secret","tags":"management"}`), 201, "")
	e.want(e.do("PUT", "/api/users/bob", `{"password":"secret","tags":"monitoring,management"}`), 204, "")
	var u map[string]any
	e.do("GET", "/api/users/bob", "").json(t, &u)
	if u["hashing_algorithm"] != "rabbit_password_hashing_sha256" || u["password_hash"] == "" {
		t.Fatalf("user %v", u)
	}
	e.want(e.doAs("bob", "secret", "GET", "/api/whoami", ""), 200, `{"name":"bob","tags":["monitoring","management"]}`)
	e.want(e.do("PUT", "/api/permissions/%2F/bob", `{"configure":".*","write":".*"}`), 400,
		`{"error":"bad_request","reason":"[{key_missing,read}]"}`)
	e.want(e.do("PUT", "/api/permissions/%2F/bob", `{"configure":".*","write":".*","read":".*"}`), 201, "")
	e.want(e.do("GET", "/api/permissions/%2F/bob", ""), 200, `{"configure":".*","read":".*","user":"bob","vhost":"/","write":".*"}`)
	e.want(e.doAs("bob", "secret", "GET", "/api/queues/%2F", ""), 200, "[]")
	e.want(e.do("DELETE", "/api/permissions/%2F/bob", ""), 204, "")
	e.want(e.do("DELETE", "/api/users/bob", ""), 204, "")
	e.want(e.do("DELETE", "/api/users/bob", ""), 404, "")
}

// Resource permissions apply to API calls as to the AMQP operations (checked against
// RabbitMQ 3.10.8 with a user whose configure permission is "^app\.").
func TestResourcePermissions(t *testing.T) {
	e := start(t)
	if err := e.b.Core.AddUser("app", "pw", []string{"management"}); err != nil {
		t.Fatal(err)
	}
	if err := e.b.Core.SetPermissions("app", "/", `^app\.`, ".*", ".*"); err != nil {
		t.Fatal(err)
	}
	as := func(method, path, body string) reply { return e.doAs("app", "pw", method, path, body) }
	refused := `{"error":"not_authorised","reason":"Access refused."}`
	e.want(as("PUT", "/api/queues/%2F/other", `{}`), 401, refused)
	e.want(as("PUT", "/api/queues/%2F/app.x", `{}`), 201, "")
	e.want(as("PUT", "/api/exchanges/%2F/other", `{"type":"direct"}`), 401, refused)
	e.want(e.do("PUT", "/api/queues/%2F/other", `{}`), 201, "")
	e.want(as("DELETE", "/api/queues/%2F/other", ""), 401, refused)

	if err := e.b.Core.SetPermissions("app", "/", ".*", "^$", "^$"); err != nil {
		t.Fatal(err)
	}
	r := as("POST", "/api/exchanges/%2F/amq.direct/publish", `{"properties":{},"routing_key":"x","payload":"x","payload_encoding":"string"}`)
	if r.code != 400 || !strings.Contains(string(r.body), `"403 ACCESS_REFUSED - `) || !strings.Contains(string(r.body), "access to exchange 'amq.direct' in vhost '/' refused for user 'app'") {
		t.Fatalf("publish: %d %s", r.code, r.body)
	}
	r = as("POST", "/api/queues/%2F/app.x/get", `{"count":1,"ackmode":"ack_requeue_true","encoding":"auto"}`)
	if r.code != 401 || !strings.Contains(string(r.body), `"reason":"ACCESS_REFUSED - `) {
		t.Fatalf("get: %d %s", r.code, r.body)
	}
	e.want(as("POST", "/api/bindings/%2F/e/amq.direct/q/app.x", `{}`), 401, refused)
	e.want(as("DELETE", "/api/queues/%2F/app.x/contents", ""), 401, refused)
	e.want(as("GET", "/api/queues/%2F/app.x/peek", ""), 401, refused)
}

func TestErlangList(t *testing.T) {
	for _, tc := range []struct {
		keys []string
		want string
	}{ // RabbitMQ 3.10.8's answers to publishes missing these keys
		{[]string{"properties", "payload"}, "[{key_missing,properties},{key_missing,payload}]"},
		{[]string{"routing_key", "properties", "payload"}, "[{key_missing,routing_key},{key_missing,properties},{key_missing,payload}]"},
		{[]string{"properties", "payload", "payload_encoding"}, "[{key_missing,properties},\n {key_missing,payload},\n {key_missing,payload_encoding}]"},
	} {
		err := keysMissing(map[string]any{}, tc.keys...)
		if ae, ok := err.(*apiError); !ok || ae.reason != tc.want {
			t.Errorf("keys %v: %v, want %q", tc.keys, err, tc.want)
		}
	}
}

// Queues and exchanges carry message_stats once they had traffic, in RabbitMQ 3.10.8's
// groups (recorded with the same calls on a node): a queue's "publish" alone, or its
// delivery counters all together; an exchange's publish_in, and publish_out once it
// routed somewhere.
func TestObjectMessageStats(t *testing.T) {
	e := start(t)
	ch := e.channel(e.dial("m"))
	if err := ch.ExchangeDeclare("px", "fanout", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare("pnone", "fanout", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"pq1", "pq2", "pidle", "pempty"} {
		if _, err := ch.QueueDeclare(q, false, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{"pq1", "pq2"} {
		if err := ch.QueueBind(q, "", "px", false, nil); err != nil {
			t.Fatal(err)
		}
	}
	e.api.rates.record(time.Now().Add(-time.Second), e.api.counters())
	for range 3 {
		if err := ch.Publish("px", "", false, false, amqp091.Publishing{Body: []byte("m")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.Publish("pnone", "", false, false, amqp091.Publishing{Body: []byte("m")}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		d, ok, err := ch.Get("pq1", false)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := ch.Get("pempty", true); err != nil || ok {
		t.Fatal(ok, err)
	}
	e.api.rates.record(time.Now(), e.api.counters())

	stats := func(path string) map[string]any {
		var o map[string]any
		e.do("GET", path, "").json(t, &o)
		ms, _ := o["message_stats"].(map[string]any)
		return ms
	}
	for _, tc := range []struct {
		path string
		want map[string]float64 // nil: no message_stats
	}{
		{"/api/queues/%2F/pidle", nil},
		{"/api/queues/%2F/pq2", map[string]float64{"publish": 3}},
		{"/api/queues/%2F/pq1", map[string]float64{"publish": 3, "get": 2, "deliver_get": 2, "ack": 2,
			"deliver": 0, "deliver_no_ack": 0, "get_no_ack": 0, "get_empty": 0, "redeliver": 0}},
		{"/api/queues/%2F/pempty", map[string]float64{"get_empty": 1, "get": 0, "get_no_ack": 0, "deliver": 0,
			"deliver_no_ack": 0, "deliver_get": 0, "redeliver": 0, "ack": 0}},
		{"/api/exchanges/%2F/px", map[string]float64{"publish_in": 3, "publish_out": 6}},
		{"/api/exchanges/%2F/pnone", map[string]float64{"publish_in": 1}},
		{"/api/exchanges/%2F/amq.topic", nil},
	} {
		ms := stats(tc.path)
		if tc.want == nil {
			if ms != nil {
				t.Errorf("%s: message_stats %v, want none", tc.path, ms)
			}
			continue
		}
		if len(ms) != 2*len(tc.want) {
			t.Errorf("%s: message_stats %v, want the fields of %v and their details", tc.path, ms, tc.want)
		}
		for k, n := range tc.want {
			if ms[k] != n {
				t.Errorf("%s: %s = %v, want %v", tc.path, k, ms[k], n)
			}
			if d, _ := ms[k+"_details"].(map[string]any); d == nil || (n > 0 && d["rate"].(float64) <= 0) {
				t.Errorf("%s: %s_details = %v", tc.path, k, ms[k+"_details"])
			}
		}
	}

	// Listings carry the same objects.
	var qs []map[string]any
	e.do("GET", "/api/queues/%2F", "").json(t, &qs)
	for _, q := range qs {
		ms, has := q["message_stats"]
		if (q["name"] == "pidle") == has {
			t.Errorf("listed queue %v: message_stats %v", q["name"], ms)
		}
	}
}

// The API's own publishes and gets count in the vhost's and the overview's message_stats,
// as RabbitMQ's (made on a channel of the plugin's: mandatory, confirmed publishes;
// ack_requeue_false is a no-ack get); a publish a queue refuses is RabbitMQ's 400.
func TestAPIMessageCounts(t *testing.T) {
	e := start(t)
	e.want(e.do("PUT", "/api/queues/%2F/q", `{}`), 201, "")
	pub := func(key string) reply {
		return e.do("POST", "/api/exchanges/%2F/amq.default/publish",
			`{"properties":{},"routing_key":"`+key+`","payload":"x","payload_encoding":"string"}`)
	}
	e.want(pub("q"), 200, `{"routed":true}`)
	e.want(pub("q"), 200, `{"routed":true}`)
	e.want(pub("nowhere"), 200, `{"routed":false}`)
	e.want(e.do("POST", "/api/queues/%2F/q/get", `{"count":1,"ackmode":"ack_requeue_true","encoding":"auto"}`), 200, "")
	e.want(e.do("POST", "/api/queues/%2F/q/get", `{"count":5,"ackmode":"ack_requeue_false","encoding":"auto"}`), 200, "")

	var v map[string]any
	e.do("GET", "/api/vhosts/%2F", "").json(t, &v)
	ms, _ := v["message_stats"].(map[string]any)
	want := map[string]float64{"publish": 3, "confirm": 3, "return_unroutable": 1, "drop_unroutable": 0,
		"get": 1, "get_no_ack": 2, "get_empty": 1, "redeliver": 1, "deliver_get": 3, "ack": 0}
	for k, n := range want {
		if ms[k] != n {
			t.Errorf("vhost message_stats %s = %v, want %v (%v)", k, ms[k], n, ms)
		}
	}
	var o map[string]any
	e.do("GET", "/api/overview", "").json(t, &o)
	if os, _ := o["message_stats"].(map[string]any); os["publish"] != float64(3) || os["get_no_ack"] != float64(2) {
		t.Errorf("overview message_stats %v", os)
	}
	var q map[string]any
	e.do("GET", "/api/queues/%2F/q", "").json(t, &q)
	if qs, _ := q["message_stats"].(map[string]any); qs["publish"] != float64(2) || qs["get_no_ack"] != float64(2) || qs["ack"] != float64(0) {
		t.Errorf("queue message_stats %v", qs)
	}

	e.want(e.do("PUT", "/api/queues/%2F/full", `{"arguments":{"x-max-length":0,"x-overflow":"reject-publish"}}`), 201, "")
	e.want(pub("full"), 400, `{"error":"bad_request","reason":"rejected Unable to publish message. Check queue limits."}`)
}

// The peek shows the messages the pager keeps on disk only (a broker with a store and a
// 1-byte memory budget), in order, and leaves them there.
func TestPeekPagedOut(t *testing.T) {
	e, core, _ := startStored(t, vhost.Config{MemoryBudget: 1})

	e.want(e.do("PUT", "/api/queues/%2F/q", `{"durable":true}`), 201, "")
	v := core.VHost("/")
	const n = 600
	props := wire.Properties{DeliveryMode: 2}
	flags, raw, err := props.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		m := &vhost.Message{RoutingKey: "q", Flags: flags, Props: raw, Body: []byte(fmt.Sprint(i)), Persistent: true}
		if _, err := v.Publish(m); err != nil {
			t.Fatal(err)
		}
	}
	var p struct {
		Ready    int              `json:"messages_ready"`
		PagedOut int              `json:"messages_paged_out"`
		Messages []map[string]any `json:"messages"`
	}
	for _, offset := range []int{0, 300} {
		e.do("GET", fmt.Sprintf("/api/queues/%%2F/q/peek?count=1000&offset=%d", offset), "").json(t, &p)
		if p.Ready != n || p.PagedOut == 0 || len(p.Messages) != n-offset {
			t.Fatalf("peek at %d: ready %d, paged out %d, %d messages", offset, p.Ready, p.PagedOut, len(p.Messages))
		}
		for i, m := range p.Messages {
			if m["payload"] != fmt.Sprint(offset+i) || m["position"] != float64(offset+i) || m["redelivered"] != false {
				t.Fatalf("peek at %d, message %d: %v", offset, i, m)
			}
		}
	}
	if q, _ := v.QueueStats("q"); q.PagedOut != p.PagedOut || q.Ready != n {
		t.Fatalf("after the peeks: %+v", q)
	}
}
