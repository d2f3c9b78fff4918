package mgmt

import (
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/warrenmq/warren/amqp"
	"github.com/warrenmq/warren/vhost"
)

// The overview, the node, vhosts, users, permissions and health checks.

func (s *Server) overviewRoutes() {
	s.handle("GET /api/overview", levelManagement, overview)
	s.handle("GET /api/whoami", levelManagement, whoami)
	s.handle("GET /api/nodes", levelMonitoring, nodes)
	s.handle("GET /api/nodes/{node}", levelMonitoring, node)
	s.handle("GET /api/extensions", levelManagement, func(c *call) error { return c.json([]obj{}) })
	s.handle("GET /api/cluster-name", levelManagement, func(c *call) error { return c.json(obj{"name": c.s.node}) })

	s.handle("GET /api/vhosts", levelManagement, listVHosts)
	s.handle("GET /api/vhosts/{vhost}", levelManagement, getVHost)
	s.handle("PUT /api/vhosts/{vhost}", levelAdmin, putVHost)
	s.handle("DELETE /api/vhosts/{vhost}", levelAdmin, deleteVHost)
	s.handle("GET /api/vhosts/{vhost}/permissions", levelAdmin, listPermissions)

	s.handle("GET /api/users", levelAdmin, listUsers)
	s.handle("GET /api/users/without-permissions", levelAdmin, usersWithoutPermissions)
	s.handle("GET /api/users/{user}", levelAdmin, getUser)
	s.handle("PUT /api/users/{user}", levelAdmin, putUser)
	s.handle("DELETE /api/users/{user}", levelAdmin, deleteUser)
	s.handle("GET /api/users/{user}/permissions", levelAdmin, listPermissions)
	s.handle("GET /api/permissions", levelAdmin, listPermissions)
	s.handle("GET /api/permissions/{vhost}/{user}", levelAdmin, getPermission)
	s.handle("PUT /api/permissions/{vhost}/{user}", levelAdmin, putPermission)
	s.handle("DELETE /api/permissions/{vhost}/{user}", levelAdmin, deletePermission)
	s.handle("GET /api/topic-permissions", levelAdmin, listTopicPermissions)
	s.handle("GET /api/topic-permissions/{vhost}/{user}", levelAdmin, listTopicPermissions)
	s.handle("PUT /api/topic-permissions/{vhost}/{user}", levelAdmin, putTopicPermission)
	s.handle("DELETE /api/topic-permissions/{vhost}/{user}", levelAdmin, deleteTopicPermission)

	s.handle("GET /api/health/checks/alarms", levelManagement, healthAlarms)
	s.handle("GET /api/health/checks/local-alarms", levelManagement, healthAlarms)
	s.handle("GET /api/health/checks/virtual-hosts", levelManagement, healthOK)
	s.handle("GET /api/health/checks/node-is-mirror-sync-critical", levelManagement, healthOK)
	s.handle("GET /api/health/checks/node-is-quorum-critical", levelManagement, healthOK)
	s.handle("GET /api/health/checks/is-in-service", levelManagement, healthOK)
	s.handle("GET /api/health/checks/certificate-expiration/{within}/{unit}", levelManagement, healthOK)
	s.handle("GET /api/health/checks/port-listener/{port}", levelManagement, healthPort)
	s.handle("GET /api/health/checks/protocol-listener/{protocol}", levelManagement, healthProtocol)
	s.handle("GET /api/aliveness-test/{vhost}", levelManagement, aliveness)
}

// product is the product name and version the API reports.
func (s *Server) product() (name, version string) {
	if s.cfg.ReportWarren {
		return "warren", amqp.Version
	}
	return "RabbitMQ", amqp.RabbitMQVersion
}

func overview(c *call) error {
	s := c.s
	name, version := s.product()
	var ready, unacked, consumers, queues, exchanges int
	for _, v := range c.vhosts() {
		for _, q := range v.QueueDepths() {
			ready += q.Ready
			unacked += q.Unacked
			consumers += q.Consumers
			queues++
		}
		exchanges += len(v.Exchanges())
	}
	listeners := []obj{}
	for _, l := range s.cfg.Listeners {
		host, port := splitListener(l.Addr)
		listeners = append(listeners, obj{"node": s.node, "protocol": l.Protocol, "ip_address": host, "port": port, "socket_opts": obj{}})
	}
	o := obj{
		"management_version": version,
		"rates_mode":         "basic",
		"exchange_types": []obj{
			{"name": "direct", "description": "AMQP direct exchange, as per the AMQP specification", "enabled": true},
			{"name": "fanout", "description": "AMQP fanout exchange, as per the AMQP specification", "enabled": true},
			{"name": "headers", "description": "AMQP headers exchange, as per the AMQP specification", "enabled": true},
			{"name": "topic", "description": "AMQP topic exchange, as per the AMQP specification", "enabled": true},
		},
		"product_name":     name,
		"product_version":  version,
		"rabbitmq_version": amqp.RabbitMQVersion,
		"warren_version":   amqp.Version,
		"cluster_name":     s.node,
		"node":             s.node,
		"disable_stats":    false,
		// Constants of RabbitMQ's defaults, which tools read (rates_mode basic).
		"enable_queue_totals":       false,
		"statistics_db_event_queue": 0,
		"sample_retention_policies": obj{"global": []int{600, 3600, 28800, 86400}, "basic": []int{600, 3600}, "detailed": []int{600}},
		"message_stats":             s.rates.messageStats(""),
		"churn_rates":               s.rates.churnRates(),
		"queue_totals": obj{
			"messages": ready + unacked, "messages_details": s.rates.details("totals\x00messages"),
			"messages_ready": ready, "messages_ready_details": s.rates.details("totals\x00ready"),
			"messages_unacknowledged": unacked, "messages_unacknowledged_details": s.rates.details("totals\x00unacked"),
		},
		"object_totals": obj{
			"connections": len(c.connections()), "channels": len(c.channels()),
			"consumers": consumers, "queues": queues, "exchanges": exchanges,
		},
		"listeners": listeners,
		"contexts":  []obj{},
	}
	return c.json(o)
}

func splitListener(a net.Addr) (string, int) {
	if a == nil {
		return "", 0
	}
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String(), 0
	}
	p, _ := strconv.Atoi(port)
	if host == "" {
		host = "::"
	}
	return host, p
}

func whoami(c *call) error {
	return c.json(obj{"name": c.user.Name, "tags": tagsOf(c.user.Tags)})
}

func tagsOf(tags []string) []string {
	if tags == nil {
		return []string{}
	}
	return tags
}

func (s *Server) nodeJSON() obj {
	return obj{
		"name": s.node, "type": "disc", "running": true, "being_drained": false,
		"uptime": s.uptime().Milliseconds(), "applications": []obj{}, "partitions": []any{},
		"os_pid": strconv.Itoa(pid()), "enabled_plugins": []string{"rabbitmq_management", "rabbitmq_prometheus"},
	}
}

func nodes(c *call) error { return c.json([]obj{c.s.nodeJSON()}) }

func node(c *call) error {
	if c.r.PathValue("node") != c.s.node {
		return errNotFound
	}
	return c.json(c.s.nodeJSON())
}

// ---- vhosts

func (s *Server) vhostJSON(v *vhost.VHost) obj {
	var ready, unacked int
	for _, q := range v.QueueDepths() {
		ready += q.Ready
		unacked += q.Unacked
	}
	key := "v\x00" + v.Name()
	desc := ""
	if v.Name() == "/" {
		desc = "Default virtual host"
	}
	o := obj{
		"name": v.Name(), "description": desc, "tags": []string{}, "tracing": false,
		"default_queue_type": "undefined",
		"metadata":           obj{"description": desc, "tags": []string{}},
		"cluster_state":      obj{s.node: "running"},
		"messages":           ready + unacked, "messages_details": s.rates.details(key + "\x00messages"),
		"messages_ready": ready, "messages_ready_details": s.rates.details(key + "\x00ready"),
		"messages_unacknowledged": unacked, "messages_unacknowledged_details": s.rates.details(key + "\x00unacked"),
	}
	if st := s.rates.messageStats(v.Name()); len(st) > 0 {
		o["message_stats"] = st
	}
	return o
}

func listVHosts(c *call) error {
	out := []obj{}
	for _, v := range c.vhosts() {
		out = append(out, c.s.vhostJSON(v))
	}
	return c.json(out)
}

func getVHost(c *call) error {
	v, err := c.vhostFor(c.r.PathValue("vhost"))
	if err != nil {
		return err
	}
	return c.json(c.s.vhostJSON(v))
}

func putVHost(c *call) error {
	name := c.r.PathValue("vhost")
	var body map[string]any
	if err := c.decode(&body); err != nil {
		return err
	}
	if c.s.cfg.Broker.VHost(name) != nil {
		return c.status(http.StatusNoContent)
	}
	if err := c.s.cfg.Broker.AddVHost(name); err != nil {
		return badRequest("%s", strings.TrimPrefix(err.Error(), "vhost: "))
	}
	// As rabbit_mgmt_wm_vhost:put_vhost/6: the creating user gets full permissions.
	if err := c.s.cfg.Broker.SetPermissions(c.user.Name, name, ".*", ".*", ".*"); err != nil {
		return badRequest("%s", strings.TrimPrefix(err.Error(), "vhost: "))
	}
	return c.status(http.StatusCreated)
}

func deleteVHost(c *call) error {
	name := c.r.PathValue("vhost")
	if c.s.cfg.Broker.VHost(name) == nil {
		return errNotFound
	}
	if err := c.s.cfg.Broker.DeleteVHost(name); err != nil {
		return badRequest("%s", strings.TrimPrefix(err.Error(), "vhost: "))
	}
	return c.status(http.StatusNoContent)
}

// ---- users and permissions

func userJSON(u vhost.UserInfo) obj {
	o := obj{
		"name": u.Name, "tags": tagsOf(u.Tags),
		"password_hash": vhost.EncodeHash(u.PasswordHash), "hashing_algorithm": string(u.HashAlg),
		"limits": limitsJSON(u.Limits),
	}
	return o
}

func limitsJSON(l vhost.UserLimits) obj {
	o := obj{}
	if l.MaxConnections >= 0 {
		o["max-connections"] = l.MaxConnections
	}
	if l.MaxChannels >= 0 {
		o["max-channels"] = l.MaxChannels
	}
	return o
}

func (c *call) findUser(name string) (vhost.UserInfo, bool) {
	for _, u := range c.s.cfg.Broker.Users() {
		if u.Name == name {
			return u, true
		}
	}
	return vhost.UserInfo{}, false
}

func listUsers(c *call) error {
	out := []obj{}
	for _, u := range c.s.cfg.Broker.Users() {
		out = append(out, userJSON(u))
	}
	return c.json(out)
}

func usersWithoutPermissions(c *call) error {
	has := map[string]bool{}
	for _, p := range c.s.cfg.Broker.Permissions() {
		has[p.User] = true
	}
	out := []obj{}
	for _, u := range c.s.cfg.Broker.Users() {
		if !has[u.Name] {
			out = append(out, userJSON(u))
		}
	}
	return c.json(out)
}

func getUser(c *call) error {
	u, ok := c.findUser(c.r.PathValue("user"))
	if !ok {
		return errNotFound
	}
	return c.json(userJSON(u))
}

// parseTags reads "tags": a comma-separated string (3.10) or a list (3.13+).
func parseTags(v any) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return []string{}, nil
	case string:
		var tags []string
		for _, t := range strings.Split(x, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
		return tags, nil
	case []any:
		var tags []string
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, badRequest("tags must be strings")
			}
			tags = append(tags, s)
		}
		return tags, nil
	}
	return nil, badRequest("tags must be a string or a list")
}

// putUser creates or updates a user (rabbit_mgmt_wm_user:put_user/2): with "password",
// or "password_hash" (and "hashing_algorithm"), or neither for a user who can only log
// in with EXTERNAL; "tags" is required.
func putUser(c *call) error {
	name := c.r.PathValue("user")
	var body map[string]any
	if err := c.decode(&body); err != nil {
		return err
	}
	if _, ok := body["tags"]; !ok {
		return badRequest("[{key_missing,tags}]")
	}
	tags, err := parseTags(body["tags"])
	if err != nil {
		return err
	}
	old, existed := c.findUser(name)
	u := vhost.UserInfo{Name: name, Tags: tags, HashAlg: vhost.HashSHA256, Limits: vhost.Unlimited}
	if existed {
		u.HashAlg, u.PasswordHash, u.Limits = old.HashAlg, old.PasswordHash, old.Limits
	}
	if pw, ok := body["password"].(string); ok {
		if u.PasswordHash, err = vhost.HashPassword(vhost.HashSHA256, pw); err != nil {
			return err
		}
		u.HashAlg = vhost.HashSHA256
	} else if h, ok := body["password_hash"].(string); ok {
		alg, _ := body["hashing_algorithm"].(string)
		if u.HashAlg, err = vhost.ParseHashAlg(alg); err != nil {
			return badRequest("%s", strings.TrimPrefix(err.Error(), "vhost: "))
		}
		if u.PasswordHash, err = vhost.DecodeHash(u.HashAlg, h); err != nil {
			return badRequest("%s", strings.TrimPrefix(err.Error(), "vhost: "))
		}
	} else if !existed {
		u.PasswordHash = nil
	}
	if err := c.s.cfg.Broker.PutUser(u); err != nil {
		return badRequest("%s", strings.TrimPrefix(err.Error(), "vhost: "))
	}
	if existed {
		return c.status(http.StatusNoContent)
	}
	return c.status(http.StatusCreated)
}

func deleteUser(c *call) error {
	if err := c.s.cfg.Broker.DeleteUser(c.r.PathValue("user")); err != nil {
		if errors.Is(err, vhost.ErrNoUser) {
			return errNotFound
		}
		return badRequest("%s", err.Error())
	}
	return c.status(http.StatusNoContent)
}

func permissionJSON(p vhost.PermissionInfo) obj {
	return obj{"user": p.User, "vhost": p.VHost, "configure": p.Configure, "write": p.Write, "read": p.Read}
}

// listPermissions lists permissions, of one user or one vhost when the path names one.
func listPermissions(c *call) error {
	user, vh := c.r.PathValue("user"), c.r.PathValue("vhost")
	if user != "" {
		if _, ok := c.findUser(user); !ok {
			return errNotFound
		}
	}
	if vh != "" && c.s.cfg.Broker.VHost(vh) == nil {
		return errNotFound
	}
	out := []obj{}
	for _, p := range c.s.cfg.Broker.Permissions() {
		if (user == "" || p.User == user) && (vh == "" || p.VHost == vh) {
			out = append(out, permissionJSON(p))
		}
	}
	return c.json(out)
}

func getPermission(c *call) error {
	for _, p := range c.s.cfg.Broker.Permissions() {
		if p.User == c.r.PathValue("user") && p.VHost == c.r.PathValue("vhost") {
			return c.json(permissionJSON(p))
		}
	}
	return errNotFound
}

func putPermission(c *call) error {
	user, vh := c.r.PathValue("user"), c.r.PathValue("vhost")
	var body map[string]any
	if err := c.decode(&body); err != nil {
		return err
	}
	if err := keysMissing(body, "configure", "write", "read"); err != nil {
		return err
	}
	conf, _ := body["configure"].(string)
	write, _ := body["write"].(string)
	read, _ := body["read"].(string)
	if _, ok := c.findUser(user); !ok {
		return badRequest("user_not_found")
	}
	if c.s.cfg.Broker.VHost(vh) == nil {
		return badRequest("vhost_not_found")
	}
	existed := false
	for _, p := range c.s.cfg.Broker.Permissions() {
		existed = existed || p.User == user && p.VHost == vh
	}
	if err := c.s.cfg.Broker.SetPermissions(user, vh, conf, write, read); err != nil {
		return badRequest("%s", strings.TrimPrefix(err.Error(), "vhost: "))
	}
	if existed {
		return c.status(http.StatusNoContent)
	}
	return c.status(http.StatusCreated)
}

func deletePermission(c *call) error {
	user, vh := c.r.PathValue("user"), c.r.PathValue("vhost")
	found := false
	for _, p := range c.s.cfg.Broker.Permissions() {
		found = found || p.User == user && p.VHost == vh
	}
	if !found {
		return errNotFound
	}
	if err := c.s.cfg.Broker.ClearPermissions(user, vh); err != nil {
		return badRequest("%s", err.Error())
	}
	return c.status(http.StatusNoContent)
}

func listTopicPermissions(c *call) error {
	user, vh := c.r.PathValue("user"), c.r.PathValue("vhost")
	out := []obj{}
	for _, p := range c.s.cfg.Broker.TopicPermissions() {
		if (user == "" || p.User == user) && (vh == "" || p.VHost == vh) {
			out = append(out, obj{"user": p.User, "vhost": p.VHost, "exchange": p.Exchange, "write": p.Write, "read": p.Read})
		}
	}
	if user != "" && len(out) == 0 {
		return errNotFound
	}
	return c.json(out)
}

func putTopicPermission(c *call) error {
	var body map[string]any
	if err := c.decode(&body); err != nil {
		return err
	}
	if err := keysMissing(body, "exchange", "write", "read"); err != nil {
		return err
	}
	x, _ := body["exchange"].(string)
	write, _ := body["write"].(string)
	read, _ := body["read"].(string)
	if err := c.s.cfg.Broker.SetTopicPermissions(c.r.PathValue("user"), c.r.PathValue("vhost"), x, write, read); err != nil {
		return badRequest("%s", strings.TrimPrefix(err.Error(), "vhost: "))
	}
	return c.status(http.StatusCreated)
}

func deleteTopicPermission(c *call) error {
	user, vh := c.r.PathValue("user"), c.r.PathValue("vhost")
	n := 0
	for _, p := range c.s.cfg.Broker.TopicPermissions() {
		if p.User == user && p.VHost == vh {
			if err := c.s.cfg.Broker.ClearTopicPermissions(user, vh, p.Exchange); err != nil {
				return badRequest("%s", err.Error())
			}
			n++
		}
	}
	if n == 0 {
		return errNotFound
	}
	return c.status(http.StatusNoContent)
}

// ---- health checks (rabbit_mgmt_wm_health_check_*): 200 {"status":"ok"} or
// 503 {"status":"failed","reason":…}.

func healthOK(c *call) error { return c.json(obj{"status": "ok"}) }

func healthFailed(c *call, o obj) error {
	o["status"] = "failed"
	writeJSON(c.w, http.StatusServiceUnavailable, o)
	return nil
}

func healthAlarms(c *call) error {
	reason, active := c.s.cfg.Broker.Alarmed()
	if !active {
		return healthOK(c)
	}
	var alarms []obj
	for _, r := range []string{"disk", "memory"} {
		if strings.Contains(reason, r) {
			alarms = append(alarms, obj{"node": c.s.node, "resource": r})
		}
	}
	return healthFailed(c, obj{"reason": "resource alarm(s) in effect in the cluster", "alarms": alarms})
}

func healthPort(c *call) error {
	port, err := strconv.Atoi(c.r.PathValue("port"))
	if err != nil {
		return badRequest("invalid port")
	}
	var ports []int
	for _, l := range c.s.cfg.Listeners {
		_, p := splitListener(l.Addr)
		ports = append(ports, p)
		if p == port {
			return healthOK(c)
		}
	}
	return healthFailed(c, obj{"reason": "No active listener", "missing": port, "ports": ports})
}

func healthProtocol(c *call) error {
	want := normalizeProtocol(c.r.PathValue("protocol"))
	var protos []string
	for _, l := range c.s.cfg.Listeners {
		p := normalizeProtocol(l.Protocol)
		protos = append(protos, p)
		if p == want {
			return healthOK(c)
		}
	}
	slices.Sort(protos)
	return healthFailed(c, obj{"reason": "No active listener", "missing": want, "protocols": slices.Compact(protos)})
}

// normalizeProtocol maps the names RabbitMQ accepts for a protocol to one
// (rabbit_mgmt_wm_health_check_protocol_listener:normalize_protocol/1).
func normalizeProtocol(p string) string {
	switch strings.ToLower(p) {
	case "amqp", "amqp091", "amqp0.9.1", "amqp0-9-1":
		return "amqp"
	case "amqps", "amqp/ssl", "amqp091/ssl":
		return "amqp/ssl"
	case "http", "management":
		return "http"
	case "prometheus", "http/prometheus":
		return "http/prometheus"
	}
	return strings.ToLower(p)
}

// aliveness declares the queue "aliveness-test" in the vhost, publishes a message to it
// and gets it back (rabbit_mgmt_wm_aliveness_test; a no-op since RabbitMQ 4.1).
func aliveness(c *call) error {
	v, err := c.vhostFor(c.r.PathValue("vhost"))
	if err != nil {
		return err
	}
	const q = "aliveness-test"
	if _, err := v.DeclareQueue(nil, q, false, false, false, false, nil); err != nil {
		return healthFailed(c, obj{"reason": err.Error()})
	}
	if _, err := v.Publish(&vhost.Message{RoutingKey: q, Body: []byte("test_message")}); err != nil {
		return healthFailed(c, obj{"reason": err.Error()})
	}
	for range 100 { // a queue shared with other aliveness tests may hold older messages
		d, ok, _, err := v.Get(nil, q, true)
		if err != nil || !ok {
			break
		}
		if string(d.Msg.Body) == "test_message" {
			return healthOK(c)
		}
	}
	return healthFailed(c, obj{"reason": "aliveness-test message not received"})
}
