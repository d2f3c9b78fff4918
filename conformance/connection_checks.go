package conformance

import (
	"fmt"
	"net/url"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// rabbitCapabilities are the capabilities RabbitMQ 3.10 advertises in connection.start, all true
// (rabbit_reader.erl server_capabilities/1).
var rabbitCapabilities = []string{"publisher_confirms", "exchange_exchange_bindings", "basic.nack",
	"consumer_cancel_notify", "connection.blocked", "consumer_priorities", "authentication_failure_close",
	"per_consumer_qos", "direct_reply_to"}

// capabilityChecks: one check per capability, so that a report names each one a broker lacks.
func capabilityChecks() []Check {
	var checks []Check
	for _, name := range rabbitCapabilities {
		checks = append(checks, Check{
			Name: "connection.start/capability-" + name,
			Rule: "RabbitMQ rabbit_reader.erl server_capabilities/1; docs/extensions.md (server-properties capabilities table)",
			Run: func(e *Env) error {
				c := e.Dial()
				caps, ok := c.Properties["capabilities"].(amqp.Table)
				if !ok {
					return fmt.Errorf("server-properties capabilities: got %#v, want a table", c.Properties["capabilities"])
				}
				if caps[name] != true {
					return fmt.Errorf("capability %s: got %#v, want true", name, caps[name])
				}
				return nil
			},
		})
	}
	return checks
}

var connectionChecks = concat(connectionBasics, capabilityChecks())

var connectionBasics = []Check{
	{
		Name: "connection/open-close",
		Rule: "AMQP 0-9-1 §2.2.4 (connection lifecycle); connection.close: a peer receiving Close MUST reply Close-Ok",
		Run: func(e *Env) error {
			c := e.Dial()
			e.WantOK(c.Close(), "connection.close")
			select {
			case ae, ok := <-c.closes:
				if ok && ae != nil {
					return fmt.Errorf("after a client connection.close: got close notification %s, want a graceful close", describe(ae))
				}
			case <-e.within(closeWait):
				return fmt.Errorf("connection not closed %v after connection.close-ok", closeWait)
			}
			return nil
		},
	},
	{
		Name: "channel.open/hundred-channels",
		Rule: "AMQP 0-9-1 §2.2.5 (many channels per connection); issue 2: open 100 channels, close them",
		Run: func(e *Env) error {
			c := e.Dial()
			chs := make([]*Chan, 0, 100)
			for i := range 100 {
				ch, err := c.OpenErr()
				if err != nil {
					return fmt.Errorf("channel.open #%d: %s", i+1, describe(err))
				}
				chs = append(chs, ch)
			}
			for i, ch := range chs {
				if err := ch.Close(); err != nil {
					return fmt.Errorf("channel.close #%d: %s", i+1, describe(err))
				}
			}
			e.WantConnAlive(c, "after 100 channels")
			e.WantOK(c.Close(), "connection.close")
			return nil
		},
	},
	{
		Name: "connection.tune/rabbitmq-defaults",
		Rule: "AMQP 0-9-1 connection.tune; RabbitMQ defaults channel_max 2047, frame_max 131072, heartbeat 60 (docs/configure.md)",
		Run: func(e *Env) error {
			// Ask for more than any server offers, so that the negotiated value (the lower) is the server's.
			cfg := e.Config()
			cfg.ChannelMax, cfg.FrameSize, cfg.Heartbeat = 65535, 1<<30, time.Hour
			c, err := e.DialConfig(cfg)
			e.Must(err, "dial")
			got := c.Config
			if got.ChannelMax != 2047 || got.FrameSize != 131072 || got.Heartbeat != 60*time.Second {
				return fmt.Errorf("tune: got channel-max %d, frame-max %d, heartbeat %v; want 2047, 131072, 1m0s",
					got.ChannelMax, got.FrameSize, got.Heartbeat)
			}
			return nil
		},
	},
	{
		Name: "connection.tune/heartbeat-lower-wins-and-is-sent",
		Rule: "AMQP 0-9-1 connection.tune-ok heartbeat; RabbitMQ docs/heartbeats.md (the lower value wins; frames every timeout/2)",
		Run: func(e *Env) error {
			cfg := e.Config()
			cfg.Heartbeat = time.Second
			c, err := e.DialConfig(cfg)
			e.Must(err, "dial")
			if c.Config.Heartbeat != time.Second {
				return fmt.Errorf("negotiated heartbeat %v, want 1s (the client's, lower than the server's)", c.Config.Heartbeat)
			}
			// The client closes the connection when nothing arrives for 3 × heartbeat/2 = 1.5 s; an idle
			// connection survives 2.5 s only if the broker sends heartbeats.
			select {
			case ae := <-c.closes:
				return fmt.Errorf("idle connection with heartbeat 1s closed: %s; want the broker to send heartbeats", describe(ae))
			case <-e.within(2500 * time.Millisecond):
			}
			e.WantConnAlive(c, "after 2.5 s idle with heartbeat 1 s")
			return nil
		},
	},
	{
		Name: "connection.start/server-properties-product",
		Rule: "AMQP 0-9-1 connection.start server-properties; RabbitMQ rabbit_reader.erl: product \"RabbitMQ\" and a version (clients switch on them)",
		Run: func(e *Env) error {
			c := e.Dial()
			p := c.Properties
			if p["product"] != "RabbitMQ" {
				return fmt.Errorf("server-properties product: got %#v, want \"RabbitMQ\"", p["product"])
			}
			if v, _ := p["version"].(string); v == "" {
				return fmt.Errorf("server-properties version: got %#v, want a non-empty string", p["version"])
			}
			return nil
		},
	},
	{
		Name: "connection.start-ok/wrong-credentials-403",
		Rule: "AMQP 0-9-1 connection.start-ok (ACCESS_REFUSED); RabbitMQ docs/access-control.md",
		Run: func(e *Env) error {
			u, err := url.Parse(e.URL)
			e.Must(err, "parse URL")
			u.User = url.UserPassword(e.uri.Username, "wrong-"+e.uri.Password)
			c, err := e.DialURLConfig(u.String(), e.Config())
			if err == nil {
				_ = c.Close()
				return fmt.Errorf("dial with a wrong password succeeded, want 403 ACCESS_REFUSED")
			}
			// amqp091-go does not ask for authentication_failure_close, so RabbitMQ just closes the
			// socket and the client reports ErrCredentials (403).
			if !matchAnyError(err, amqp.AccessRefused) {
				return fmt.Errorf("dial with a wrong password: got %s, want 403 ACCESS_REFUSED", describe(err))
			}
			return nil
		},
	},
	{
		Name: "connection.start-ok/authentication-failure-close-403",
		Rule: "RabbitMQ docs/auth-notification.md: a client with capability authentication_failure_close gets connection.close 403",
		Run: func(e *Env) error {
			r := e.rawDial()
			r.write([]byte("AMQP\x00\x00\x09\x01"))
			r.expect(0, mConnStart, "connection.start")
			r.startOk(e.uri.Username, "wrong-"+e.uri.Password, map[string]any{"authentication_failure_close": true})
			r.expectConnClose(amqp.AccessRefused, "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.",
				"start-ok with a wrong password")
			return nil
		},
	},
	{
		Name: "connection.open/unknown-vhost-530",
		Rule: "AMQP 0-9-1 connection.open (NOT_ALLOWED); RabbitMQ rabbit_reader.erl",
		Run: func(e *Env) error {
			u, err := url.Parse(e.URL)
			e.Must(err, "parse URL")
			vhost := e.Name("vhost")
			u.Path, u.RawPath = "/"+vhost, ""
			c, err := e.DialURLConfig(u.String(), e.Config())
			if err == nil {
				_ = c.Close()
				return fmt.Errorf("connection.open of vhost %q succeeded, want 530 NOT_ALLOWED", vhost)
			}
			want := fmt.Sprintf("NOT_ALLOWED - vhost %s not found", vhost)
			if !matchError(err, amqp.NotAllowed, want) {
				return fmt.Errorf("connection.open of a missing vhost: got %s, want %s", describe(err), wantDesc("connection exception", amqp.NotAllowed, want))
			}
			return nil
		},
	},
	{
		Name: "protocol-header/wrong-header-answered-with-0-9-1",
		Rule: "AMQP 0-9-1 §4.2.2: a server that rejects the protocol header writes a valid one and closes the socket",
		Run: func(e *Env) error {
			r := e.rawDial()
			r.write([]byte("AMQP\x00\x00\x0a\x00")) // AMQP 0-10
			var got [8]byte
			_ = r.nc.SetReadDeadline(time.Now().Add(closeWait))
			if _, err := r.br.Read(got[:]); err != nil {
				return fmt.Errorf("after a wrong protocol header: %v, want \"AMQP\\x00\\x00\\x09\\x01\"", err)
			}
			if string(got[:]) != "AMQP\x00\x00\x09\x01" {
				return fmt.Errorf("after a wrong protocol header: got %q, want \"AMQP\\x00\\x00\\x09\\x01\"", got[:])
			}
			r.expectEOF("after the protocol header reply")
			return nil
		},
	},
}

// matchAnyError is matchError for errors the client library may have made up itself (Server false).
func matchAnyError(err error, code int) bool {
	ae, ok := err.(*amqp.Error)
	return ok && ae.Code == code
}
