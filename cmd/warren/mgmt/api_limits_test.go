package mgmt

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// The codes and bodies are RabbitMQ 3.10.8's for the same requests.

func TestVHostLimits(t *testing.T) {
	e := start(t)
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "/api/vhost-limits", "", 200, `[]`},
		{"GET", "/api/vhost-limits/%2F", "", 200, `[]`},
		{"PUT", "/api/vhost-limits/%2F/max-connections", `{"value":10}`, 204, ``},
		{"PUT", "/api/vhost-limits/%2F/max-connections", `{"value":11}`, 204, ``},
		{"PUT", "/api/vhost-limits/%2F/max-queues", `{"value":100}`, 204, ``},
		{"GET", "/api/vhost-limits", "", 200, `[{"value":{"max-connections":11,"max-queues":100},"vhost":"/"}]`},
		{"GET", "/api/vhost-limits/%2F", "", 200, `[{"value":{"max-connections":11,"max-queues":100},"vhost":"/"}]`},
		{"GET", "/api/vhost-limits/nope", "", 404, `{"error":"Object Not Found","reason":"Not Found"}`},
		{"PUT", "/api/vhost-limits/nope/max-queues", `{"value":1}`, 404, `{"error":"not_found","reason":"vhost_not_found"}`},
		{"PUT", "/api/vhost-limits/%2F/max-foo", `{"value":1}`, 400,
			`{"error":"bad_request","reason":"Validation failed\n\nUnrecognised terms [{<<\"max-foo\">>,1}] in limits\n"}`},
		{"PUT", "/api/vhost-limits/%2F/max-foo", `{"value":"x"}`, 400,
			`{"error":"bad_request","reason":"Validation failed\n\nUnrecognised terms [{<<\"max-foo\">>,<<\"x\">>}] in limits\n"}`},
		{"PUT", "/api/vhost-limits/%2F/max-queues", `{"value":"x"}`, 400,
			`{"error":"bad_request","reason":"Validation failed\n\nmax-queues should be a number, actually was <<\"x\">>\n"}`},
		{"PUT", "/api/vhost-limits/%2F/max-queues", `{"value":1.5}`, 400,
			`{"error":"bad_request","reason":"Validation failed\n\nmax-queues should be a number, actually was 1.5\n"}`},
		{"PUT", "/api/vhost-limits/%2F/max-queues", `{"value":1e3}`, 400,
			`{"error":"bad_request","reason":"Validation failed\n\nmax-queues should be a number, actually was 1.0e3\n"}`},
		{"PUT", "/api/vhost-limits/%2F/max-queues", `{"value":true}`, 400,
			`{"error":"bad_request","reason":"Validation failed\n\nmax-queues should be a number, actually was true\n"}`},
		{"PUT", "/api/vhost-limits/%2F/max-queues", `{"value":null}`, 400,
			`{"error":"bad_request","reason":"Validation failed\n\nmax-queues should be a number, actually was null\n"}`},
		{"PUT", "/api/vhost-limits/%2F/max-queues", `{"value":{"a":1}}`, 400,
			`{"error":"bad_request","reason":"Validation failed\n\nmax-queues should be a number, actually was #{<<\"a\">> => 1}\n"}`},
		{"PUT", "/api/vhost-limits/%2F/max-queues", `{}`, 400, `{"error":"bad_request","reason":"[{key_missing,value}]"}`},
		{"PUT", "/api/vhost-limits/%2F/max-queues", `notjson`, 400, `{"error":"bad_request","reason":"not_json"}`},
		{"GET", "/api/vhost-limits/%2F/max-queues", "", 405, ``},
		{"DELETE", "/api/vhost-limits/%2F/max-foo", "", 204, ``},
		{"DELETE", "/api/vhost-limits/%2F/max-queues", "", 204, ``},
		{"GET", "/api/vhost-limits/%2F", "", 200, `[{"value":{"max-connections":11},"vhost":"/"}]`},
		{"PUT", "/api/vhost-limits/%2F/max-queues", `{"value":0}`, 204, ``},
	} {
		e.want(e.do(tc.method, tc.path, tc.body), tc.code, tc.want)
	}
	// The limit is the one the broker enforces.
	ch := e.channel(e.dial("lim"))
	_, err := ch.QueueDeclare("q", false, false, false, false, nil)
	if ae, ok := err.(*amqp091.Error); !ok || ae.Code != 406 {
		t.Fatalf("declare past max-queues 0: %v", err)
	}
	e.want(e.do("DELETE", "/api/vhost-limits/%2F/max-queues", ""), 204, "")
	e.want(e.do("DELETE", "/api/vhost-limits/%2F/max-connections", ""), 204, "")
	e.want(e.do("GET", "/api/vhost-limits", ""), 200, "[]")

	// Reading needs access to the vhost; changing needs an administrator.
	if err := e.b.Core.AddUser("mon", "pw", []string{"management"}); err != nil {
		t.Fatal(err)
	}
	e.want(e.doAs("mon", "pw", "GET", "/api/vhost-limits", ""), 200, "[]")
	e.want(e.doAs("mon", "pw", "GET", "/api/vhost-limits/%2F", ""), 401,
		`{"error":"not_authorised","reason":"User not authorised to access virtual host"}`)
	e.want(e.doAs("mon", "pw", "PUT", "/api/vhost-limits/%2F/max-queues", `{"value":1}`), 401,
		`{"error":"not_authorised","reason":"Not administrator user"}`)
}

func TestUserLimits(t *testing.T) {
	e := start(t)
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "/api/user-limits", "", 200, `[]`},
		{"GET", "/api/user-limits/guest", "", 200, `[]`},
		{"GET", "/api/user-limits/nope", "", 404, `{"error":"Object Not Found","reason":"Not Found"}`},
		{"PUT", "/api/user-limits/guest/max-connections", `{"value":10}`, 204, ``},
		{"PUT", "/api/user-limits/guest/max-channels", `{"value":20}`, 204, ``},
		{"PUT", "/api/user-limits/guest/max-queues", `{"value":20}`, 400,
			`{"error":"bad_request","reason":"Unrecognised terms [{<<\"max-queues\">>,20}] in user-limits"}`},
		{"PUT", "/api/user-limits/nope/max-foo", `{"value":"x"}`, 400,
			`{"error":"bad_request","reason":"Unrecognised terms [{<<\"max-foo\">>,<<\"x\">>}] in user-limits"}`},
		{"PUT", "/api/user-limits/guest/max-channels", `{"value":"x"}`, 400,
			`{"error":"bad_request","reason":"max-channels should be a number, actually was <<\"x\">>"}`},
		{"PUT", "/api/user-limits/guest/max-channels", `{}`, 400, `{"error":"bad_request","reason":"[{key_missing,value}]"}`},
		{"PUT", "/api/user-limits/nope/max-channels", `{"value":1}`, 400, `{"error":"bad_request","reason":["no_such_user","nope"]}`},
		{"GET", "/api/user-limits", "", 200, `[{"user":"guest","value":{"max-channels":20,"max-connections":10}}]`},
		{"GET", "/api/user-limits/guest", "", 200, `[{"user":"guest","value":{"max-channels":20,"max-connections":10}}]`},
		{"DELETE", "/api/user-limits/guest/max-channels", "", 204, ``},
		{"DELETE", "/api/user-limits/guest/max-foo", "", 204, ``},
		{"GET", "/api/user-limits", "", 200, `[{"user":"guest","value":{"max-connections":10}}]`},
		{"PUT", "/api/user-limits/guest/max-channels", `{"value":1}`, 204, ``},
	} {
		e.want(e.do(tc.method, tc.path, tc.body), tc.code, tc.want)
	}
	var u map[string]any
	e.do("GET", "/api/users/guest", "").json(t, &u)
	if l, _ := u["limits"].(map[string]any); l["max-channels"] != float64(1) || l["max-connections"] != float64(10) {
		t.Fatalf("user %v", u)
	}
	// max-channels 1 is enforced: a second channel is refused.
	c := e.dial("lim")
	e.channel(c)
	if _, err := c.Channel(); err == nil {
		t.Fatal("second channel opened past max-channels 1")
	}
	e.want(e.do("DELETE", "/api/user-limits/guest/max-channels", ""), 204, "")
	e.want(e.do("DELETE", "/api/user-limits/guest/max-connections", ""), 204, "")
	e.want(e.do("GET", "/api/user-limits", ""), 200, "[]")
}

// Vhost limits travel in definitions as RabbitMQ 3.10.8 exports them: a runtime parameter
// of component "vhost-limits" named "limits", with its vhost, also in a vhost's export.
func TestLimitsInDefinitions(t *testing.T) {
	e := start(t)
	e.want(e.do("PUT", "/api/vhosts/lim", ""), 201, "")
	e.want(e.do("PUT", "/api/vhost-limits/lim/max-queues", `{"value":3}`), 204, "")
	const param = `[{"component":"vhost-limits","name":"limits","value":{"max-queues":3},"vhost":"lim"}]`
	for _, path := range []string{"/api/definitions", "/api/definitions/lim"} {
		var d map[string]json.RawMessage
		e.do("GET", path, "").json(t, &d)
		if string(d["parameters"]) != param {
			t.Errorf("%s: parameters %s, want %s", path, d["parameters"], param)
		}
	}

	// RabbitMQ's own export imports; an unknown limit or a bad value stops the import.
	f := start(t)
	rabbit := `{"vhosts":[{"name":"lim"}],"parameters":[{"value":{"max-queues":-1,"max-connections":11},"vhost":"lim","component":"vhost-limits","name":"limits"},` +
		`{"value":{"uri":"amqp://"},"vhost":"lim","component":"shovel","name":"s"}]}`
	f.want(f.do("POST", "/api/definitions", rabbit), 204, "")
	f.want(f.do("GET", "/api/vhost-limits/lim", ""), 200, `[{"value":{"max-connections":11},"vhost":"lim"}]`)
	f.want(f.do("POST", "/api/definitions/lim", `{"parameters":[{"value":{"max-queues":5},"component":"vhost-limits","name":"limits"}]}`), 204, "")
	f.want(f.do("GET", "/api/vhost-limits/lim", ""), 200, `[{"value":{"max-queues":5},"vhost":"lim"}]`)
	r := f.do("POST", "/api/definitions", `{"parameters":[{"value":{"max-foo":1},"vhost":"lim","component":"vhost-limits","name":"limits"}]}`)
	if r.code != 400 || !strings.Contains(string(r.body), "Unrecognised terms") {
		t.Fatalf("unknown limit imported: %d %s", r.code, r.body)
	}
}

// Two requests setting different limits of one vhost at once both take effect: each
// reads the limits, changes one and writes them back, one at a time.
func TestVHostLimitsConcurrentPuts(t *testing.T) {
	e := start(t)
	for round := range 20 {
		e.want(e.do("DELETE", "/api/vhost-limits/%2F/max-connections", ""), 204, "")
		e.want(e.do("DELETE", "/api/vhost-limits/%2F/max-queues", ""), 204, "")
		var wg sync.WaitGroup
		for _, name := range []string{"max-connections", "max-queues"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.do("PUT", "/api/vhost-limits/%2F/"+name, `{"value":50}`)
			}()
		}
		wg.Wait()
		r := e.do("GET", "/api/vhost-limits/%2F", "")
		if want := `[{"value":{"max-connections":50,"max-queues":50},"vhost":"/"}]`; string(r.body) != want {
			t.Fatalf("round %d: %s, want %s", round, r.body, want)
		}
	}
}
