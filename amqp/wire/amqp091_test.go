package wire_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/warrenmq/warren/amqp/wire"
)

// fakeBroker speaks just enough AMQP, with this package's codec, for amqp091-go to
// connect, declare, publish, consume and close. It records what the client sent.
type fakeBroker struct {
	ln     net.Listener
	frames [][]byte      // every frame the client sent, raw (for fuzz seeds)
	got    []wire.Method // every method the client sent, decoded with DecodeMethod
	props  wire.Properties
	header wire.ContentHeader
	body   []byte
	done   chan error
}

func startFakeBroker(t *testing.T) *fakeBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBroker{ln: ln, done: make(chan error, 1)}
	go func() { b.done <- b.serve() }()
	t.Cleanup(func() { ln.Close() })
	return b
}

// recordingReader keeps a copy of every byte read.
type recordingReader struct {
	r   io.Reader
	buf bytes.Buffer
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf.Write(p[:n])
	return n, err
}

func (b *fakeBroker) serve() error {
	nc, err := b.ln.Accept()
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	proto := make([]byte, 8)
	if _, err := io.ReadFull(nc, proto); err != nil || string(proto) != "AMQP\x00\x00\x09\x01" {
		return fmt.Errorf("protocol header %q: %v", proto, err)
	}
	send := func(channel uint16, m wire.Method) error {
		_, err := nc.Write(wire.AppendMethodFrame(nil, channel, m))
		return err
	}
	err = send(0, &wire.ConnectionStart{
		VersionMajor: 0, VersionMinor: 9,
		ServerProperties: wire.Table{
			"product": "RabbitMQ", "version": "4.1.0",
			"capabilities": wire.Table{"publisher_confirms": true, "basic.nack": true, "consumer_cancel_notify": true},
		},
		Mechanisms: "PLAIN AMQPLAIN", Locales: "en_US",
	})
	if err != nil {
		return err
	}
	rec := &recordingReader{r: nc}
	r := wire.NewFrameReader(rec, wire.FrameMinSize)
	var ms wire.Methods
	var consumerTag string
	// deliver sends a whole published message back with its raw properties, as the
	// broker does, split at a small frame-max to exercise several body frames.
	deliver := func() error {
		if consumerTag == "" || b.header.BodySize == 0 || uint64(len(b.body)) != b.header.BodySize {
			return nil
		}
		var out []byte
		out = wire.AppendMethodFrame(out, 1, &wire.BasicDeliver{ConsumerTag: consumerTag, DeliveryTag: 1, Exchange: "ex", RoutingKey: "rk"})
		out = wire.AppendHeaderFrame(out, 1, wire.ClassBasic, b.header.BodySize, b.header.Flags, b.header.Props)
		out = wire.AppendBodyFrames(out, 1, b.body, 4096)
		b.header.BodySize = 0
		_, err := nc.Write(out)
		return err
	}
	for {
		start := rec.buf.Len() - r.Buffered()
		f, err := r.Next()
		if err != nil {
			return fmt.Errorf("reading: %w", err)
		}
		end := rec.buf.Len() - r.Buffered()
		b.frames = append(b.frames, bytes.Clone(rec.buf.Bytes()[start:end]))
		switch f.Type {
		case wire.FrameHeader:
			if b.header, err = wire.ParseContentHeader(f.Payload); err != nil {
				return err
			}
			b.header.Props = bytes.Clone(b.header.Props) // a view: keep a copy
			if err := b.props.Decode(b.header.Flags, b.header.Props); err != nil {
				return err
			}
			continue
		case wire.FrameBody:
			b.body = append(b.body, f.Payload...)
			if err := deliver(); err != nil {
				return err
			}
			continue
		case wire.FrameHeartbeat:
			continue
		}
		m, err := ms.Decode(f.Payload)
		if err != nil {
			return err
		}
		kept, err := wire.DecodeMethod(f.Payload)
		if err != nil || !reflect.DeepEqual(kept, m) {
			return fmt.Errorf("DecodeMethod and Methods.Decode differ: %#v, %#v, %v", kept, m, err)
		}
		b.got = append(b.got, kept)
		switch m := m.(type) {
		case *wire.ConnectionStartOk:
			err = send(0, &wire.ConnectionTune{ChannelMax: 2047, FrameMax: 131072, Heartbeat: 60})
		case *wire.ConnectionTuneOk:
			r.SetFrameMax(m.FrameMax)
		case *wire.ConnectionOpen:
			err = send(0, &wire.ConnectionOpenOk{})
		case *wire.ChannelOpen:
			err = send(f.Channel, &wire.ChannelOpenOk{})
		case *wire.ExchangeDeclare:
			err = send(f.Channel, &wire.ExchangeDeclareOk{})
		case *wire.ConfirmSelect:
			err = send(f.Channel, &wire.ConfirmSelectOk{})
		case *wire.BasicConsume:
			consumerTag = m.ConsumerTag
			err = send(f.Channel, &wire.BasicConsumeOk{ConsumerTag: m.ConsumerTag})
		case *wire.BasicAck: // the consumer acked the delivery: send the confirm of the publish
			err = send(f.Channel, &wire.BasicAck{DeliveryTag: 1})
		case *wire.BasicCancel:
			err = send(f.Channel, &wire.BasicCancelOk{ConsumerTag: m.ConsumerTag})
		case *wire.ChannelClose:
			err = send(f.Channel, &wire.ChannelCloseOk{})
		case *wire.ConnectionClose:
			return send(0, &wire.ConnectionCloseOk{})
		}
		if err != nil {
			return err
		}
	}
}

func TestAmqp091ClientTalksToThisCodec(t *testing.T) {
	b := startFakeBroker(t)
	ts := time.Unix(1700000000, 0).UTC()
	args := amqp091.Table{
		"bool": true, "int8": int8(-8), "uint8": uint8(8), "int16": int16(-16), "uint16": uint16(16),
		"int32": int32(-32), "uint32": uint32(32), "int64": int64(-64), "float32": float32(1.5), "float64": 2.5,
		"decimal": amqp091.Decimal{Scale: 2, Value: 314}, "string": "s", "bytes": []byte{1, 2}, "time": ts,
		"void": nil, "table": amqp091.Table{"nested": "yes"}, "array": []any{"a", int32(1), amqp091.Table{}},
	}
	wantArgs := wire.Table{
		"bool": true, "int8": int8(-8), "uint8": uint8(8), "int16": int16(-16), "uint16": uint16(16),
		"int32": int32(-32), "uint32": uint32(32), "int64": int64(-64), "float32": float32(1.5), "float64": 2.5,
		"decimal": wire.Decimal{Scale: 2, Value: 314}, "string": "s", "bytes": []byte{1, 2}, "time": ts,
		"void": nil, "table": wire.Table{"nested": "yes"}, "array": []any{"a", int32(1), wire.Table{}},
	}

	conn, err := amqp091.DialConfig("amqp://guest:guest@"+b.ln.Addr().String()+"/", amqp091.Config{
		Properties: amqp091.Table{"connection_name": "wire-test"},
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if got := conn.Properties["product"]; got != "RabbitMQ" {
		t.Fatalf("the client read server-properties product %v", got)
	}
	if caps, _ := conn.Properties["capabilities"].(amqp091.Table); caps["basic.nack"] != true {
		t.Fatalf("the client read capabilities %v", conn.Properties["capabilities"])
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare("ex", "topic", true, false, false, false, args); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume("q", "ctag-1", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("0123456789abcdef"), 20_000) // 320 kB: several frames at frame-max 131072
	pub := amqp091.Publishing{
		Headers: amqp091.Table{"h": "v", "n": int32(1)}, ContentType: "text/plain", ContentEncoding: "identity",
		DeliveryMode: 2, Priority: 7, CorrelationId: "corr", ReplyTo: "reply", Expiration: "60000",
		MessageId: "m1", Timestamp: ts, Type: "t", UserId: "guest", AppId: "app", Body: body,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conf, err := ch.PublishWithDeferredConfirmWithContext(ctx, "ex", "rk", true, false, pub)
	if err != nil {
		t.Fatal(err)
	}
	var d amqp091.Delivery
	select {
	case d = <-deliveries:
	case err := <-b.done:
		t.Fatalf("fake broker: %v", err)
	case <-ctx.Done():
		t.Fatal("no delivery")
	}
	if !bytes.Equal(d.Body, body) || d.ContentType != "text/plain" || d.DeliveryMode != 2 || d.Priority != 7 ||
		d.CorrelationId != "corr" || d.ReplyTo != "reply" || d.Expiration != "60000" || d.MessageId != "m1" ||
		!d.Timestamp.Equal(ts) || d.Type != "t" || d.UserId != "guest" || d.AppId != "app" || d.ContentEncoding != "identity" ||
		d.Headers["h"] != "v" || d.Headers["n"] != int32(1) || d.ConsumerTag != "ctag-1" || d.RoutingKey != "rk" {
		t.Fatalf("the client decoded the delivery as %+v", d)
	}
	if err := d.Ack(false); err != nil {
		t.Fatal(err)
	}
	if ok, err := conf.WaitContext(ctx); err != nil || !ok {
		t.Fatalf("confirm: %v %v", ok, err)
	}
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-b.done:
		if err != nil {
			t.Fatalf("fake broker: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fake broker did not finish")
	}

	// What the client sent, decoded by this package.
	find := func(name string) wire.Method {
		for _, m := range b.got {
			if m.Name() == name {
				return m
			}
		}
		t.Fatalf("the client sent no %s", name)
		return nil
	}
	so := find("connection.start-ok").(*wire.ConnectionStartOk)
	if so.Mechanism != "PLAIN" || so.Response != "\x00guest\x00guest" || so.Locale != "en_US" ||
		so.ClientProperties["connection_name"] != "wire-test" {
		t.Fatalf("start-ok: %+v", so)
	}
	if caps, _ := so.ClientProperties["capabilities"].(wire.Table); caps["basic.nack"] != true || caps["publisher_confirms"] != true {
		t.Fatalf("client capabilities: %#v", so.ClientProperties["capabilities"])
	}
	if open := find("connection.open").(*wire.ConnectionOpen); open.VirtualHost != "/" {
		t.Fatalf("open: %+v", open)
	}
	ed := find("exchange.declare").(*wire.ExchangeDeclare)
	if ed.Exchange != "ex" || ed.Type != "topic" || !ed.Durable || ed.AutoDelete || ed.NoWait || !reflect.DeepEqual(ed.Arguments, wantArgs) {
		t.Fatalf("exchange.declare: %#v\nwant arguments %#v", ed, wantArgs)
	}
	if p := find("basic.publish").(*wire.BasicPublish); p.Exchange != "ex" || p.RoutingKey != "rk" || !p.Mandatory || p.Immediate {
		t.Fatalf("publish: %+v", p)
	}
	if c := find("basic.consume").(*wire.BasicConsume); c.Queue != "q" || c.ConsumerTag != "ctag-1" || c.NoAck {
		t.Fatalf("consume: %+v", c)
	}
	if a := find("basic.ack").(*wire.BasicAck); a.DeliveryTag != 1 || a.Multiple {
		t.Fatalf("ack: %+v", a)
	}
	wantProps := wire.Properties{
		Flags: b.header.Flags, ContentType: "text/plain", ContentEncoding: "identity", Headers: wire.Table{"h": "v", "n": int32(1)},
		DeliveryMode: 2, Priority: 7, CorrelationID: "corr", ReplyTo: "reply", Expiration: "60000", MessageID: "m1",
		Timestamp: ts, Type: "t", UserID: "guest", AppID: "app",
	}
	if !reflect.DeepEqual(b.props, wantProps) || !bytes.Equal(b.body, body) {
		t.Fatalf("content: %+v\nwant %+v", b.props, wantProps)
	}
	if cc := find("connection.close").(*wire.ConnectionClose); cc.ReplyCode != wire.ReplySuccess {
		t.Fatalf("close: %+v", cc)
	}
	if *updateSeeds {
		writeSeeds(t, b.frames)
	}
}

func TestAmqp091ClientSeesExceptions(t *testing.T) {
	// A connection.close sent with Exception.ConnectionClose reaches the client as its
	// *amqp091.Error with code, text and the failing method.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		io.ReadFull(nc, make([]byte, 8))
		r := wire.NewFrameReader(nc, 0)
		nc.Write(wire.AppendMethodFrame(nil, 0, &wire.ConnectionStart{VersionMinor: 9, Mechanisms: "PLAIN", Locales: "en_US"}))
		for {
			f, err := r.Next()
			if err != nil {
				done <- err
				return
			}
			m, err := wire.DecodeMethod(f.Payload)
			if err != nil {
				done <- err
				return
			}
			switch m.(type) {
			case *wire.ConnectionStartOk:
				nc.Write(wire.AppendMethodFrame(nil, 0, &wire.ConnectionTune{ChannelMax: 10, FrameMax: 131072}))
			case *wire.ConnectionOpen:
				ex := wire.Hard(wire.NotAllowed, "vhost '%s' not found", "/")
				ex.ClassID, ex.MethodID = wire.ClassConnection, wire.MethodConnectionOpen
				nc.Write(wire.AppendMethodFrame(nil, 0, ex.ConnectionClose()))
			case *wire.ConnectionCloseOk:
				done <- nil
				return
			}
		}
	}()
	_, err = amqp091.Dial("amqp://guest:guest@" + ln.Addr().String() + "/")
	var ae *amqp091.Error
	if !errors.As(err, &ae) || ae.Code != 530 || ae.Reason != "NOT_ALLOWED - vhost '/' not found" {
		t.Fatalf("dial: got %#v (%v), want a 530", ae, err)
	}
	if err := <-done; err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("server: %v", err)
	}
}
