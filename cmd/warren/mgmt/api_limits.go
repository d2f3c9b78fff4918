package mgmt

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/warrenmq/warren/vhost"
)

// Vhost and user limits (rabbit_mgmt_wm_limits, _limit, _user_limits, _user_limit), backed
// by the limits warren enforces: a vhost's max-connections and max-queues, a user's
// max-connections and max-channels. Codes, bodies and error texts are RabbitMQ 3.10.8's,
// recorded with the same requests, with two differences:
//
//   - a negative value means "no limit" in both brokers, but RabbitMQ keeps and shows it
//     (and shows a vhost whose limits were all cleared with "value": []); warren stores no
//     limit, so the limit is not listed;
//   - DELETE for a vhost or user that does not exist is a 500 (a crash) in RabbitMQ and a
//     404 in warren.

func (s *Server) limitRoutes() {
	s.handle("GET /api/vhost-limits", levelManagement, listVHostLimits)
	s.handle("GET /api/vhost-limits/{vhost}", levelManagement, listVHostLimits)
	s.handle("PUT /api/vhost-limits/{vhost}/{name}", levelAdmin, putVHostLimit)
	s.handle("DELETE /api/vhost-limits/{vhost}/{name}", levelAdmin, deleteVHostLimit)

	s.handle("GET /api/user-limits", levelManagement, listUserLimits)
	s.handle("GET /api/user-limits/{user}", levelManagement, listUserLimits)
	s.handle("PUT /api/user-limits/{user}/{name}", levelAdmin, putUserLimit)
	s.handle("DELETE /api/user-limits/{user}/{name}", levelAdmin, deleteUserLimit)
}

// vhostLimitsJSON is a vhost's limits as RabbitMQ's "value" object: the limits set.
func vhostLimitsJSON(l vhost.VHostLimits) obj {
	o := obj{}
	if l.MaxConnections >= 0 {
		o["max-connections"] = l.MaxConnections
	}
	if l.MaxQueues >= 0 {
		o["max-queues"] = l.MaxQueues
	}
	return o
}

// listVHostLimits lists the vhosts with limits, of those the user may see.
func listVHostLimits(c *call) error {
	vs := c.vhosts()
	if name := c.r.PathValue("vhost"); name != "" {
		v, err := c.vhostFor(name)
		if err != nil {
			return err
		}
		vs = []*vhost.VHost{v}
	}
	out := []obj{}
	for _, v := range vs {
		if l := vhostLimitsJSON(v.Limits()); len(l) > 0 {
			out = append(out, obj{"vhost": v.Name(), "value": l})
		}
	}
	return c.json(out)
}

// limitBody reads PUT's {"value": n}.
func limitBody(c *call) (any, error) {
	var body map[string]any
	if err := c.decode(&body); err != nil {
		return nil, err
	}
	if err := keysMissing(body, "value"); err != nil {
		return nil, err
	}
	return body["value"], nil
}

// limitValueOf checks a limit's value as rabbit_parameter_validation:number/2 does
// (an integer; RabbitMQ's "number" refuses floats here, as 3.10.8 answers): "" and the
// value, or the complaint.
func limitValueOf(name string, v any) (int64, string) {
	if n, ok := v.(json.Number); ok {
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return i, ""
		}
	}
	return 0, fmt.Sprintf("%s should be a number, actually was %s", name, vhost.ErlangTerm(v))
}

// unrecognised is RabbitMQ's complaint about a limit it does not know.
func unrecognised(name string, v any, in string) string {
	return fmt.Sprintf("Unrecognised terms [{%s,%s}] in %s", vhost.ErlangTerm(name), vhost.ErlangTerm(v), in)
}

// vhostValidation wraps a complaint as rabbit_vhost_limit:update_limit/4 reports it
// (rabbit_runtime_parameters: "Validation failed~n~n~ts~n").
func vhostValidation(reason string) error { return badRequest("Validation failed\n\n%s\n", reason) }

// vhostLimit and userLimit are the field of l a limit's name stands for; nil for a name
// RabbitMQ does not know.
func vhostLimit(l *vhost.VHostLimits, name string) *int64 {
	switch name {
	case "max-connections":
		return &l.MaxConnections
	case "max-queues":
		return &l.MaxQueues
	}
	return nil
}

func userLimit(l *vhost.UserLimits, name string) *int64 {
	switch name {
	case "max-connections":
		return &l.MaxConnections
	case "max-channels":
		return &l.MaxChannels
	}
	return nil
}

func putVHostLimit(c *call) error {
	c.s.limitsMu.Lock()
	defer c.s.limitsMu.Unlock()
	v := c.s.cfg.Broker.VHost(c.r.PathValue("vhost"))
	if v == nil {
		return &apiError{http.StatusNotFound, "not_found", "vhost_not_found"}
	}
	val, err := limitBody(c)
	if err != nil {
		return err
	}
	name := c.r.PathValue("name")
	l := v.Limits()
	field := vhostLimit(&l, name)
	if field == nil {
		return vhostValidation(unrecognised(name, val, "limits"))
	}
	n, complaint := limitValueOf(name, val)
	if complaint != "" {
		return vhostValidation(complaint)
	}
	*field = max(n, vhost.NoLimit)
	if err := c.s.cfg.Broker.SetVHostLimits(v.Name(), l); err != nil {
		return badRequest("%s", strings.TrimPrefix(err.Error(), "vhost: "))
	}
	return c.status(http.StatusNoContent)
}

// deleteVHostLimit clears one limit; 204 also when it was not set or is unknown.
func deleteVHostLimit(c *call) error {
	c.s.limitsMu.Lock()
	defer c.s.limitsMu.Unlock()
	v := c.s.cfg.Broker.VHost(c.r.PathValue("vhost"))
	if v == nil {
		return errNotFound
	}
	l := v.Limits()
	field := vhostLimit(&l, c.r.PathValue("name"))
	if field == nil {
		return c.status(http.StatusNoContent)
	}
	*field = vhost.NoLimit
	if err := c.s.cfg.Broker.SetVHostLimits(v.Name(), l); err != nil {
		return badRequest("%s", strings.TrimPrefix(err.Error(), "vhost: "))
	}
	return c.status(http.StatusNoContent)
}

// listUserLimits lists the users with limits (rabbit_mgmt_wm_user_limits).
func listUserLimits(c *call) error {
	users := c.s.cfg.Broker.Users()
	if name := c.r.PathValue("user"); name != "" {
		u, ok := c.findUser(name)
		if !ok {
			return errNotFound
		}
		users = []vhost.UserInfo{u}
	}
	out := []obj{}
	for _, u := range users {
		if l := limitsJSON(u.Limits); len(l) > 0 {
			out = append(out, obj{"user": u.Name, "value": l})
		}
	}
	return c.json(out)
}

func putUserLimit(c *call) error {
	c.s.limitsMu.Lock()
	defer c.s.limitsMu.Unlock()
	val, err := limitBody(c)
	if err != nil {
		return err
	}
	user, name := c.r.PathValue("user"), c.r.PathValue("name")
	// rabbit_auth_backend_internal:set_user_limits/3 validates before it looks the user up.
	if userLimit(&vhost.UserLimits{}, name) == nil {
		return badRequest("%s", unrecognised(name, val, "user-limits"))
	}
	n, complaint := limitValueOf(name, val)
	if complaint != "" {
		return badRequest("%s", complaint)
	}
	u, ok := c.findUser(user)
	if !ok {
		return &apiError{http.StatusBadRequest, "bad_request", []string{"no_such_user", user}}
	}
	l := u.Limits
	*userLimit(&l, name) = max(n, vhost.NoLimit)
	if err := c.s.cfg.Broker.SetUserLimits(user, l); err != nil {
		return badRequest("%s", strings.TrimPrefix(err.Error(), "vhost: "))
	}
	return c.status(http.StatusNoContent)
}

func deleteUserLimit(c *call) error {
	c.s.limitsMu.Lock()
	defer c.s.limitsMu.Unlock()
	u, ok := c.findUser(c.r.PathValue("user"))
	if !ok {
		return errNotFound
	}
	l := u.Limits
	field := userLimit(&l, c.r.PathValue("name"))
	if field == nil {
		return c.status(http.StatusNoContent)
	}
	*field = vhost.NoLimit
	if err := c.s.cfg.Broker.SetUserLimits(u.Name, l); err != nil {
		return badRequest("%s", strings.TrimPrefix(err.Error(), "vhost: "))
	}
	return c.status(http.StatusNoContent)
}

// limitParameters are the vhosts' limits as the runtime parameters RabbitMQ exports in
// its definitions: component "vhost-limits", name "limits" (rabbit_vhost_limit), one per
// vhost with limits, with its "vhost" also in a vhost's own export (as 3.10.8 does).
func limitParameters(vs []*vhost.VHost) []obj {
	out := []obj{}
	for _, v := range vs {
		if l := vhostLimitsJSON(v.Limits()); len(l) > 0 {
			out = append(out, obj{"value": l, "vhost": v.Name(), "component": "vhost-limits", "name": "limits"})
		}
	}
	return out
}

// importLimitParameters applies the "vhost-limits" parameters of an import (vh: the
// vhost of a vhost import, "" otherwise) and returns how many other parameters there were.
func importLimitParameters(b *vhost.Broker, params []any, vh string) (others int, err error) {
	for _, p := range params {
		m, _ := p.(map[string]any)
		if m["component"] != "vhost-limits" {
			others++
			continue
		}
		name, _ := m["vhost"].(string)
		if vh != "" {
			name = vh
		}
		value, _ := m["value"].(map[string]any)
		l := vhost.NoVHostLimits
		keys := make([]string, 0, len(value))
		for k := range value {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			n, complaint := limitValueOf(k, value[k])
			switch {
			case k != "max-connections" && k != "max-queues":
				return others, fmt.Errorf("vhost '%s': %s", name, unrecognised(k, value[k], "limits"))
			case complaint != "":
				return others, fmt.Errorf("vhost '%s': %s", name, complaint)
			case k == "max-connections":
				l.MaxConnections = max(n, vhost.NoLimit)
			default:
				l.MaxQueues = max(n, vhost.NoLimit)
			}
		}
		if err := b.SetVHostLimits(name, l); err != nil {
			return others, err
		}
	}
	return others, nil
}
