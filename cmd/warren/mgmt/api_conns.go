package mgmt

import (
	"net/http"

	"github.com/warrenmq/warren/amqp"
	"github.com/warrenmq/warren/vhost"
)

// Connections, channels and consumers (rabbit_mgmt_wm_connection(s), _channel(s),
// _consumers). A user without the monitoring tag sees its own connections and channels
// only (rabbit_mgmt_util:filter_user/2).

func (s *Server) connRoutes() {
	s.handle("GET /api/connections", levelManagement, listConnections)
	s.handle("GET /api/connections/", levelManagement, listConnections)
	s.handle("GET /api/vhosts/{vhost}/connections", levelManagement, listConnections)
	s.handle("GET /api/connections/{name}", levelManagement, getConnection)
	s.handle("DELETE /api/connections/{name}", levelManagement, deleteConnection)
	s.handle("GET /api/connections/{name}/channels", levelManagement, connectionChannels)
	s.handle("GET /api/channels", levelManagement, listChannels)
	s.handle("GET /api/vhosts/{vhost}/channels", levelManagement, listChannels)
	s.handle("GET /api/channels/{name}", levelManagement, getChannel)
	s.handle("GET /api/consumers", levelManagement, listConsumers)
	s.handle("GET /api/consumers/{vhost}", levelManagement, listConsumers)
}

// sees reports whether the user may see a connection of user owner.
func (c *call) sees(owner string) bool {
	return owner == c.user.Name || levelMonitoring.allows(c.user)
}

func (c *call) connections() []amqp.ConnInfo {
	if c.s.cfg.AMQP == nil {
		return nil
	}
	vh := c.r.PathValue("vhost")
	var out []amqp.ConnInfo
	for _, ci := range c.s.cfg.AMQP.Connections() {
		if c.sees(ci.User) && (vh == "" || ci.VHost == vh) {
			out = append(out, ci)
		}
	}
	return out
}

func listConnections(c *call) error {
	if vh := c.r.PathValue("vhost"); vh != "" {
		if _, err := c.vhostFor(vh); err != nil {
			return err
		}
	}
	out := []obj{}
	for _, ci := range c.connections() {
		out = append(out, c.s.connJSON(ci))
	}
	return c.json(out)
}

// conn finds the {name} connection the user may see.
func (c *call) conn() (amqp.ConnInfo, error) {
	if c.s.cfg.AMQP == nil {
		return amqp.ConnInfo{}, errNotFound
	}
	ci, ok := c.s.cfg.AMQP.Connection(c.r.PathValue("name"))
	if !ok || !c.sees(ci.User) {
		return amqp.ConnInfo{}, errNotFound
	}
	return ci, nil
}

func getConnection(c *call) error {
	ci, err := c.conn()
	if err != nil {
		return err
	}
	return c.json(c.s.connJSON(ci))
}

// deleteConnection closes a connection with 320 and the X-Reason header's text
// (rabbit_mgmt_wm_connection:delete_resource/2; "Closed via management plugin" without).
func deleteConnection(c *call) error {
	ci, err := c.conn()
	if err != nil {
		return err
	}
	if !c.s.cfg.AMQP.CloseConnection(ci.Name, c.r.Header.Get("X-Reason")) {
		return errNotFound
	}
	return c.status(http.StatusNoContent)
}

func connectionChannels(c *call) error {
	ci, err := c.conn()
	if err != nil {
		return err
	}
	chs, _ := c.s.cfg.AMQP.ConnectionChannels(ci.Name)
	out := []obj{}
	for _, ch := range chs {
		out = append(out, c.s.channelJSON(ch))
	}
	return c.json(out)
}

func (c *call) channels() []amqp.ChannelInfo {
	if c.s.cfg.AMQP == nil {
		return nil
	}
	vh := c.r.PathValue("vhost")
	var out []amqp.ChannelInfo
	for _, ch := range c.s.cfg.AMQP.Channels() {
		if c.sees(ch.Conn.User) && (vh == "" || ch.Conn.VHost == vh) {
			out = append(out, ch)
		}
	}
	return out
}

func listChannels(c *call) error {
	if vh := c.r.PathValue("vhost"); vh != "" {
		if _, err := c.vhostFor(vh); err != nil {
			return err
		}
	}
	out := []obj{}
	for _, ch := range c.channels() {
		out = append(out, c.s.channelJSON(ch))
	}
	return c.json(out)
}

func getChannel(c *call) error {
	name := c.r.PathValue("name")
	for _, ch := range c.channels() {
		if ch.Name == name {
			return c.json(c.s.channelJSON(ch))
		}
	}
	return errNotFound
}

func listConsumers(c *call) error {
	return listScoped(c, (*vhost.VHost).Consumers, c.consumerJSON)
}

// connJSON is a connection as GET /api/connections lists it. recv_oct and send_oct are
// the socket's byte counts, their _details rates per second over the last 5 s or more
// (amqp.ConnInfo); packet counts, garbage collection and reductions are RabbitMQ's Erlang
// process statistics: left out.
func (s *Server) connJSON(ci amqp.ConnInfo) obj {
	o := obj{
		"name":                      ci.Name,
		"node":                      s.node,
		"type":                      "network",
		"protocol":                  "AMQP 0-9-1",
		"state":                     ci.State,
		"user":                      ci.User,
		"user_who_performed_action": ci.User,
		"vhost":                     ci.VHost,
		"auth_mechanism":            ci.Mechanism,
		"client_properties":         tableJSON(ci.ClientProperties),
		"connected_at":              ci.ConnectedAt.UnixMilli(),
		"host":                      ci.Host,
		"port":                      ci.Port,
		"peer_host":                 ci.PeerHost,
		"peer_port":                 ci.PeerPort,
		"frame_max":                 ci.FrameMax,
		"channel_max":               ci.ChannelMax,
		"timeout":                   int(ci.Heartbeat.Seconds()),
		"channels":                  ci.Channels,
		"ssl":                       false,
		"peer_cert_issuer":          nil,
		"peer_cert_subject":         nil,
		"peer_cert_validity":        nil,
		"recv_oct":                  ci.RecvOct,
		"recv_oct_details":          obj{"rate": ci.RecvRate},
		"send_oct":                  ci.SendOct,
		"send_oct_details":          obj{"rate": ci.SendRate},
	}
	if ci.UserProvidedName != "" {
		o["user_provided_name"] = ci.UserProvidedName
	}
	return o
}

func (s *Server) channelJSON(ch amqp.ChannelInfo) obj {
	o := obj{
		"name":   ch.Name,
		"node":   s.node,
		"number": ch.Number,
		"state":  "running",
		"user":   ch.Conn.User, "user_who_performed_action": ch.Conn.User,
		"vhost": ch.Conn.VHost,
		"connection_details": obj{
			"name": ch.Conn.Name, "peer_host": ch.Conn.PeerHost, "peer_port": ch.Conn.PeerPort,
		},
		"consumer_count":          ch.Consumers,
		"messages_unacknowledged": ch.Unacked,
		"messages_unconfirmed":    ch.Unconfirmed,
		"global_prefetch_count":   ch.GlobalPrefetch,
		"prefetch_count":          ch.Prefetch,
		"confirm":                 ch.Confirm,
		"transactional":           ch.Transactional,
	}
	if st := s.rates.channelStats(ch); st != nil {
		o["message_stats"] = st
	}
	return o
}

func (c *call) consumerJSON(v *vhost.VHost, cs vhost.ConsumerStats) (obj, bool) {
	o := obj{
		"arguments":       tableJSON(cs.Args),
		"ack_required":    !cs.NoAck,
		"active":          true,
		"activity_status": "up",
		"consumer_tag":    cs.Tag,
		"exclusive":       cs.Exclusive,
		"prefetch_count":  0,
		"queue":           obj{"name": cs.Queue, "vhost": v.Name()},
	}
	if c.s.cfg.AMQP == nil {
		return o, levelMonitoring.allows(c.user)
	}
	own, ok := c.s.cfg.AMQP.ConsumerOwner(cs.Consumer)
	if !ok {
		return o, levelMonitoring.allows(c.user)
	}
	if !c.sees(own.Channel.Conn.User) {
		return nil, false
	}
	ch := own.Channel
	o["prefetch_count"] = own.Prefetch
	o["active"] = own.Active
	o["channel_details"] = obj{
		"connection_name": ch.Conn.Name, "name": ch.Name, "node": c.s.node, "number": ch.Number,
		"peer_host": ch.Conn.PeerHost, "peer_port": ch.Conn.PeerPort, "user": ch.Conn.User,
	}
	return o, true
}
