package amqp

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/vhost"
)

// startServer runs an in-process server on a loopback port, stopped by
// t.Cleanup.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	core, err := vhost.New(vhost.Config{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Broker = core
	if cfg.Logger.GetLevel() == zerolog.TraceLevel {
		cfg.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	}
	srv := NewServer(cfg)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		core.Close()
	})
	return srv, ln.Addr().String()
}

// rawClient speaks AMQP frame by frame, for tests of what well-behaved
// clients never send.
type rawClient struct {
	t  testing.TB
	nc net.Conn
	r  *wire.FrameReader
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(15 * time.Second))
	return &rawClient{t: t, nc: nc, r: wire.NewFrameReader(nc, 1<<20)}
}

func (rc *rawClient) write(b []byte) {
	rc.t.Helper()
	if _, err := rc.nc.Write(b); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

func (rc *rawClient) send(ch uint16, m wire.Method) {
	rc.t.Helper()
	rc.write(wire.AppendMethodFrame(nil, ch, m))
}

// next returns the next method, skipping heartbeats.
func (rc *rawClient) next() wire.Method {
	rc.t.Helper()
	for {
		f, err := rc.r.Next()
		if err != nil {
			rc.t.Fatalf("read: %v", err)
		}
		if f.Type == wire.FrameHeartbeat {
			continue
		}
		if f.Type != wire.FrameMethod {
			rc.t.Fatalf("got frame type %d, want a method", f.Type)
		}
		m, err := wire.DecodeMethod(f.Payload)
		if err != nil {
			rc.t.Fatalf("decode: %v", err)
		}
		return m
	}
}

// handshake opens the connection as guest on "/" with the given tune-ok and
// client capabilities.
func (rc *rawClient) handshake(tune wire.ConnectionTuneOk, caps wire.Table) {
	rc.t.Helper()
	rc.write(protocolHeader[:])
	if _, ok := rc.next().(*wire.ConnectionStart); !ok {
		rc.t.Fatal("want connection.start")
	}
	rc.send(0, &wire.ConnectionStartOk{
		ClientProperties: wire.Table{"product": "rawclient", "capabilities": caps},
		Mechanism:        "PLAIN",
		Response:         "\x00guest\x00guest",
		Locale:           "en_US",
	})
	if _, ok := rc.next().(*wire.ConnectionTune); !ok {
		rc.t.Fatal("want connection.tune")
	}
	rc.send(0, &tune)
	rc.send(0, &wire.ConnectionOpen{VirtualHost: "/"})
	if m, ok := rc.next().(*wire.ConnectionOpenOk); !ok {
		rc.t.Fatalf("want connection.open-ok, got %#v", m)
	}
}

func (rc *rawClient) open() {
	rc.t.Helper()
	rc.handshake(wire.ConnectionTuneOk{ChannelMax: 2047, FrameMax: 131072, Heartbeat: 0}, wire.Table{"authentication_failure_close": true})
}

func (rc *rawClient) openChannel(id uint16) {
	rc.t.Helper()
	rc.send(id, &wire.ChannelOpen{})
	if _, ok := rc.next().(*wire.ChannelOpenOk); !ok {
		rc.t.Fatal("want channel.open-ok")
	}
}

// expectConnClose reads until connection.close, checks its code, answers
// close-ok and checks that the server then closes the socket.
func (rc *rawClient) expectConnClose(code uint16) *wire.ConnectionClose {
	rc.t.Helper()
	for {
		m := rc.next()
		cl, ok := m.(*wire.ConnectionClose)
		if !ok {
			rc.t.Logf("skipping %s %+v", m.Name(), m)
			continue
		}
		if cl.ReplyCode != code {
			rc.t.Fatalf("connection.close code %d (%s), want %d", cl.ReplyCode, cl.ReplyText, code)
		}
		rc.send(0, &wire.ConnectionCloseOk{})
		rc.expectEOF()
		return cl
	}
}

func (rc *rawClient) expectChannelClose(ch uint16, code uint16) *wire.ChannelClose {
	rc.t.Helper()
	for {
		m := rc.next()
		cl, ok := m.(*wire.ChannelClose)
		if !ok {
			continue
		}
		if cl.ReplyCode != code {
			rc.t.Fatalf("channel.close code %d (%s), want %d", cl.ReplyCode, cl.ReplyText, code)
		}
		rc.send(ch, &wire.ChannelCloseOk{})
		return cl
	}
}

// expectEOF checks the server closes the socket (within the deadline).
func (rc *rawClient) expectEOF() {
	rc.t.Helper()
	var buf [512]byte
	for {
		_, err := rc.nc.Read(buf[:])
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || isClosedErr(err) {
			return
		}
		rc.t.Fatalf("want the server to close the socket, got %v", err)
	}
}

// frame builds a raw frame.
func frame(typ uint8, ch uint16, payload []byte) []byte {
	b := []byte{typ, byte(ch >> 8), byte(ch)}
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	b = append(b, payload...)
	return append(b, wire.FrameEnd)
}

// methodPayload encodes m without the frame around it.
func methodPayload(m wire.Method) []byte { return m.Append(nil) }
