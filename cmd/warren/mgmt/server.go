package mgmt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/amqp"
	"github.com/warrenmq/warren/vhost"
)

// Config configures a Server.
type Config struct {
	Broker *vhost.Broker
	// AMQP lists and closes client connections; nil: the API lists none.
	AMQP   *amqp.Server
	Logger zerolog.Logger
	// Listeners are what /api/overview reports and the port-listener and
	// protocol-listener health checks look for.
	Listeners []Listener
	// ReportWarren names the product "warren" in /api/overview, as amqp.Config's
	// option does in connection.start; otherwise RabbitMQ with amqp.RabbitMQVersion.
	ReportWarren bool
	// Node is the node name reported everywhere; "warren@<hostname>" when empty
	// (RabbitMQ's is "rabbit@<hostname>").
	Node string
}

// Listener is one listening socket of the broker.
type Listener struct {
	Protocol string // "amqp", "amqp/ssl", "http", "prometheus"
	Addr     net.Addr
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = http.ErrServerClosed

// Server serves the management API (or the metrics, NewMetrics) in the style of
// net/http.Server: Serve on any number of listeners, Shutdown once.
type Server struct {
	cfg     Config         // immutable
	log     zerolog.Logger // immutable
	node    string         // immutable
	started time.Time      // immutable
	mux     *router        // immutable after New
	hs      http.Server    // net/http's own locking
	rates   *rates         // message rates (rates.go); nil for a metrics server
	// limitsMu serializes the limits endpoints' read-modify-write of a vhost's or a
	// user's limits (api_limits.go), so that two requests setting different limits at
	// once both take effect.
	limitsMu sync.Mutex
}

// New returns a management API server for cfg.Broker.
func New(cfg Config) *Server {
	s := newServer(cfg)
	s.rates = newRates(s)
	s.routes()
	s.hs.Handler = s
	return s
}

func newServer(cfg Config) *Server {
	node := cfg.Node
	if node == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "localhost"
		}
		node = "warren@" + host
	}
	return &Server{
		cfg: cfg, log: cfg.Logger.With().Str("component", "mgmt").Logger(),
		node: node, started: time.Now(), mux: &router{},
		hs: http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil},
	}
}

// Serve accepts HTTP connections on ln until Shutdown; it returns ErrServerClosed then.
func (s *Server) Serve(ln net.Listener) error {
	if s.rates != nil {
		s.rates.start()
	}
	return s.hs.Serve(ln)
}

// Shutdown stops the listeners, waits for requests in progress (or ctx) and stops the
// rate sampler.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.hs.Shutdown(ctx)
	if s.rates != nil {
		s.rates.stop()
	}
	return err
}

// ServeHTTP routes a request (router.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// apiError is an error answer: RabbitMQ's {"error": …, "reason": …} body.
type apiError struct {
	status int
	error  string
	reason any // a string, or a list as some of RabbitMQ's are
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.error, e.reason) }

var (
	// rabbit_mgmt_util:not_found/3.
	errNotFound = &apiError{http.StatusNotFound, "Object Not Found", "Not Found"}
	// rabbit_mgmt_util:not_authorised/3, for a refused operation.
	errAccessRefused = &apiError{http.StatusUnauthorized, "not_authorised", "Access refused."}
)

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...)}
}

func notAuthorised(reason string) error {
	return &apiError{http.StatusUnauthorized, "not_authorised", reason}
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{http.StatusInternalServerError, "internal_server_error", err.Error()}
	}
	writeJSON(w, ae.status, obj{"error": ae.error, "reason": ae.reason})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		fmt.Fprintf(&buf, `{"error":"internal_server_error","reason":%q}`, err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(bytes.TrimRight(buf.Bytes(), "\n"))
}

// call is one authenticated request.
type call struct {
	s    *Server
	w    http.ResponseWriter
	r    *http.Request
	user *vhost.User
}

type handlerFunc func(c *call) error

// Authorization levels, from RabbitMQ's user tags (RW:docs/management.md#permissions).
type level int

const (
	levelManagement  level = iota // any of the four tags
	levelPolicymaker              // policymaker or administrator
	levelMonitoring               // monitoring or administrator
	levelAdmin                    // administrator
)

func hasTag(u *vhost.User, tags ...string) bool {
	for _, t := range u.Tags {
		if slices.Contains(tags, t) {
			return true
		}
	}
	return false
}

func (l level) allows(u *vhost.User) bool {
	switch l {
	case levelPolicymaker:
		return hasTag(u, "policymaker", "administrator")
	case levelMonitoring:
		return hasTag(u, "monitoring", "administrator")
	case levelAdmin:
		return hasTag(u, "administrator")
	}
	return hasTag(u, "management", "policymaker", "monitoring", "administrator")
}

// handle registers an authenticated endpoint.
func (s *Server) handle(pattern string, l level, h handlerFunc) {
	s.mux.handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := s.authenticate(w, r)
		if err != nil {
			return
		}
		if !l.allows(u) {
			// rabbit_mgmt_util:is_authorized_*: "Not administrator user" and similar.
			reason := "Not management user"
			switch l {
			case levelAdmin:
				reason = "Not administrator user"
			case levelMonitoring:
				reason = "Not monitor user"
			case levelPolicymaker:
				reason = "Not policymaker user"
			}
			writeError(w, notAuthorised(reason))
			return
		}
		c := &call{s: s, w: w, r: r, user: u}
		if err := h(c); err != nil {
			writeError(w, err)
		}
	}))
}

// authenticate checks HTTP basic auth. Without credentials the answer is RabbitMQ's:
// 401, a WWW-Authenticate challenge and an empty body; with wrong ones, also a JSON body.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*vhost.User, error) {
	name, pass, ok := r.BasicAuth()
	w.Header().Set("WWW-Authenticate", `Basic realm="RabbitMQ Management"`)
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return nil, errAccessRefused
	}
	u, err := s.cfg.Broker.Authenticate(name, pass)
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "not_authorized", "reason": "Login failed"})
		return nil, err
	}
	if u.LoopbackOnly && !loopback(r.RemoteAddr) {
		// rabbit_mgmt_util: a loopback user over the network.
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "not_authorized", "reason": "User can only log in via localhost"})
		return nil, vhost.ErrAuth
	}
	w.Header().Del("WWW-Authenticate")
	return u, nil
}

func loopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// json answers 200 with v.
func (c *call) json(v any) error {
	writeJSON(c.w, http.StatusOK, v)
	return nil
}

// status answers with an empty body (201 Created, 204 No Content).
func (c *call) status(code int) error {
	c.w.WriteHeader(code)
	return nil
}

// decode reads a JSON body into v; an empty body leaves v as it is. Numbers stay
// json.Number so that integers reach AMQP as integers.
func (c *call) decode(v any) error {
	body, err := io.ReadAll(io.LimitReader(c.r.Body, 64<<20))
	if err != nil {
		return badRequest("%s", err.Error())
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return badRequest("not_json") // rabbit_mgmt_util:with_decode/5
	}
	return nil
}

// vhostFor resolves the {vhost} path value: 404 if missing, 401 if the user is not an
// administrator and has no permissions on it (rabbit_mgmt_util:is_authorized_vhost/2).
func (c *call) vhostFor(name string) (*vhost.VHost, error) {
	v := c.s.cfg.Broker.VHost(name)
	if v == nil {
		return nil, errNotFound
	}
	if !levelAdmin.allows(c.user) && !c.s.cfg.Broker.Permitted(c.user, name) {
		return nil, notAuthorised("User not authorised to access virtual host")
	}
	return v, nil
}

// allowed checks the user's permission on a resource of v as the operation's AMQP
// equivalent would (vhost.Access.Check); a refusal is RabbitMQ's 401 "Access refused.".
func (c *call) allowed(v *vhost.VHost, perm vhost.Perm, kind, name string) error {
	if err := c.s.cfg.Broker.AccessFor(c.user, v.Name()).Check(perm, kind, name); err != nil {
		return errAccessRefused
	}
	return nil
}

// vhosts returns the vhosts the user may see: all for monitoring and administrator
// users, otherwise those it has permissions on (rabbit_mgmt_util:list_visible_vhosts/1).
func (c *call) vhosts() []*vhost.VHost {
	all := c.s.cfg.Broker.ListVHosts()
	if levelMonitoring.allows(c.user) {
		return all
	}
	out := all[:0:0]
	for _, v := range all {
		if c.s.cfg.Broker.Permitted(c.user, v.Name()) {
			out = append(out, v)
		}
	}
	return out
}

// scope is the vhosts a listing covers: the {vhost} path value if the route has one,
// else every visible vhost.
func (c *call) scope() ([]*vhost.VHost, error) {
	if name := c.r.PathValue("vhost"); name != "" || c.r.Pattern != "" && hasWildcard(c.r.Pattern, "vhost") {
		v, err := c.vhostFor(name)
		if err != nil {
			return nil, err
		}
		return []*vhost.VHost{v}, nil
	}
	return c.vhosts(), nil
}

func hasWildcard(pattern, name string) bool {
	return bytes.Contains([]byte(pattern), []byte("{"+name+"}"))
}
