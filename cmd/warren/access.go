package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/warrenmq/warren/amqp"
)

// accessFlags are the flags of issue 7: the amqps listener, node-wide limits and
// loopback_users. Per-vhost and per-user limits are set with 'warren vhosts set-limits'
// and 'warren users set-limits' (admin.go).
func accessFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "tls-listen", EnvVars: []string{"WARREN_TLS_LISTEN"},
			Usage: "address to serve AMQP over TLS (amqps) on, e.g. :5671; off when empty"},
		&cli.StringFlag{Name: "tls-cert", EnvVars: []string{"WARREN_TLS_CERT"}, Usage: "PEM certificate (chain) of the amqps listener"},
		&cli.StringFlag{Name: "tls-key", EnvVars: []string{"WARREN_TLS_KEY"}, Usage: "PEM private key of --tls-cert"},
		&cli.StringFlag{Name: "tls-ca", EnvVars: []string{"WARREN_TLS_CA"},
			Usage: "PEM CA certificates: client certificates are verified against them (RabbitMQ's verify_peer)"},
		&cli.BoolFlag{Name: "tls-require-client-cert", EnvVars: []string{"WARREN_TLS_REQUIRE_CLIENT_CERT"},
			Usage: "refuse TLS clients without a certificate (RabbitMQ's fail_if_no_peer_cert); needs --tls-ca"},
		&cli.BoolFlag{Name: "tls-external", EnvVars: []string{"WARREN_TLS_EXTERNAL"},
			Usage: "offer the EXTERNAL mechanism on amqps: a verified client certificate's CN names the user (rabbitmq_auth_mechanism_ssl)"},
		&cli.StringFlag{Name: "loopback-users", Value: "guest", EnvVars: []string{"WARREN_LOOPBACK_USERS"},
			Usage: "comma-separated users who may connect from loopback addresses only (RabbitMQ's loopback_users); \"none\" for nobody"},
		&cli.IntFlag{Name: "max-connections", EnvVars: []string{"WARREN_MAX_CONNECTIONS"},
			Usage: "refuse connections beyond this many (RabbitMQ's connection_max); 0: no limit"},
		&cli.UintFlag{Name: "channel-max", Value: amqp.DefaultChannelMax, EnvVars: []string{"WARREN_CHANNEL_MAX"},
			Usage: "channels per connection offered in connection.tune (1-65535)"},
		&cli.StringFlag{Name: "frame-max", Value: fmt.Sprint(amqp.DefaultFrameMax), EnvVars: []string{"WARREN_FRAME_MAX"},
			Usage: "largest frame offered in connection.tune (4096 to 4GiB-1; e.g. 128KiB)"},
		&cli.StringFlag{Name: "max-message-size", Value: "128MiB", EnvVars: []string{"WARREN_MAX_MESSAGE_SIZE"},
			Usage: "largest message body accepted (RabbitMQ's max_message_size; at most 512MiB)"},
	}
}

// loopbackUsers parses --loopback-users.
func loopbackUsers(cx *cli.Context) []string {
	s := strings.TrimSpace(cx.String("loopback-users"))
	if s == "none" || s == "" {
		return []string{}
	}
	var users []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			users = append(users, u)
		}
	}
	return users
}

// applyLimits copies the node-wide limits into the server's configuration.
func applyLimits(cx *cli.Context, c *amqp.Config) error {
	if n := cx.Int("max-connections"); n < 0 {
		return fmt.Errorf("invalid --max-connections %d: want 0 (no limit) or more", n)
	} else {
		c.MaxConnections = n
	}
	if n := cx.Uint("channel-max"); n < 1 || n > 65535 {
		return fmt.Errorf("invalid --channel-max %d: want 1 to 65535", n)
	} else {
		c.ChannelMax = uint16(n)
	}
	fm, err := parseSize(cx.String("frame-max"))
	if err != nil || fm < 4096 || fm > 1<<32-1 {
		return fmt.Errorf("invalid --frame-max %q: want 4096 to 4GiB-1", cx.String("frame-max"))
	}
	c.FrameMax = uint32(fm)
	// RabbitMQ caps max_message_size at 512 MiB (?MAX_MSG_SIZE).
	ms, err := parseSize(cx.String("max-message-size"))
	if err != nil || ms < 1 || ms > 512<<20 {
		return fmt.Errorf("invalid --max-message-size %q: want 1 byte to 512MiB", cx.String("max-message-size"))
	}
	c.MaxMessageSize = int(ms)
	c.ExternalAuth = cx.Bool("tls-external")
	return nil
}

// serveTLS starts the amqps listener when --tls-listen is set; its Serve result goes to
// served like the plain listener's.
func serveTLS(cx *cli.Context, log zerolog.Logger, srv *amqp.Server, served chan<- error) error {
	addr := cx.String("tls-listen")
	if addr == "" {
		for _, f := range []string{"tls-cert", "tls-key", "tls-ca"} {
			if cx.String(f) != "" {
				return fmt.Errorf("--%s is set but --tls-listen is not: no amqps listener to use it", f)
			}
		}
		return nil
	}
	opts := amqp.TLSOptions{
		CertFile: cx.String("tls-cert"), KeyFile: cx.String("tls-key"), CAFile: cx.String("tls-ca"),
		RequireClientCert: cx.Bool("tls-require-client-cert"),
	}
	cfg, err := opts.TLSConfig()
	if err != nil {
		return fmt.Errorf("cannot serve amqps: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	go func() { served <- srv.Serve(tls.NewListener(ln, cfg)) }()
	log.Info().Str("listen", ln.Addr().String()).Bool("client_certs", opts.CAFile != "").
		Bool("external", cx.Bool("tls-external")).Msg("serving amqps")
	return nil
}
