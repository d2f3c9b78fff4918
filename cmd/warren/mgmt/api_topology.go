package mgmt

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/vhost"
)

// Exchanges, queues and bindings (rabbit_mgmt_wm_exchange(s), _queue(s), _binding(s)).

func (s *Server) topologyRoutes() {
	s.handle("GET /api/exchanges", levelManagement, listExchanges)
	s.handle("GET /api/exchanges/{vhost}", levelManagement, listExchanges)
	s.handle("GET /api/exchanges/{vhost}/{name}", levelManagement, getExchange)
	s.handle("PUT /api/exchanges/{vhost}/{name}", levelManagement, putExchange)
	s.handle("DELETE /api/exchanges/{vhost}/{name}", levelManagement, deleteExchange)
	s.handle("GET /api/exchanges/{vhost}/{name}/bindings/source", levelManagement, exchangeBindings(true))
	s.handle("GET /api/exchanges/{vhost}/{name}/bindings/destination", levelManagement, exchangeBindings(false))

	s.handle("GET /api/queues", levelManagement, listQueues)
	s.handle("GET /api/queues/{vhost}", levelManagement, listQueues)
	s.handle("GET /api/queues/{vhost}/{name}", levelManagement, getQueue)
	s.handle("PUT /api/queues/{vhost}/{name}", levelManagement, putQueue)
	s.handle("DELETE /api/queues/{vhost}/{name}", levelManagement, deleteQueue)
	s.handle("DELETE /api/queues/{vhost}/{name}/contents", levelManagement, purgeQueue)
	s.handle("GET /api/queues/{vhost}/{name}/bindings", levelManagement, queueBindings)

	s.handle("GET /api/bindings", levelManagement, listBindings)
	s.handle("GET /api/bindings/{vhost}", levelManagement, listBindings)
	for _, kind := range []string{"q", "e"} {
		p := "/api/bindings/{vhost}/e/{source}/" + kind + "/{destination}"
		s.handle("GET "+p, levelManagement, listBindings)
		s.handle("POST "+p, levelManagement, postBinding)
		s.handle("GET "+p+"/{props}", levelManagement, getBinding)
		s.handle("DELETE "+p+"/{props}", levelManagement, deleteBinding)
	}
}

// exchangeName maps the API's name for the default exchange, "amq.default", to ""
// (rabbit_mgmt_util:id/2).
func exchangeName(s string) string {
	if s == "amq.default" {
		return ""
	}
	return s
}

// amqpError turns an AMQP exception from the broker core into the API's answer, as
// rabbit_mgmt_util:with_channel/5 does: 403 ACCESS_REFUSED is 401 "Access refused.", 404
// is a 404, anything else a 400 with the exception's text.
func amqpError(err error) error {
	var ex *wire.Exception
	if !errors.As(err, &ex) {
		if errors.Is(err, vhost.ErrNoVHost) {
			return &apiError{http.StatusNotFound, "not_found", "vhost_not_found"}
		}
		return err
	}
	switch ex.Code {
	case wire.AccessRefused:
		return errAccessRefused
	case wire.NotFound:
		return errNotFound
	}
	return badRequest("%s", ex.Text)
}

// ---- exchanges

func (s *Server) exchangeJSON(v *vhost.VHost, x vhost.ExchangeStats) obj {
	o := obj{
		"name": x.Name, "vhost": v.Name(), "type": x.Kind,
		"durable": x.Durable, "auto_delete": x.AutoDelete, "internal": x.Internal,
		"arguments":                 tableJSON(x.Args),
		"user_who_performed_action": "rmq-internal",
	}
	setExchangePolicy(o, v.ExchangePolicy(x.Name))
	if st := s.rates.exchangeStats(v.Name(), x); st != nil {
		o["message_stats"] = st
	}
	return o
}

func listExchanges(c *call) error {
	return listScoped(c, (*vhost.VHost).Exchanges, func(v *vhost.VHost, x vhost.ExchangeStats) (obj, bool) {
		return c.s.exchangeJSON(v, x), true
	})
}

// listScoped answers a listing of the vhosts the call covers (c.scope): each vhost's
// items, as toJSON renders them; false leaves an item out (one the user may not see).
func listScoped[T any](c *call, items func(*vhost.VHost) []T, toJSON func(*vhost.VHost, T) (obj, bool)) error {
	vs, err := c.scope()
	if err != nil {
		return err
	}
	out := []obj{}
	for _, v := range vs {
		for _, it := range items(v) {
			if o, ok := toJSON(v, it); ok {
				out = append(out, o)
			}
		}
	}
	return c.json(out)
}

func getExchange(c *call) error {
	v, err := c.vhostFor(c.r.PathValue("vhost"))
	if err != nil {
		return err
	}
	x, ok := v.ExchangeStats(exchangeName(c.r.PathValue("name")))
	if !ok {
		return errNotFound
	}
	o := c.s.exchangeJSON(v, x)
	o["incoming"], o["outgoing"] = []obj{}, []obj{}
	return c.json(o)
}

// putExchange declares an exchange: 201 when created, 204 when it existed and is
// equivalent, 400 when it is not. Type "direct" and durable false when not given
// (RabbitMQ 3.10's defaults).
func putExchange(c *call) error {
	v, err := c.vhostFor(c.r.PathValue("vhost"))
	if err != nil {
		return err
	}
	var body struct {
		Type       *string        `json:"type"`
		Durable    any            `json:"durable"`
		AutoDelete any            `json:"auto_delete"`
		Internal   any            `json:"internal"`
		Arguments  map[string]any `json:"arguments"`
	}
	if err := c.decode(&body); err != nil {
		return err
	}
	kind := "direct"
	if body.Type != nil {
		kind = *body.Type
	}
	durable, err := boolField(body.Durable)
	if err != nil {
		return err
	}
	autoDelete, err := boolField(body.AutoDelete)
	if err != nil {
		return err
	}
	internal, err := boolField(body.Internal)
	if err != nil {
		return err
	}
	args, err := tableFromJSON(body.Arguments)
	if err != nil {
		return badRequest("%s", err.Error())
	}
	name := exchangeName(c.r.PathValue("name"))
	if err := c.allowed(v, vhost.Configure, vhost.KindExchange, name); err != nil {
		return err
	}
	_, existed := v.ExchangeStats(name)
	if err := v.DeclareExchange(name, kind, false, durable, autoDelete, internal, args); err != nil {
		var ex *wire.Exception
		if errors.As(err, &ex) && ex.Code == wire.CommandInvalid {
			return badRequest("%s", ex.Text) // unknown exchange type
		}
		return amqpError(err)
	}
	if existed {
		return c.status(http.StatusNoContent)
	}
	return c.status(http.StatusCreated)
}

// boolField reads an optional JSON boolean; RabbitMQ also takes "true"/"false" strings
// and refuses anything else with ["not_boolean", value].
func boolField(v any) (bool, error) {
	switch x := v.(type) {
	case nil:
		return false, nil
	case bool:
		return x, nil
	case string:
		if b, err := strconv.ParseBool(x); err == nil && (x == "true" || x == "false") {
			return b, nil
		}
	}
	return false, &apiError{http.StatusBadRequest, "bad_request", []string{"not_boolean", fmt.Sprint(v)}}
}

func deleteExchange(c *call) error {
	v, err := c.vhostFor(c.r.PathValue("vhost"))
	if err != nil {
		return err
	}
	name := exchangeName(c.r.PathValue("name"))
	if name == "" || strings.HasPrefix(name, "amq.") {
		return errAccessRefused
	}
	if _, ok := v.ExchangeStats(name); !ok {
		return errNotFound
	}
	if err := c.allowed(v, vhost.Configure, vhost.KindExchange, name); err != nil {
		return err
	}
	if err := v.DeleteExchange(name, c.r.URL.Query().Get("if-unused") == "true"); err != nil {
		return amqpError(err)
	}
	return c.status(http.StatusNoContent)
}

func exchangeBindings(asSource bool) handlerFunc {
	return func(c *call) error {
		v, err := c.vhostFor(c.r.PathValue("vhost"))
		if err != nil {
			return err
		}
		name := exchangeName(c.r.PathValue("name"))
		if _, ok := v.ExchangeStats(name); !ok {
			return errNotFound
		}
		out := []obj{}
		for _, b := range v.Bindings() {
			if asSource && b.Source == name || !asSource && !b.ToQueue && b.Destination == name {
				out = append(out, bindingJSON(v, b))
			}
		}
		return c.json(out)
	}
}

// ---- queues

func (s *Server) queueJSON(v *vhost.VHost, q vhost.QueueStats) obj {
	total := q.Ready + q.Unacked
	inRAM := q.Ready - q.PagedOut
	key := "q\x00" + v.Name() + "\x00" + q.Name
	o := obj{
		"name": q.Name, "vhost": v.Name(), "node": s.node, "type": "classic", "state": "running",
		"durable": q.Durable, "auto_delete": q.AutoDelete, "exclusive": q.Exclusive,
		"arguments":                       tableJSON(q.Args),
		"consumers":                       q.Consumers,
		"messages":                        total,
		"messages_ready":                  q.Ready,
		"messages_unacknowledged":         q.Unacked,
		"messages_details":                s.rates.details(key + "\x00messages"),
		"messages_ready_details":          s.rates.details(key + "\x00ready"),
		"messages_unacknowledged_details": s.rates.details(key + "\x00unacked"),
		"messages_ram":                    inRAM + q.Unacked,
		"messages_ready_ram":              inRAM,
		"messages_unacknowledged_ram":     q.Unacked,
		"messages_paged_out":              q.PagedOut,
		"messages_persistent":             q.Persistent,
		"message_bytes":                   q.ReadyBytes + q.UnackedBytes,
		"message_bytes_ready":             q.ReadyBytes,
		"message_bytes_unacknowledged":    q.UnackedBytes,
		"message_bytes_ram":               q.ReadyBytes + q.UnackedBytes,
		"policy":                          nil,
		"operator_policy":                 nil,
		"effective_policy_definition":     obj{},
		"exclusive_consumer_tag":          nil,
		"single_active_consumer_tag":      nil,
		"head_message_timestamp":          nil,
	}
	setPolicyFields(o, v.QueuePolicy(q.Name))
	if q.ExclusiveConsumer != "" {
		o["exclusive_consumer_tag"] = q.ExclusiveConsumer
	}
	if q.Owner != nil {
		// The owning connection's name (rabbit_mgmt_format: owner_pid_details).
		o["owner_pid_details"] = obj{"name": q.Owner.String()}
	}
	if st := s.rates.queueStats(v.Name(), q.Name, q.Counts); st != nil {
		o["message_stats"] = st
	}
	return o
}

func listQueues(c *call) error {
	return listScoped(c, (*vhost.VHost).Queues, func(v *vhost.VHost, q vhost.QueueStats) (obj, bool) {
		return c.s.queueJSON(v, q), true
	})
}

func getQueue(c *call) error {
	v, err := c.vhostFor(c.r.PathValue("vhost"))
	if err != nil {
		return err
	}
	q, ok := v.QueueStats(c.r.PathValue("name"))
	if !ok {
		return errNotFound
	}
	o := c.s.queueJSON(v, q)
	details := []obj{}
	for _, cs := range v.Consumers() {
		if cs.Queue == q.Name {
			if co, ok := c.consumerJSON(v, cs); ok {
				details = append(details, co)
			}
		}
	}
	o["consumer_details"], o["deliveries"], o["incoming"] = details, []obj{}, []obj{}
	return c.json(o)
}

// putQueue declares a queue, as the management plugin does (not exclusive; durable false
// unless given): 201 when created, 204 when an equivalent one existed, 400 otherwise.
func putQueue(c *call) error {
	vh := c.r.PathValue("vhost")
	v := c.s.cfg.Broker.VHost(vh)
	if v == nil {
		return &apiError{http.StatusNotFound, "not_found", "vhost_not_found"}
	}
	if _, err := c.vhostFor(vh); err != nil {
		return err
	}
	var body struct {
		Durable    any            `json:"durable"`
		AutoDelete any            `json:"auto_delete"`
		Arguments  map[string]any `json:"arguments"`
	}
	if err := c.decode(&body); err != nil {
		return err
	}
	durable, err := boolField(body.Durable)
	if err != nil {
		return err
	}
	autoDelete, err := boolField(body.AutoDelete)
	if err != nil {
		return err
	}
	args, err := tableFromJSON(body.Arguments)
	if err != nil {
		return badRequest("%s", err.Error())
	}
	name := c.r.PathValue("name")
	if name == "" {
		return errNotFound
	}
	if err := c.allowed(v, vhost.Configure, vhost.KindQueue, name); err != nil {
		return err
	}
	_, existed := v.QueueStats(name)
	if _, err := v.DeclareQueue(nil, name, false, durable, false, autoDelete, args); err != nil {
		return amqpError(err)
	}
	if existed {
		return c.status(http.StatusNoContent)
	}
	return c.status(http.StatusCreated)
}

// deleteQueue deletes a queue; if-empty and if-unused query parameters as queue.delete's
// flags. A missing queue is 404 (not AMQP's idempotent success).
func deleteQueue(c *call) error {
	v, err := c.vhostFor(c.r.PathValue("vhost"))
	if err != nil {
		return err
	}
	name := c.r.PathValue("name")
	q := v.Queue(name)
	if q == nil {
		return errNotFound
	}
	if err := c.allowed(v, vhost.Configure, vhost.KindQueue, name); err != nil {
		return err
	}
	query := c.r.URL.Query()
	// The management plugin acts for the broker, not for a connection: exclusivity does
	// not stop it (rabbit_amqqueue:delete/4 with the acting user).
	if _, err := v.DeleteQueue(q.Owner(), name, query.Get("if-unused") == "true", query.Get("if-empty") == "true"); err != nil {
		return amqpError(err)
	}
	return c.status(http.StatusNoContent)
}

func purgeQueue(c *call) error {
	v, err := c.vhostFor(c.r.PathValue("vhost"))
	if err != nil {
		return err
	}
	name := c.r.PathValue("name")
	q := v.Queue(name)
	if q == nil {
		return errNotFound
	}
	if err := c.allowed(v, vhost.Read, vhost.KindQueue, name); err != nil {
		return err
	}
	if _, err := v.PurgeQueue(q.Owner(), name); err != nil {
		return amqpError(err)
	}
	return c.status(http.StatusNoContent)
}

func queueBindings(c *call) error {
	v, err := c.vhostFor(c.r.PathValue("vhost"))
	if err != nil {
		return err
	}
	name := c.r.PathValue("name")
	if v.Queue(name) == nil {
		return errNotFound
	}
	out := []obj{}
	for _, b := range v.Bindings() {
		if b.ToQueue && b.Destination == name {
			out = append(out, bindingJSON(v, b))
		}
	}
	return c.json(out)
}

// ---- bindings

// propertiesKey identifies a binding among those with the same source and destination
// (rabbit_mgmt_format:pack_binding_props/2): the routing key when there are no
// arguments, else the key, "~" and a hash of the arguments. RabbitMQ hashes with
// erlang:phash2; warren with SHA-256 (the value is opaque to clients, which only send
// it back).
func propertiesKey(key string, args wire.Table) string {
	if len(args) == 0 {
		return key
	}
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%q=%#v;", k, args[k])
	}
	return key + "~" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:6])
}

func bindingJSON(v *vhost.VHost, b vhost.BindingStats) obj {
	dt := "exchange"
	if b.ToQueue {
		dt = "queue"
	}
	return obj{
		"source": b.Source, "vhost": v.Name(), "destination": b.Destination, "destination_type": dt,
		"routing_key": b.Key, "arguments": tableJSON(b.Args), "properties_key": propertiesKey(b.Key, b.Args),
	}
}

// bindingFilter is the binding path's source, destination and kind; ok=false for a
// listing without them.
func (c *call) bindingFilter() (src, dst string, toQueue, ok bool) {
	if !hasWildcard(c.r.Pattern, "source") {
		return "", "", false, false
	}
	return exchangeName(c.r.PathValue("source")), c.r.PathValue("destination"), strings.Contains(c.r.Pattern, "/q/"), true
}

func (c *call) matchingBindings(v *vhost.VHost) []vhost.BindingStats {
	src, dst, toQueue, filtered := c.bindingFilter()
	var out []vhost.BindingStats
	for _, b := range v.Bindings() {
		if !filtered || b.Source == src && b.Destination == dst && b.ToQueue == toQueue {
			out = append(out, b)
		}
	}
	return out
}

func listBindings(c *call) error {
	vs, err := c.scope()
	if err != nil {
		return err
	}
	if _, _, _, filtered := c.bindingFilter(); filtered {
		if err := c.bindingEnds(vs[0]); err != nil {
			return err
		}
	}
	out := []obj{}
	for _, v := range vs {
		for _, b := range c.matchingBindings(v) {
			out = append(out, bindingJSON(v, b))
		}
	}
	return c.json(out)
}

// bindingEnds answers 404 when the path's source or destination does not exist.
func (c *call) bindingEnds(v *vhost.VHost) error {
	src, dst, toQueue, _ := c.bindingFilter()
	if _, ok := v.ExchangeStats(src); !ok {
		return errNotFound
	}
	if toQueue && v.Queue(dst) == nil {
		return errNotFound
	}
	if _, ok := v.ExchangeStats(dst); !toQueue && !ok {
		return errNotFound
	}
	return nil
}

func (c *call) binding() (*vhost.VHost, vhost.BindingStats, error) {
	v, err := c.vhostFor(c.r.PathValue("vhost"))
	if err != nil {
		return nil, vhost.BindingStats{}, err
	}
	if err := c.bindingEnds(v); err != nil {
		return nil, vhost.BindingStats{}, err
	}
	props := c.r.PathValue("props")
	for _, b := range c.matchingBindings(v) {
		if propertiesKey(b.Key, b.Args) == props {
			return v, b, nil
		}
	}
	return nil, vhost.BindingStats{}, errNotFound
}

func getBinding(c *call) error {
	v, b, err := c.binding()
	if err != nil {
		return err
	}
	return c.json(bindingJSON(v, b))
}

// postBinding creates a binding: 201 with a Location header naming it
// ("<destination>/<properties key>", relative, as RabbitMQ sends it).
func postBinding(c *call) error {
	v, err := c.vhostFor(c.r.PathValue("vhost"))
	if err != nil {
		return err
	}
	if err := c.bindingEnds(v); err != nil {
		return err
	}
	var body struct {
		RoutingKey any            `json:"routing_key"`
		Arguments  map[string]any `json:"arguments"`
	}
	if err := c.decode(&body); err != nil {
		return err
	}
	key := ""
	if body.RoutingKey != nil {
		s, ok := body.RoutingKey.(string)
		if !ok {
			return badRequest("routing_key must be a string")
		}
		key = s
	}
	args, err := tableFromJSON(body.Arguments)
	if err != nil {
		return badRequest("%s", err.Error())
	}
	src, dst, toQueue, _ := c.bindingFilter()
	if err := c.bindingAllowed(v, src, dst, toQueue); err != nil {
		return err
	}
	if toQueue {
		q := v.Queue(dst)
		err = v.BindQueue(q.Owner(), dst, src, key, args)
	} else {
		err = v.BindExchange(dst, src, key, args)
	}
	if err != nil {
		return amqpError(err)
	}
	c.w.Header().Set("Location", escapeSegment(dst)+"/"+escapeSegment(propertiesKey(key, args)))
	return c.status(http.StatusCreated)
}

func deleteBinding(c *call) error {
	v, b, err := c.binding()
	if err != nil {
		return err
	}
	if b.Source == "" {
		return errAccessRefused // the default exchange's bindings are implicit
	}
	if err := c.bindingAllowed(v, b.Source, b.Destination, b.ToQueue); err != nil {
		return err
	}
	if b.ToQueue {
		q := v.Queue(b.Destination)
		if q == nil {
			return errNotFound
		}
		err = v.UnbindQueue(q.Owner(), b.Destination, b.Source, b.Key, b.Args)
	} else {
		err = v.UnbindExchange(b.Destination, b.Source, b.Key, b.Args)
	}
	if err != nil {
		return amqpError(err)
	}
	return c.status(http.StatusNoContent)
}

// bindingAllowed: write on the destination and read on the source, as queue.bind and
// exchange.bind check (rabbit_channel:binding_action/4).
func (c *call) bindingAllowed(v *vhost.VHost, src, dst string, toQueue bool) error {
	kind := vhost.KindExchange
	if toQueue {
		kind = vhost.KindQueue
	}
	if err := c.allowed(v, vhost.Write, kind, dst); err != nil {
		return err
	}
	return c.allowed(v, vhost.Read, vhost.KindExchange, src)
}

// escapeSegment escapes a path segment as RabbitMQ's Location header does.
func escapeSegment(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || strings.IndexByte("-._~", ch) >= 0 {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}
