package mgmt

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/warrenmq/warren/amqp"
	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/vhost"
)

// Messages: RabbitMQ's "get" (a basic.get, with the messages requeued or not afterwards)
// and "publish", and warren's non-destructive peek.

func (s *Server) messageRoutes() {
	s.handle("POST /api/queues/{vhost}/{name}/get", levelManagement, getMessages)
	s.handle("POST /api/exchanges/{vhost}/{name}/publish", levelManagement, publishMessage)
	s.handle("GET /api/queues/{vhost}/{name}/peek", levelManagement, peekMessages)
}

// keysMissing answers RabbitMQ's 400 for required body keys that are absent
// (rabbit_mgmt_util:with_decode/5: "[{key_missing,ackmode},{key_missing,encoding}]").
func keysMissing(body map[string]any, keys ...string) error {
	var missing []string
	for _, k := range keys {
		if _, ok := body[k]; !ok {
			missing = append(missing, "{key_missing,"+k+"}")
		}
	}
	if missing == nil {
		return nil
	}
	return badRequest("%s", erlangList(missing))
}

// erlangList prints a list as Erlang's ~p does: on one line when it fits, else one
// element per line, indented by one space. RabbitMQ 3.10.8 prints 73 characters on one
// line and wraps 78; the limit in between is a guess (io_lib_pretty, 80 columns less the
// closing characters).
func erlangList(elems []string) string {
	one := "[" + strings.Join(elems, ",") + "]"
	if len(one) <= 75 {
		return one
	}
	return "[" + strings.Join(elems, ",\n ") + "]"
}

// accessText is an access refusal as the channel would close with it:
// "ACCESS_REFUSED - <text>".
func accessText(err error) string {
	if ex, ok := err.(*wire.Exception); ok {
		return wire.ReplyName(ex.Code) + " - " + ex.Text
	}
	return err.Error()
}

// messageJSON is one message as "get" returns it.
func messageJSON(m *vhost.Message, redelivered bool, encoding string, truncate int) obj {
	var p wire.Properties
	var props any = []any{} // no properties: RabbitMQ 3.10.8 gives an empty list (an empty proplist)
	if err := p.Decode(m.Flags, m.Props); err == nil {
		if o := propertiesJSON(&p); len(o) > 0 {
			props = o
		}
	}
	payload, enc := payloadJSON(m.Body, encoding, truncate)
	return obj{
		"payload_bytes": len(m.Body), "redelivered": redelivered,
		"exchange": m.Exchange, "routing_key": m.RoutingKey,
		"properties": props, "payload": payload, "payload_encoding": enc,
	}
}

// getMessages implements POST /api/queues/{vhost}/{name}/get (rabbit_mgmt_wm_queue_get):
// up to count basic.gets on the queue, then every message is acked or rejected, with or
// without requeue, as ackmode says. A requeued message comes back redelivered and in
// its place: this is not a peek (GET …/peek is).
func getMessages(c *call) error {
	v, err := c.vhostFor(c.r.PathValue("vhost"))
	if err != nil {
		return err
	}
	name := c.r.PathValue("name")
	if v.Queue(name) == nil {
		return errNotFound
	}
	// A refused get is a 401 with the channel's reason (RabbitMQ 3.10).
	if err := c.s.cfg.Broker.AccessFor(c.user, v.Name()).Check(vhost.Read, vhost.KindQueue, name); err != nil {
		return notAuthorised(accessText(err))
	}
	var body map[string]any
	if err := c.decode(&body); err != nil {
		return err
	}
	if err := keysMissing(body, "count", "ackmode", "encoding"); err != nil {
		return err
	}
	count, err := asInt("count", body["count"])
	if err != nil {
		return badRequest("%s", err.Error())
	}
	ackmode, _ := body["ackmode"].(string)
	encoding, _ := body["encoding"].(string)
	if encoding != "auto" && encoding != "base64" {
		return badRequest("Unsupported encoding. Please use auto or base64.")
	}
	var truncate int64
	if t, ok := body["truncate"]; ok && t != nil {
		if truncate, err = asInt("truncate", t); err != nil {
			return badRequest("%s", err.Error())
		}
	}
	// ack_requeue_false is a no-ack basic.get, as RabbitMQ does it (parse_ackmode/1).
	var requeue, noAck bool
	switch ackmode {
	case "ack_requeue_true":
		requeue = true
	case "ack_requeue_false":
		noAck = true
	case "reject_requeue_true":
		requeue = true
	case "reject_requeue_false":
	default:
		return badRequest("Unsupported ackmode %s", ackmode)
	}

	out := []obj{}
	var q *vhost.Queue
	var entries []vhost.Entry
	for range count {
		d, ok, remaining, err := v.Get(nil, name, noAck)
		if err != nil {
			settle(q, entries, requeue)
			return amqpError(err)
		}
		c.s.rates.apiCount(v.Name(), func(n *amqp.Counters) {
			switch {
			case !ok:
				n.GetEmpty++
			case noAck:
				n.DeliveredGetNoAck++
			default:
				n.DeliveredGetAck++
			}
			if d.Redelivered {
				n.Redelivered++
			}
		})
		if !ok {
			break
		}
		q = d.Queue
		if !noAck {
			entries = append(entries, d.Entry)
		}
		o := messageJSON(d.Msg, d.Redelivered, encoding, int(truncate))
		o["message_count"] = remaining
		out = append(out, o)
	}
	settle(q, entries, requeue)
	return c.json(out)
}

func settle(q *vhost.Queue, es []vhost.Entry, requeue bool) {
	if q != nil && len(es) > 0 {
		q.Reject(requeue, es...)
	}
}

// publishMessage implements POST /api/exchanges/{vhost}/{name}/publish
// (rabbit_mgmt_wm_exchange_publish): {"routed": bool}. An AMQP error is a 400 whose
// reason is the exception as the channel would have closed with it.
func publishMessage(c *call) error {
	v, err := c.vhostFor(c.r.PathValue("vhost"))
	if err != nil {
		return err
	}
	var body map[string]any
	if err := c.decode(&body); err != nil {
		return err
	}
	if err := keysMissing(body, "routing_key", "properties", "payload", "payload_encoding"); err != nil {
		return err
	}
	key, ok1 := body["routing_key"].(string)
	payload, ok2 := body["payload"].(string)
	enc, _ := body["payload_encoding"].(string)
	propsIn, ok3 := body["properties"].(map[string]any)
	if !ok1 || !ok2 || !ok3 && body["properties"] != nil {
		return badRequest("routing_key and payload must be strings, properties an object")
	}
	var raw []byte
	switch enc {
	case "string":
		raw = []byte(payload)
	case "base64":
		if raw, err = base64.StdEncoding.DecodeString(payload); err != nil {
			return badRequest("invalid base64 payload")
		}
	default:
		return badRequest("Unsupported payload_encoding %s", enc)
	}
	props, err := propertiesFromJSON(propsIn)
	if err != nil {
		return badRequest("%s", err.Error())
	}
	if props.UserID != "" && props.UserID != c.user.Name {
		// As basic.publish's validated user-id (RW:docs/validated-user-id.md).
		return badRequest("406 PRECONDITION_FAILED - user_id property set to '%s' but authenticated user was '%s'", props.UserID, c.user.Name)
	}
	flags, rawProps, err := props.Append(nil)
	if err != nil {
		return badRequest("%s", err.Error())
	}
	// A refused publish is a 400 with the channel's exception (RabbitMQ 3.10).
	acc := c.s.cfg.Broker.AccessFor(c.user, v.Name())
	xname := exchangeName(c.r.PathValue("name"))
	if err := acc.Check(vhost.Write, vhost.KindExchange, xname); err != nil {
		return badRequest("403 %s", accessText(err))
	}
	if x, ok := v.ExchangeStats(xname); ok && x.Kind == "topic" {
		if err := acc.CheckTopic(vhost.Write, xname, key); err != nil {
			return badRequest("403 %s", accessText(err))
		}
	}
	m := &vhost.Message{
		Exchange: exchangeName(c.r.PathValue("name")), RoutingKey: key,
		Flags: flags, Props: rawProps, Body: raw,
		Persistent: props.DeliveryMode == 2, Priority: props.Priority,
	}
	p := v.NewPublisher()
	w := make(storedWait, 1)
	routed, pending, err := p.PublishFor(m, w, 0)
	if err != nil {
		if ex, ok := err.(*wire.Exception); ok {
			return badRequest("%d %s - %s", ex.Code, wire.ReplyName(ex.Code), ex.Text)
		}
		return err
	}
	// RabbitMQ answers once the publish is confirmed: a persistent message in a durable
	// queue is on disk by then. A failed store is a basic.nack.
	var stored error
	if pending {
		select {
		case stored = <-w:
		case <-c.r.Context().Done():
			return c.r.Context().Err()
		}
	}
	rejected := p.Rejected() || stored != nil
	// RabbitMQ publishes with mandatory and confirms (rabbit_mgmt_wm_exchange_publish): an
	// unroutable message is returned, a refused one nacked.
	c.s.rates.apiCount(v.Name(), func(n *amqp.Counters) {
		n.Published++
		n.PublishedConfirm++
		if !routed {
			n.Unroutable++
			n.Returned++
		}
		if !rejected {
			n.Confirmed++
		}
	})
	if rejected {
		return badRequest("rejected Unable to publish message. Check queue limits.")
	}
	return c.json(obj{"routed": routed})
}

// storedWait receives the store's answer for one API publish (vhost.Waiter).
type storedWait chan error

func (w storedWait) Stored(_ uint64, err error) { w <- err }

// peekMessages is warren's non-destructive peek, GET /api/queues/{vhost}/{name}/peek:
// the unacknowledged deliveries, then the ready messages from the head, without
// delivering, requeueing, reordering or expiring any (vhost.VHost.Peek). Query
// parameters: offset (0), count (50, at most 1000), encoding (auto or base64) and
// truncate (bytes of each payload; 0 = whole).
func peekMessages(c *call) error {
	v, err := c.vhostFor(c.r.PathValue("vhost"))
	if err != nil {
		return err
	}
	q := c.r.URL.Query()
	num := func(key string, def, max int) (int, error) {
		s := q.Get(key)
		if s == "" {
			return def, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > max {
			return 0, badRequest("%s must be an integer from 0 to %d", key, max)
		}
		return n, nil
	}
	offset, err := num("offset", 0, 1<<31-1)
	if err != nil {
		return err
	}
	count, err := num("count", 50, 1000)
	if err != nil {
		return err
	}
	truncate, err := num("truncate", 0, 1<<31-1)
	if err != nil {
		return err
	}
	encoding := q.Get("encoding")
	if encoding == "" {
		encoding = "auto"
	}
	if encoding != "auto" && encoding != "base64" {
		return badRequest("Unsupported encoding. Please use auto or base64.")
	}
	if err := c.allowed(v, vhost.Read, vhost.KindQueue, c.r.PathValue("name")); err != nil {
		return err
	}
	r, err := v.Peek(c.r.PathValue("name"), offset, count)
	if err != nil {
		return amqpError(err)
	}
	msgs := make([]obj, 0, len(r.Messages))
	for i, p := range r.Messages {
		o := messageJSON(p.Msg, p.Redelivered, encoding, truncate)
		o["state"] = "ready"
		if p.Unacked {
			o["state"] = "unacked"
		}
		o["position"] = offset + i
		msgs = append(msgs, o)
	}
	return c.json(obj{
		"messages_ready": r.Ready, "messages_unacknowledged": r.Unacked, "messages_paged_out": r.PagedOut,
		"offset": offset, "messages": msgs,
	})
}
