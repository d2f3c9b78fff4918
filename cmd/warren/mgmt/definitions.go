package mgmt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/amqp"
	"github.com/warrenmq/warren/vhost"
)

// Definitions in RabbitMQ's JSON format (rabbit_mgmt_wm_definitions, rabbit_definitions):
// export with GET /api/definitions[/{vhost}], import with POST. A file exported from
// RabbitMQ imports unchanged (testdata/rabbitmq-3.10.8-definitions.json is one).
//
// Policies are exported and imported as RabbitMQ does (rabbit_definitions:add_policy/3:
// priority 0 and apply-to "all" when absent; a refused one stops the import with its text
// and " (vhost/name)"), except that keys of RabbitMQ features warren lacks (ha-mode,
// federation-upstream, …: foreignPolicyKeys) are dropped with a warning. Runtime parameters and global parameters are exported empty and
// skipped on import with a warning in the log.
// Vhost limits are the exception: RabbitMQ keeps them as "vhost-limits" parameters, and
// so they are exported and imported (api_limits.go).

func (s *Server) definitionRoutes() {
	s.handle("GET /api/definitions", levelAdmin, getDefinitions)
	s.handle("GET /api/definitions/{vhost}", levelAdmin, getDefinitions)
	s.handle("POST /api/definitions", levelAdmin, postDefinitions)
	s.handle("POST /api/definitions/{vhost}", levelAdmin, postDefinitions)
}

// ExportDefinitions returns the broker's definitions as RabbitMQ exports them: every
// user, vhost, permission, queue (but exclusive ones), exchange (but the predeclared
// ones) and binding (but the default exchange's, and those of exclusive queues). With
// vh != "" only that vhost's queues, exchanges and bindings, without a "vhost" field,
// as GET /api/definitions/{vhost} does.
func ExportDefinitions(b *vhost.Broker, vh string, reportWarren bool) (map[string]any, error) {
	vs := b.ListVHosts()
	if vh != "" {
		v := b.VHost(vh)
		if v == nil {
			return nil, fmt.Errorf("%w: '%s'", vhost.ErrNoVHost, vh)
		}
		vs = []*vhost.VHost{v}
	}
	product, version := "RabbitMQ", amqp.RabbitMQVersion
	if reportWarren {
		product, version = "warren", amqp.Version
	}
	queues, exchanges, bindings, policies := []obj{}, []obj{}, []obj{}, []obj{}
	var pols []*vhost.Policy
	for _, v := range vs {
		pols = append(pols, v.Policies()...)
	}
	sortPolicies(pols)
	for _, p := range pols {
		policies = append(policies, policyJSON(p))
	}
	for _, v := range vs {
		exclusive := map[string]bool{}
		for _, q := range v.Queues() {
			if q.Exclusive {
				exclusive[q.Name] = true
				continue
			}
			o := obj{"name": q.Name, "vhost": v.Name(), "durable": q.Durable, "auto_delete": q.AutoDelete, "arguments": tableJSON(q.Args)}
			queues = append(queues, o)
		}
		for _, x := range v.Exchanges() {
			if x.Name == "" || strings.HasPrefix(x.Name, "amq.") {
				continue
			}
			exchanges = append(exchanges, obj{"name": x.Name, "vhost": v.Name(), "type": x.Kind, "durable": x.Durable,
				"auto_delete": x.AutoDelete, "internal": x.Internal, "arguments": tableJSON(x.Args)})
		}
		for _, bd := range v.Bindings() {
			if bd.Source == "" || bd.ToQueue && exclusive[bd.Destination] {
				continue
			}
			o := bindingJSON(v, bd)
			delete(o, "properties_key")
			bindings = append(bindings, o)
		}
	}
	if vh != "" {
		for _, l := range [][]obj{queues, exchanges, bindings} {
			for _, o := range l {
				delete(o, "vhost")
			}
		}
		return obj{"rabbit_version": version, "parameters": limitParameters(vs), "policies": policies,
			"queues": queues, "exchanges": exchanges, "bindings": bindings}, nil
	}
	users := []obj{}
	for _, u := range b.Users() {
		o := userJSON(u)
		users = append(users, o)
	}
	vhosts := []obj{}
	for _, v := range vs {
		vhosts = append(vhosts, obj{"name": v.Name()})
	}
	perms := []obj{}
	for _, p := range b.Permissions() {
		perms = append(perms, permissionJSON(p))
	}
	topics := []obj{}
	for _, p := range b.TopicPermissions() {
		topics = append(topics, obj{"user": p.User, "vhost": p.VHost, "exchange": p.Exchange, "write": p.Write, "read": p.Read})
	}
	return obj{
		"rabbit_version": version, "rabbitmq_version": version, "product_name": product, "product_version": version,
		"users": users, "vhosts": vhosts, "permissions": perms, "topic_permissions": topics,
		"parameters": limitParameters(vs), "global_parameters": []obj{}, "policies": policies,
		"queues": queues, "exchanges": exchanges, "bindings": bindings,
	}, nil
}

// definitions is an import's input. Fields absent from a file are empty.
type definitions struct {
	Users []struct {
		Name             string         `json:"name"`
		Password         *string        `json:"password"` // older files may carry a clear-text password
		PasswordHash     string         `json:"password_hash"`
		HashingAlgorithm string         `json:"hashing_algorithm"`
		Tags             any            `json:"tags"` // a list (3.9+) or a comma-separated string
		Limits           map[string]any `json:"limits"`
	} `json:"users"`
	VHosts []struct {
		Name   string         `json:"name"`
		Limits map[string]any `json:"limits"`
	} `json:"vhosts"`
	Permissions []struct {
		User, VHost            string
		Configure, Write, Read string
	} `json:"permissions"`
	TopicPermissions []struct {
		User, VHost, Exchange string
		Write, Read           string
	} `json:"topic_permissions"`
	Parameters       []any            `json:"parameters"`
	GlobalParameters []any            `json:"global_parameters"`
	Policies         []map[string]any `json:"policies"`
	Queues           []struct {
		Name       string         `json:"name"`
		VHost      string         `json:"vhost"`
		Durable    bool           `json:"durable"`
		AutoDelete bool           `json:"auto_delete"`
		Arguments  map[string]any `json:"arguments"`
	} `json:"queues"`
	Exchanges []struct {
		Name       string         `json:"name"`
		VHost      string         `json:"vhost"`
		Type       string         `json:"type"`
		Durable    bool           `json:"durable"`
		AutoDelete bool           `json:"auto_delete"`
		Internal   bool           `json:"internal"`
		Arguments  map[string]any `json:"arguments"`
	} `json:"exchanges"`
	Bindings []struct {
		Source          string         `json:"source"`
		VHost           string         `json:"vhost"`
		Destination     string         `json:"destination"`
		DestinationType string         `json:"destination_type"`
		RoutingKey      string         `json:"routing_key"`
		Arguments       map[string]any `json:"arguments"`
	} `json:"bindings"`
}

// ImportOptions tune ImportDefinitions.
type ImportOptions struct {
	// VHost, when set, imports a vhost's definitions (as exported with one): every queue,
	// exchange and binding goes to it, and users, vhosts and permissions are ignored.
	VHost string
	// KeepUsers leaves users that exist alone (the boot-time import: "will not overwrite
	// anything already in the broker", RW:docs/definitions.md); otherwise an imported
	// user replaces the existing one's password and tags, as RabbitMQ's import does.
	KeepUsers bool
	Logger    zerolog.Logger
}

// ImportDefinitions applies definitions in RabbitMQ's order (rabbit_definitions:
// apply_defs/4): users, vhosts, permissions, topic permissions, parameters, policies,
// queues, exchanges, bindings. Existing equivalent objects are left alone; an
// inequivalent one stops the import with the broker's error (what was imported before
// stays, as in RabbitMQ).
func ImportDefinitions(b *vhost.Broker, data []byte, opts ImportOptions) error {
	var d definitions
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return fmt.Errorf("not_json: %w", err)
	}
	vhostOf := func(v string) string {
		if opts.VHost != "" {
			return opts.VHost
		}
		return v
	}
	if opts.VHost == "" {
		existing := map[string]bool{}
		for _, u := range b.Users() {
			existing[u.Name] = true
		}
		for _, u := range d.Users {
			if opts.KeepUsers && existing[u.Name] {
				continue
			}
			tags, err := parseTags(u.Tags)
			if err != nil {
				return fmt.Errorf("user '%s': %w", u.Name, err)
			}
			info := vhost.UserInfo{Name: u.Name, Tags: tags, Limits: userLimits(u.Limits)}
			switch {
			case u.Password != nil && u.PasswordHash == "":
				info.HashAlg = vhost.HashSHA256
				if info.PasswordHash, err = vhost.HashPassword(vhost.HashSHA256, *u.Password); err != nil {
					return err
				}
			default:
				// A missing algorithm is a record from before 3.6.0: MD5
				// (rabbit_password:hashing_mod(undefined)).
				info.HashAlg = vhost.HashMD5
				if u.HashingAlgorithm != "" {
					if info.HashAlg, err = vhost.ParseHashAlg(u.HashingAlgorithm); err != nil {
						return fmt.Errorf("user '%s': %w", u.Name, err)
					}
				}
				if info.PasswordHash, err = vhost.DecodeHash(info.HashAlg, u.PasswordHash); err != nil {
					return fmt.Errorf("user '%s': %w", u.Name, err)
				}
			}
			if err := b.PutUser(info); err != nil {
				return err
			}
		}
		for _, v := range d.VHosts {
			if err := b.AddVHost(v.Name); err != nil {
				return fmt.Errorf("vhost '%s': %w", v.Name, err)
			}
			if l, ok := vhostLimits(v.Limits); ok {
				if err := b.SetVHostLimits(v.Name, l); err != nil {
					return err
				}
			}
		}
		for _, p := range d.Permissions {
			if err := b.SetPermissions(p.User, p.VHost, p.Configure, p.Write, p.Read); err != nil {
				return fmt.Errorf("permissions of '%s' on '%s': %w", p.User, p.VHost, err)
			}
		}
		for _, p := range d.TopicPermissions {
			if err := b.SetTopicPermissions(p.User, p.VHost, p.Exchange, p.Write, p.Read); err != nil {
				return fmt.Errorf("topic permissions of '%s' on '%s': %w", p.User, p.VHost, err)
			}
		}
	}
	for _, p := range d.Policies {
		if err := importPolicy(b, vhostOf, p, opts.Logger); err != nil {
			return err
		}
	}
	if n, err := importLimitParameters(b, d.Parameters, opts.VHost); err != nil {
		return err
	} else if n > 0 {
		opts.Logger.Warn().Int("count", n).Msg("definitions: runtime parameters skipped")
	}
	find := func(name string) (*vhost.VHost, error) {
		v := b.VHost(name)
		if v == nil {
			return nil, fmt.Errorf("%w: '%s'", vhost.ErrNoVHost, name)
		}
		return v, nil
	}
	for _, q := range d.Queues {
		v, err := find(vhostOf(q.VHost))
		if err != nil {
			return err
		}
		args, err := tableFromJSON(q.Arguments)
		if err != nil {
			return fmt.Errorf("queue '%s': %w", q.Name, err)
		}
		if _, err := v.DeclareQueue(nil, q.Name, false, q.Durable, false, q.AutoDelete, args); err != nil {
			return err
		}
	}
	for _, x := range d.Exchanges {
		v, err := find(vhostOf(x.VHost))
		if err != nil {
			return err
		}
		args, err := tableFromJSON(x.Arguments)
		if err != nil {
			return fmt.Errorf("exchange '%s': %w", x.Name, err)
		}
		if x.Name == "" || strings.HasPrefix(x.Name, "amq.") {
			continue // predeclared
		}
		if err := v.DeclareExchange(x.Name, x.Type, false, x.Durable, x.AutoDelete, x.Internal, args); err != nil {
			return err
		}
	}
	for _, bd := range d.Bindings {
		v, err := find(vhostOf(bd.VHost))
		if err != nil {
			return err
		}
		args, err := tableFromJSON(bd.Arguments)
		if err != nil {
			return fmt.Errorf("binding: %w", err)
		}
		switch bd.DestinationType {
		case "queue":
			err = v.BindQueue(v.Queue(bd.Destination).Owner(), bd.Destination, bd.Source, bd.RoutingKey, args)
		case "exchange":
			err = v.BindExchange(bd.Destination, bd.Source, bd.RoutingKey, args)
		default:
			err = fmt.Errorf("binding: unknown destination_type '%s'", bd.DestinationType)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// foreignPolicyKeys are policy keys RabbitMQ (3.x, or its plugins) accepts and warren has no
// feature for: classic queue mirroring (removed in RabbitMQ 4.0), federation, streams,
// quorum queue memory limits (removed in 4.0) and queue placement. The API refuses them
// ("not recognised", vhost/policy.go); an import drops them from a policy with a warning, so
// that a file exported from a RabbitMQ 3.x node imports without edits.
var foreignPolicyKeys = map[string]bool{
	"ha-mode": true, "ha-params": true, "ha-sync-mode": true, "ha-sync-batch-size": true,
	"ha-promote-on-shutdown": true, "ha-promote-on-failure": true, "queue-master-locator": true,
	"queue-leader-locator": true, "federation-upstream": true, "federation-upstream-set": true,
	"max-age": true, "stream-max-segment-size-bytes": true, "initial-cluster-size": true,
	"max-in-memory-length": true, "max-in-memory-bytes": true,
}

// importPolicy sets one policy of a definitions file (rabbit_definitions:add_policy/3).
func importPolicy(b *vhost.Broker, vhostOf func(string) string, p map[string]any, log zerolog.Logger) error {
	vh, _ := p["vhost"].(string)
	vh = vhostOf(vh)
	name, ok := p["name"].(string)
	if !ok {
		return fmt.Errorf("policy in virtual host '%s' has undefined name", vh)
	}
	v := b.VHost(vh)
	if v == nil {
		return fmt.Errorf("%w: '%s'", vhost.ErrNoVHost, vh)
	}
	def := p["definition"]
	if m, ok := def.(map[string]any); ok {
		kept := make(map[string]any, len(m))
		var dropped []string
		for k, v := range m {
			if foreignPolicyKeys[k] {
				dropped = append(dropped, k)
			} else {
				kept[k] = v
			}
		}
		if len(dropped) > 0 {
			slices.Sort(dropped)
			if len(kept) == 0 {
				log.Warn().Str("vhost", vh).Str("policy", name).Strs("keys", dropped).Msg("definitions: policy skipped: warren has no feature for its keys")
				return nil
			}
			log.Warn().Str("vhost", vh).Str("policy", name).Strs("keys", dropped).Msg("definitions: policy keys dropped: warren has no feature for them")
			def = kept
		}
	}
	in := vhost.PolicyInput{Pattern: p["pattern"], Definition: def, ApplyTo: "all", HasApplyTo: true}
	in.Priority, in.HasPriority = p["priority"]
	if a, ok := p["apply-to"]; ok {
		in.ApplyTo = a
	}
	if _, err := v.SetPolicy(name, in); err != nil {
		var pe *vhost.PolicyError
		if errors.As(err, &pe) {
			return errors.New(escapeHTMLTags(fmt.Sprintf("%s (%s/%s)", pe.Error(), vh, name)))
		}
		return err
	}
	return nil
}

func limitValue(m map[string]any, key string) int64 {
	if v, ok := m[key]; ok {
		if n, err := asInt(key, v); err == nil {
			return n
		}
	}
	return vhost.NoLimit
}

func userLimits(m map[string]any) vhost.UserLimits {
	return vhost.UserLimits{MaxConnections: limitValue(m, "max-connections"), MaxChannels: limitValue(m, "max-channels")}
}

func vhostLimits(m map[string]any) (vhost.VHostLimits, bool) {
	if len(m) == 0 {
		return vhost.VHostLimits{}, false
	}
	return vhost.VHostLimits{MaxConnections: limitValue(m, "max-connections"), MaxQueues: limitValue(m, "max-queues")}, true
}

func getDefinitions(c *call) error {
	vh := c.r.PathValue("vhost")
	if vh != "" {
		if _, err := c.vhostFor(vh); err != nil {
			return err
		}
	}
	d, err := ExportDefinitions(c.s.cfg.Broker, vh, c.s.cfg.ReportWarren)
	if err != nil {
		return amqpError(err)
	}
	if c.r.URL.Query().Has("download") {
		// The UI's "download" link (rabbit_mgmt_wm_definitions: Content-Disposition).
		c.w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", c.r.URL.Query().Get("download")))
	}
	return c.json(d)
}

// postDefinitions imports a JSON body: 204, or 400 with the error.
func postDefinitions(c *call) error {
	vh := c.r.PathValue("vhost")
	if vh != "" {
		if _, err := c.vhostFor(vh); err != nil {
			return err
		}
	}
	var body bytes.Buffer
	if _, err := body.ReadFrom(http.MaxBytesReader(c.w, c.r.Body, 64<<20)); err != nil {
		return badRequest("%s", err.Error())
	}
	err := ImportDefinitions(c.s.cfg.Broker, body.Bytes(), ImportOptions{VHost: vh, Logger: c.s.log})
	switch {
	case err == nil:
		return c.status(http.StatusNoContent)
	case strings.HasPrefix(err.Error(), "not_json"):
		return badRequest("not_json")
	case errors.Is(err, vhost.ErrNoVHost):
		return badRequest("%s", strings.TrimPrefix(err.Error(), "vhost: "))
	}
	if ae := amqpError(err); ae != err {
		var api *apiError
		if errors.As(ae, &api) && api.status == http.StatusBadRequest {
			return ae
		}
	}
	return badRequest("%s", strings.TrimPrefix(err.Error(), "vhost: "))
}
