package mgmt

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/warrenmq/warren/conformance/warrentest"
	"github.com/warrenmq/warren/store"
	"github.com/warrenmq/warren/vhost"
)

// env is a running broker with its management API on a loopback port.
type env struct {
	t    *testing.T
	b    *warrentest.Broker
	api  *Server
	base string // http://127.0.0.1:PORT
}

func start(t *testing.T) *env {
	t.Helper()
	b := warrentest.StartWith(t, warrentest.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	amqpAddr, _ := net.ResolveTCPAddr("tcp", b.Addr)
	api := New(Config{Broker: b.Core, AMQP: b.Server, Node: "warren@test",
		Listeners: []Listener{{Protocol: "amqp", Addr: amqpAddr}, {Protocol: "http", Addr: ln.Addr()}}})
	served := make(chan error, 1)
	go func() { served <- api.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := api.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != ErrServerClosed {
			t.Errorf("Serve returned %v", err)
		}
	})
	return &env{t: t, b: b, api: api, base: "http://" + ln.Addr().String()}
}

// startStored serves the API (no AMQP listener) over a broker core with a store in a
// temporary folder: cfg with its Store set. It returns the core and the store too.
func startStored(t *testing.T, cfg vhost.Config) (*env, *vhost.Broker, *store.Store) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = st
	core, err := vhost.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { core.Close(); st.Close() })
	api := New(Config{Broker: core, Node: "warren@test"})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &env{t: t, api: api, base: srv.URL}, core, st
}

// reply is an HTTP answer.
type reply struct {
	code int
	hdr  http.Header
	body []byte
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
}

// do sends a request as guest (user "" sends no credentials).
func (e *env) do(method, path, body string) reply {
	return e.doAs("guest", "guest", method, path, body)
}

func (e *env) doAs(user, pass, method, path, body string) reply {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return reply{code: resp.StatusCode, hdr: resp.Header, body: b}
}

// want fails unless the answer has code and, if body != "", exactly that body.
func (e *env) want(r reply, code int, body string) {
	e.t.Helper()
	if r.code != code || body != "" && string(r.body) != body {
		e.t.Fatalf("got %d %s, want %d %s", r.code, r.body, code, body)
	}
}

// dial opens a client connection with a connection_name.
func (e *env) dial(name string) *amqp091.Connection {
	e.t.Helper()
	c, err := amqp091.DialConfig(e.b.URL, amqp091.Config{Properties: amqp091.Table{"connection_name": name}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

func (e *env) channel(c *amqp091.Connection) *amqp091.Channel {
	e.t.Helper()
	ch, err := c.Channel()
	if err != nil {
		e.t.Fatal(err)
	}
	return ch
}

// keys returns the keys of a JSON object.
func keys(m map[string]any) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// hasKeys fails unless m has every key of want.
func hasKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	k := keys(m)
	for _, w := range want {
		if !k[w] {
			t.Errorf("%s: no field %q in %v", what, w, m)
		}
	}
}

// doWithHeader sends a request as guest with one extra header.
func (e *env) doWithHeader(method, path, key, value string) reply {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.SetBasicAuth("guest", "guest")
	req.Header.Set(key, value)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{code: resp.StatusCode, hdr: resp.Header, body: b}
}
