package mgmt

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/vhost"
)

// obj is a JSON object as the API writes it (encoding/json sorts the keys).
type obj = map[string]any

// tableJSON renders an AMQP table as RabbitMQ's management plugin does
// (rabbit_mgmt_format:amqp_table/1): numbers as numbers, tables as objects, arrays as
// arrays, byte arrays and other strings as strings, timestamps as seconds. Never nil,
// so that an empty table is {} rather than null.
func tableJSON(t wire.Table) obj {
	m := make(obj, len(t))
	for k, v := range t {
		m[k] = valueJSON(v)
	}
	return m
}

func valueJSON(v any) any {
	switch x := v.(type) {
	case wire.Table:
		return tableJSON(x)
	case map[string]any:
		return tableJSON(x)
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = valueJSON(e)
		}
		return a
	case []byte:
		return string(x)
	case wire.Decimal:
		return float64(x.Value) / math.Pow10(int(x.Scale))
	case time.Time:
		return x.Unix()
	case float32:
		return float64(x)
	}
	return v
}

// tableFromJSON converts a decoded JSON object (numbers as json.Number) to an AMQP table
// as rabbit_mgmt_util:args/1 does: integers become signed 64-bit integers, other numbers
// doubles, objects tables, arrays arrays. nil for nil.
func tableFromJSON(m map[string]any) (wire.Table, error) {
	if m == nil {
		return nil, nil
	}
	t := make(wire.Table, len(m))
	for k, v := range m {
		a, err := valueFromJSON(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		t[k] = a
	}
	return t, nil
}

func valueFromJSON(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, err
		}
		return f, nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), nil
		}
		return x, nil
	case map[string]any:
		return tableFromJSON(x)
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			c, err := valueFromJSON(e)
			if err != nil {
				return nil, err
			}
			a[i] = c
		}
		return a, nil
	case string, bool, nil:
		return x, nil
	}
	return nil, fmt.Errorf("unsupported value %v", v)
}

// propertiesJSON renders message properties as rabbit_mgmt_format:basic_properties/1
// does: only the properties that are present, timestamps in seconds.
func propertiesJSON(p *wire.Properties) obj {
	m := obj{}
	f := p.Flags
	str := func(flag uint16, key, v string) {
		if f&flag != 0 || v != "" {
			m[key] = v
		}
	}
	str(wire.FlagContentType, "content_type", p.ContentType)
	str(wire.FlagContentEncoding, "content_encoding", p.ContentEncoding)
	if f&wire.FlagHeaders != 0 || p.Headers != nil {
		m["headers"] = tableJSON(p.Headers)
	}
	if f&wire.FlagDeliveryMode != 0 || p.DeliveryMode != 0 {
		m["delivery_mode"] = p.DeliveryMode
	}
	if f&wire.FlagPriority != 0 || p.Priority != 0 {
		m["priority"] = p.Priority
	}
	str(wire.FlagCorrelationID, "correlation_id", p.CorrelationID)
	str(wire.FlagReplyTo, "reply_to", p.ReplyTo)
	str(wire.FlagExpiration, "expiration", p.Expiration)
	str(wire.FlagMessageID, "message_id", p.MessageID)
	if f&wire.FlagTimestamp != 0 || !p.Timestamp.IsZero() {
		m["timestamp"] = p.Timestamp.Unix()
	}
	str(wire.FlagType, "type", p.Type)
	str(wire.FlagUserID, "user_id", p.UserID)
	str(wire.FlagAppID, "app_id", p.AppID)
	str(wire.FlagClusterID, "cluster_id", p.ClusterID)
	return m
}

// propertiesFromJSON reads the "properties" object of a publish
// (rabbit_mgmt_format:to_basic_properties/1). Unknown keys are refused, as RabbitMQ
// refuses them ({bad_property, Key}).
func propertiesFromJSON(m map[string]any) (wire.Properties, error) {
	var p wire.Properties
	for k, v := range m {
		var err error
		switch k {
		case "content_type":
			p.ContentType, err = asString(k, v)
		case "content_encoding":
			p.ContentEncoding, err = asString(k, v)
		case "correlation_id":
			p.CorrelationID, err = asString(k, v)
		case "reply_to":
			p.ReplyTo, err = asString(k, v)
		case "expiration":
			p.Expiration, err = asString(k, v)
		case "message_id":
			p.MessageID, err = asString(k, v)
		case "type":
			p.Type, err = asString(k, v)
		case "user_id":
			p.UserID, err = asString(k, v)
		case "app_id":
			p.AppID, err = asString(k, v)
		case "cluster_id":
			p.ClusterID, err = asString(k, v)
		case "delivery_mode", "priority":
			var n int64
			n, err = asInt(k, v)
			if err == nil && (n < 0 || n > 255) {
				err = fmt.Errorf("%s out of range", k)
			}
			if k == "delivery_mode" {
				p.DeliveryMode = uint8(n)
			} else {
				p.Priority = uint8(n)
			}
		case "timestamp":
			var n int64
			n, err = asInt(k, v)
			p.Timestamp = time.Unix(n, 0).UTC()
		case "headers":
			obj, ok := v.(map[string]any)
			if !ok {
				return p, fmt.Errorf("headers must be an object")
			}
			p.Headers, err = tableFromJSON(obj)
		default:
			return p, fmt.Errorf("{bad_property,%s}", k)
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

func asString(k string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s must be a string", k)
	}
	return s, nil
}

func asInt(k string, v any) (int64, error) {
	a, err := valueFromJSON(v)
	if n, ok := a.(int64); ok && err == nil {
		return n, nil
	}
	if s, ok := v.(string); ok {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s must be an integer", k)
}

// payloadJSON renders a body as the API does for "get" (rabbit_mgmt_wm_queue_get):
// encoding "auto" gives a string when the body is valid UTF-8 and base64 otherwise;
// "base64" always base64. truncate > 0 cuts the body to that many bytes first.
func payloadJSON(body []byte, encoding string, truncate int) (payload, enc string) {
	if truncate > 0 && len(body) > truncate {
		body = body[:truncate]
	}
	if encoding == "auto" && utf8.Valid(body) {
		return string(body), "string"
	}
	return base64.StdEncoding.EncodeToString(body), "base64"
}

// setPolicyFields sets the policy fields of a queue object as rabbit_mgmt_format gives them
// (3.10.8): "policy" is the applied policy's name or null, "effective_policy_definition"
// its whole definition or {} (no operator policies: "operator_policy" stays null).
func setPolicyFields(o obj, p *vhost.Policy) {
	if p == nil {
		o["policy"], o["effective_policy_definition"] = nil, obj{}
		return
	}
	o["policy"], o["effective_policy_definition"] = p.Name, p.Definition
}

// setExchangePolicy adds "policy" to an exchange object when one applies; RabbitMQ leaves
// the key out otherwise.
func setExchangePolicy(o obj, p *vhost.Policy) {
	if p != nil {
		o["policy"] = p.Name
	}
}
