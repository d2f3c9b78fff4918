package amqp

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/vhost"
)

// Views of the open connections and channels for the management API (issue 8), and
// closing a connection by name as RabbitMQ's DELETE /api/connections/{name} does.
//
// Each conn carries an inspect value. The connection's readLoop fills it in three hooks:
// started (client properties and mechanism, during the handshake), opened (once the
// handshake succeeded: the immutable description is published) and
// addChannel/removeChannel. Other goroutines read the published description and the
// channel set under inspect.mu; a channel's delivery state is read under channel.mu. So
// listing takes Server.mu, then one inspect.mu at a time, then one channel.mu at a time,
// and calls nothing in vhost: it fits the lock order of doc.go.

// ConnInfo describes one open client connection.
type ConnInfo struct {
	// Name is RabbitMQ's name for the connection, "<peer ip:port> -> <local ip:port>"
	// (rabbit_net:connection_string/2; IPv6 addresses in brackets).
	Name             string
	ID               uint64     // warren's connection number, as in the log ("conn")
	User, VHost      string     //
	ClientProperties wire.Table // as the client sent them; shared, do not modify
	UserProvidedName string     // the connection_name client property, "" if none
	Mechanism        string     // PLAIN or AMQPLAIN
	PeerHost         string
	PeerPort         int
	Host             string // the server's address the client connected to
	Port             int
	ConnectedAt      time.Time
	FrameMax         uint32
	ChannelMax       uint16
	Heartbeat        time.Duration // 0: none
	Channels         int           // open channels
	// State is RabbitMQ's connection state: "running", "blocked" (a resource alarm holds
	// its publishers) or "closing" (connection.close sent by the server).
	State string
	// RecvOct and SendOct are the bytes read from and written to the socket so far
	// (RabbitMQ's recv_oct and send_oct); RecvRate and SendRate their change per second
	// over the last octetInterval or more (0 until one has passed).
	RecvOct, SendOct   uint64
	RecvRate, SendRate float64
}

// ChannelInfo describes one open channel.
type ChannelInfo struct {
	Conn           *ConnInfo // the channel's connection
	Number         uint16
	Name           string // RabbitMQ's channel name, "<connection name> (<number>)"
	Consumers      int
	Unacked        int    // deliveries (consumer and basic.get) awaiting an ack
	GlobalPrefetch uint16 // basic.qos global=true; 0: none
	Prefetch       uint16 // basic.qos global=false: the limit of consumers created from now on
	Unconfirmed    int    // publishes in confirm mode waiting for the store
	Confirm        bool   // confirm.select was sent
	Transactional  bool   // tx.select was sent
	// Counters are the channel's message counters (the connection and channel
	// fields stay zero).
	Counters Counters
}

// chanView mirrors readLoop-owned channel state for other goroutines: written by the
// channel's readLoop right after the field it copies, read by the management API.
type chanView struct {
	mode     atomic.Uint32 // viewConfirm | viewTx
	prefetch atomic.Uint32
}

const (
	viewConfirm = 1 << iota
	viewTx
)

// inspect is a connection's management view. See the comment at the top of the file.
type inspect struct {
	// owned by readLoop until opened publishes them in info
	props     wire.Table
	mechanism string

	info atomic.Pointer[ConnInfo] // immutable once set; nil until the connection is open

	mu struct {
		sync.Mutex
		channels map[uint16]*channel
		octets   octetSample // the byte counters when last sampled, for the rates
	}
}

// octetSample is a connection's byte counters at one moment, and the rates computed
// when it was taken.
type octetSample struct {
	at                 time.Time
	recv, send         uint64
	recvRate, sendRate float64
}

// octetInterval is the shortest interval the byte rates are computed over: RabbitMQ's
// collect_statistics_interval default (5000 ms). Rates are sampled lazily, when a
// snapshot is taken, so an idle management API costs the connection nothing.
const octetInterval = 5 * time.Second

// started records what connection.start-ok said. Called by readLoop.
func (in *inspect) started(m *wire.ConnectionStartOk) {
	in.props, in.mechanism = m.ClientProperties, m.Mechanism
}

// opened publishes the connection's description; called by readLoop after the
// handshake succeeded.
func (c *conn) opened() {
	in := &c.insp
	info := &ConnInfo{
		Name:             connName(c.nc),
		ID:               c.id,
		User:             c.user.Name,
		VHost:            c.vhostName,
		ClientProperties: in.props,
		Mechanism:        in.mechanism,
		ConnectedAt:      time.Now(),
		FrameMax:         c.frameMax,
		ChannelMax:       c.channelMax,
		Heartbeat:        c.heartbeat,
	}
	info.UserProvidedName, _ = in.props["connection_name"].(string)
	info.PeerHost, info.PeerPort = splitAddr(c.nc.RemoteAddr())
	info.Host, info.Port = splitAddr(c.nc.LocalAddr())
	in.info.Store(info)
}

func (in *inspect) addChannel(ch *channel) {
	in.mu.Lock()
	if in.mu.channels == nil {
		in.mu.channels = make(map[uint16]*channel)
	}
	in.mu.channels[ch.id] = ch
	in.mu.Unlock()
	ch.c.stats.channelsOpened.Add(1)
}

func (in *inspect) removeChannel(ch *channel) {
	in.mu.Lock()
	if in.mu.channels[ch.id] == ch {
		delete(in.mu.channels, ch.id)
		ch.c.stats.fold(&ch.stats)
		ch.c.stats.channelsClosed.Add(1)
	}
	in.mu.Unlock()
}

// connName is RabbitMQ's connection name: "127.0.0.1:54321 -> 127.0.0.1:5672".
func connName(nc net.Conn) string {
	return nc.RemoteAddr().String() + " -> " + nc.LocalAddr().String()
}

func splitAddr(a net.Addr) (string, int) {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String(), 0
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

// snapshot returns the connection's description with its current channel count and
// state; nil while the handshake runs.
func (c *conn) snapshot() *ConnInfo {
	info := c.insp.info.Load()
	if info == nil {
		return nil
	}
	cp := *info
	// The protocol header is read from the socket itself (handshake.go), before
	// the counting reader: an open connection has read it.
	cp.RecvOct, cp.SendOct = c.hr.octets.Load()+uint64(len(protocolHeader)), c.stats.sendOct.Load()
	now := time.Now()
	c.insp.mu.Lock()
	cp.Channels = len(c.insp.mu.channels)
	o := &c.insp.mu.octets
	if o.at.IsZero() {
		o.at = info.ConnectedAt
	}
	if dt := now.Sub(o.at); dt >= octetInterval {
		o.recvRate = float64(cp.RecvOct-o.recv) / dt.Seconds()
		o.sendRate = float64(cp.SendOct-o.send) / dt.Seconds()
		o.at, o.recv, o.send = now, cp.RecvOct, cp.SendOct
	}
	cp.RecvRate, cp.SendRate = o.recvRate, o.sendRate
	c.insp.mu.Unlock()
	switch {
	case c.forced.Load() != nil:
		cp.State = "closing"
	case c.blocked.Load():
		cp.State = "blocked"
	default:
		cp.State = "running"
	}
	return &cp
}

// openConns returns the server's connections that finished their handshake.
func (s *Server) openConns() []*conn {
	s.mu.Lock()
	cs := make([]*conn, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		if c.insp.info.Load() != nil {
			cs = append(cs, c)
		}
	}
	s.mu.Unlock()
	return cs
}

// Connections returns the open connections (handshake done), sorted by name.
func (s *Server) Connections() []ConnInfo {
	cs := s.openConns()
	out := make([]ConnInfo, 0, len(cs))
	for _, c := range cs {
		if info := c.snapshot(); info != nil {
			out = append(out, *info)
		}
	}
	slices.SortFunc(out, func(a, b ConnInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// find returns the open connection named name, nil if there is none.
func (s *Server) find(name string) *conn {
	for _, c := range s.openConns() {
		if c.insp.info.Load().Name == name {
			return c
		}
	}
	return nil
}

// Connection returns the open connection named name.
func (s *Server) Connection(name string) (ConnInfo, bool) {
	if c := s.find(name); c != nil {
		if info := c.snapshot(); info != nil {
			return *info, true
		}
	}
	return ConnInfo{}, false
}

// DefaultCloseReason is the reason RabbitMQ's management API gives a connection it closes
// when the request has no X-Reason header (rabbit_mgmt_wm_connection:delete_resource/2).
const DefaultCloseReason = "Closed via management plugin"

// CloseConnection closes the named connection with 320 CONNECTION_FORCED and reason as
// the reply text (the client sees "CONNECTION_FORCED - <reason>"), as
// rabbit_networking:close_connection/2 does. It returns once connection.close is queued;
// false if there is no such open connection.
func (s *Server) CloseConnection(name, reason string) bool {
	c := s.find(name)
	if c == nil {
		return false
	}
	if reason == "" {
		reason = DefaultCloseReason
	}
	c.forceClose(wire.Hard(wire.ConnectionForced, "%s", reason))
	return true
}

// channelInfo describes ch; called without ch.mu held.
func channelInfo(conn *ConnInfo, ch *channel) ChannelInfo {
	ci := ChannelInfo{Conn: conn, Number: ch.id, Name: conn.Name + " (" + strconv.Itoa(int(ch.id)) + ")"}
	ch.mu.Lock()
	ci.Consumers = len(ch.consumers)
	ci.Unacked = ch.unackedCount
	ci.GlobalPrefetch = ch.globalPrefetch
	ci.Unconfirmed = len(ch.waiting)
	ch.mu.Unlock()
	mode := ch.view.mode.Load()
	ci.Confirm, ci.Transactional = mode&viewConfirm != 0, mode&viewTx != 0
	ci.Prefetch = uint16(ch.view.prefetch.Load())
	ci.Counters = ch.stats.load()
	return ci
}

// channels returns c's open channels, by number.
func (c *conn) channelList() []*channel {
	c.insp.mu.Lock()
	chs := make([]*channel, 0, len(c.insp.mu.channels))
	for _, ch := range c.insp.mu.channels {
		chs = append(chs, ch)
	}
	c.insp.mu.Unlock()
	slices.SortFunc(chs, func(a, b *channel) int { return cmp.Compare(a.id, b.id) })
	return chs
}

// Channels returns the open channels of every open connection, sorted by connection
// name and channel number.
func (s *Server) Channels() []ChannelInfo {
	var out []ChannelInfo
	for _, ci := range s.Connections() {
		c := s.find(ci.Name)
		if c == nil {
			continue
		}
		conn := ci
		for _, ch := range c.channelList() {
			out = append(out, channelInfo(&conn, ch))
		}
	}
	return out
}

// ConnectionChannels returns the open channels of the named connection; false if there
// is no such connection.
func (s *Server) ConnectionChannels(name string) ([]ChannelInfo, bool) {
	c := s.find(name)
	if c == nil {
		return nil, false
	}
	info := c.snapshot()
	if info == nil {
		return nil, false
	}
	var out []ChannelInfo
	for _, ch := range c.channelList() {
		out = append(out, channelInfo(info, ch))
	}
	return out, true
}

// ConsumerOwner describes where a consumer listed by vhost.VHost.Consumers lives.
type ConsumerOwner struct {
	Channel  ChannelInfo
	Prefetch uint16 // the consumer's own limit (basic.qos global=false at consume time); 0: none
	Active   bool   // consume-ok was sent
}

// ConsumerOwner maps a vhost.Consumer of this server to its channel; false for a
// consumer that is not one of this server's (or whose connection is not open).
func (s *Server) ConsumerOwner(vc vhost.Consumer) (ConsumerOwner, bool) {
	co, ok := vc.(*consumer)
	if !ok {
		return ConsumerOwner{}, false
	}
	info := co.ch.c.snapshot()
	if info == nil {
		return ConsumerOwner{}, false
	}
	o := ConsumerOwner{Channel: channelInfo(info, co.ch), Prefetch: co.prefetch}
	co.ch.mu.Lock()
	o.Active = co.active
	co.ch.mu.Unlock()
	return o, true
}

// Counters are message and connection counts, as RabbitMQ's management API
// ("message_stats") and its Prometheus plugin (rabbitmq_global_*) report them. They
// only grow, over the server's lifetime.
type Counters struct {
	Published        uint64 // publishes received (routed or not; refused ones not counted)
	PublishedConfirm uint64 // of Published, on channels in confirm mode
	Unroutable       uint64 // of Published, routed to no queue
	Returned         uint64 // unroutable mandatory publishes returned (basic.return)
	Confirmed        uint64 // publishes confirmed (basic.ack to the publisher)

	DeliveredConsumeAck   uint64 // deliveries to consumers with manual acks
	DeliveredConsumeNoAck uint64 // deliveries to no-ack consumers
	DeliveredGetAck       uint64 // basic.get-ok with manual acks
	DeliveredGetNoAck     uint64 // basic.get-ok with no-ack
	GetEmpty              uint64 // basic.get-empty
	Redelivered           uint64 // of the deliveries above, those marked redelivered
	Acked                 uint64 // deliveries acknowledged (basic.ack)

	ConnectionsOpened, ConnectionsClosed uint64 // connections that finished the handshake
	ChannelsOpened, ChannelsClosed       uint64
}

// Routed is the number of published messages that reached a queue.
func (c Counters) Routed() uint64 { return c.Published - c.Unroutable }

// Dropped is the number of unroutable publishes not returned to their publisher.
func (c Counters) Dropped() uint64 { return c.Unroutable - c.Returned }

// Delivered is every delivery: to consumers and to basic.get.
func (c Counters) Delivered() uint64 {
	return c.DeliveredConsumeAck + c.DeliveredConsumeNoAck + c.DeliveredGetAck + c.DeliveredGetNoAck
}

func (c *Counters) add(o *Counters) {
	c.Published += o.Published
	c.PublishedConfirm += o.PublishedConfirm
	c.Unroutable += o.Unroutable
	c.Returned += o.Returned
	c.Confirmed += o.Confirmed
	c.DeliveredConsumeAck += o.DeliveredConsumeAck
	c.DeliveredConsumeNoAck += o.DeliveredConsumeNoAck
	c.DeliveredGetAck += o.DeliveredGetAck
	c.DeliveredGetNoAck += o.DeliveredGetNoAck
	c.GetEmpty += o.GetEmpty
	c.Redelivered += o.Redelivered
	c.Acked += o.Acked
	c.ConnectionsOpened += o.ConnectionsOpened
	c.ConnectionsClosed += o.ConnectionsClosed
	c.ChannelsOpened += o.ChannelsOpened
	c.ChannelsClosed += o.ChannelsClosed
}

// connStats are one connection's counters. Publishing ones are written by its readLoop
// only; delivery ones by whichever goroutine dispatches to its consumers (under the
// channel's lock, but different channels' locks): all atomic, read by anyone.
type connStats struct {
	msgStats                                     // of the connection's closed channels (open ones count in their own)
	channelsOpened, channelsClosed atomic.Uint64 //
	sendOct                        atomic.Uint64 // bytes written by writeLoop (received bytes: deadlineReader.octets)
}

// msgStats are one channel's message counters (and, in connStats, those of a
// connection's closed channels).
type msgStats struct {
	published, publishedConfirm, unroutable, returned, confirmed atomic.Uint64
	consumeAck, consumeNoAck, getAck, getNoAck, getEmpty         atomic.Uint64
	redelivered, acked                                           atomic.Uint64
}

func (st *msgStats) publishedOne(confirm, routed bool) {
	st.published.Add(1)
	if confirm {
		st.publishedConfirm.Add(1)
	}
	if !routed {
		st.unroutable.Add(1)
	}
}

func (st *msgStats) delivered(noAck, get, redelivered bool) {
	switch {
	case get && noAck:
		st.getNoAck.Add(1)
	case get:
		st.getAck.Add(1)
	case noAck:
		st.consumeNoAck.Add(1)
	default:
		st.consumeAck.Add(1)
	}
	if redelivered {
		st.redelivered.Add(1)
	}
}

func (st *msgStats) load() Counters {
	return Counters{
		Published: st.published.Load(), PublishedConfirm: st.publishedConfirm.Load(),
		Unroutable: st.unroutable.Load(), Returned: st.returned.Load(), Confirmed: st.confirmed.Load(),
		DeliveredConsumeAck: st.consumeAck.Load(), DeliveredConsumeNoAck: st.consumeNoAck.Load(),
		DeliveredGetAck: st.getAck.Load(), DeliveredGetNoAck: st.getNoAck.Load(), GetEmpty: st.getEmpty.Load(),
		Redelivered: st.redelivered.Load(), Acked: st.acked.Load(),
	}
}

// fold adds o's counts to st.
func (st *msgStats) fold(o *msgStats) {
	for _, p := range [...][2]*atomic.Uint64{
		{&st.published, &o.published}, {&st.publishedConfirm, &o.publishedConfirm},
		{&st.unroutable, &o.unroutable}, {&st.returned, &o.returned}, {&st.confirmed, &o.confirmed},
		{&st.consumeAck, &o.consumeAck}, {&st.consumeNoAck, &o.consumeNoAck}, {&st.getAck, &o.getAck},
		{&st.getNoAck, &o.getNoAck}, {&st.getEmpty, &o.getEmpty}, {&st.redelivered, &o.redelivered},
		{&st.acked, &o.acked},
	} {
		p[0].Add(p[1].Load())
	}
}

// counters are c's message counters: its closed channels' and its open ones', read
// under inspect.mu, which removeChannel holds while it folds a closing channel's into
// c.stats, so that each channel counts once.
func (c *conn) counters() Counters {
	c.insp.mu.Lock()
	n := c.stats.load()
	for _, ch := range c.insp.mu.channels {
		m := ch.stats.load()
		n.add(&m)
	}
	c.insp.mu.Unlock()
	n.ChannelsOpened, n.ChannelsClosed = c.stats.channelsOpened.Load(), c.stats.channelsClosed.Load()
	return n
}

// retired holds the counters of connections that ended, by vhost.
type retired struct {
	mu     sync.Mutex
	byHost map[string]*Counters
}

// forget removes an ending connection from the server and folds its counters into the
// server's; called once per connection by removeConn. Counters holds retired.mu across
// its sum, so that it sees the connection either open or retired, never both or neither:
// the totals never go down. Lock order: retired.mu → Server.mu → inspect.mu.
func (s *Server) forget(c *conn) {
	s.retired.mu.Lock()
	defer s.retired.mu.Unlock()
	s.mu.Lock()
	delete(s.mu.conns, c)
	s.mu.Unlock()
	info := c.insp.info.Load()
	if info == nil {
		return // never opened: nothing counted
	}
	c.insp.mu.Lock()
	for _, ch := range c.insp.mu.channels { // torn down with the connection
		c.stats.fold(&ch.stats)
	}
	n := c.stats.load()
	n.ChannelsOpened = c.stats.channelsOpened.Load()
	n.ChannelsClosed = c.stats.channelsClosed.Load() + uint64(len(c.insp.mu.channels))
	c.insp.mu.channels = nil
	c.insp.mu.Unlock()
	n.ConnectionsOpened, n.ConnectionsClosed = 1, 1
	if s.retired.byHost == nil {
		s.retired.byHost = map[string]*Counters{}
	}
	t := s.retired.byHost[info.VHost]
	if t == nil {
		t = new(Counters)
		s.retired.byHost[info.VHost] = t
	}
	t.add(&n)
}

// Counters returns the server's counters for vhost, or for all vhosts if vhost is "".
func (s *Server) Counters(vhost string) Counters {
	var total Counters
	s.retired.mu.Lock()
	defer s.retired.mu.Unlock()
	for _, c := range s.openConns() {
		info := c.insp.info.Load()
		if vhost != "" && info.VHost != vhost {
			continue
		}
		n := c.counters()
		n.ConnectionsOpened = 1
		total.add(&n)
	}
	for vh, t := range s.retired.byHost {
		if vhost == "" || vh == vhost {
			total.add(t)
		}
	}
	return total
}
