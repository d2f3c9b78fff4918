package amqp

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/store"
	"github.com/warrenmq/warren/vhost"
)

// BenchmarkPublishDeliver measures the whole broker path in-process over
// loopback TCP: a raw publisher writes pre-encoded basic.publish frames in
// batches, the server decodes, routes and writes basic.deliver frames to a
// raw no-ack consumer, which reads them. One op is one message delivered;
// allocs/op are the broker's (the raw clients allocate nothing per message).
func BenchmarkPublishDeliver(b *testing.B) {
	for _, size := range []int{16, 1024} {
		b.Run(fmt.Sprintf("body=%d", size), func(b *testing.B) {
			_, addr := startServer(b, Config{})
			q := fmt.Sprintf("bench-%d", size)

			cons := dialRaw(b, addr)
			cons.open()
			cons.openChannel(1)
			cons.send(1, &wire.QueueDeclare{Queue: q, AutoDelete: false})
			cons.next()
			cons.send(1, &wire.BasicConsume{Queue: q, ConsumerTag: "c", NoAck: true})
			cons.next()
			cons.nc.SetDeadline(time.Time{})

			pub := dialRaw(b, addr)
			pub.open()
			pub.openChannel(1)
			pub.nc.SetDeadline(time.Time{})

			const batch = 64
			var one []byte
			one = wire.AppendMethodFrame(one, 1, &wire.BasicPublish{RoutingKey: q})
			one = wire.AppendHeaderFrame(one, 1, 60, uint64(size), 0, nil)
			one = wire.AppendBodyFrames(one, 1, make([]byte, size), 131072)
			var frames []byte
			for range batch {
				frames = append(frames, one...)
			}

			done := make(chan error, 1)
			n := b.N
			go func() {
				got := 0
				for got < n {
					f, err := cons.r.Next()
					if err != nil {
						done <- err
						return
					}
					if f.Type == wire.FrameBody || (f.Type == wire.FrameHeader && size == 0) {
						got++
					}
				}
				done <- nil
			}()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for sent := 0; sent < n; sent += batch {
				w := frames
				if n-sent < batch {
					w = frames[:len(one)*(n-sent)]
				}
				if _, err := pub.nc.Write(w); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// startStoredServer runs an in-process server whose broker keeps durable state
// in a store in a temporary folder (fsync before each confirm, as in production).
func startStoredServer(b *testing.B) string {
	b.Helper()
	st, err := store.Open(b.TempDir(), store.Options{Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	core, err := vhost.New(vhost.Config{Logger: zerolog.Nop(), Store: st})
	if err != nil {
		st.Close()
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := NewServer(Config{Broker: core, Logger: zerolog.Nop()})
	go srv.Serve(ln)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		core.Close()
		st.Close()
	})
	return ln.Addr().String()
}

// BenchmarkPersistentConfirm is scenario 3 of issue 6 in process: 1 KiB
// persistent messages to a durable queue from a publisher in confirm mode with
// up to 1000 unconfirmed, and a consumer acking every 100th delivery with
// multiple=true (prefetch 1000). Each confirm follows the store's fsync. One op
// is one message confirmed; allocs/op are the broker's.
func BenchmarkPersistentConfirm(b *testing.B) {
	const (
		size   = 1024
		window = 1000
		batch  = 50 // publishes per write
	)
	addr := startStoredServer(b)
	q := "bench-persistent"

	cons := dialRaw(b, addr)
	cons.open()
	cons.openChannel(1)
	cons.send(1, &wire.QueueDeclare{Queue: q, Durable: true})
	cons.next()
	cons.send(1, &wire.BasicQos{PrefetchCount: 1000})
	cons.next()
	cons.send(1, &wire.BasicConsume{Queue: q, ConsumerTag: "c"})
	cons.next()
	cons.nc.SetDeadline(time.Time{})

	pub := dialRaw(b, addr)
	pub.open()
	pub.openChannel(1)
	pub.send(1, &wire.ConfirmSelect{})
	pub.next()
	pub.nc.SetDeadline(time.Time{})

	var one []byte
	one = wire.AppendMethodFrame(one, 1, &wire.BasicPublish{RoutingKey: q})
	props := wire.Properties{DeliveryMode: 2}
	flags, raw, _ := props.Append(nil)
	one = wire.AppendHeaderFrame(one, 1, 60, size, flags, raw)
	one = wire.AppendBodyFrames(one, 1, make([]byte, size), 131072)
	var frames []byte
	for range batch {
		frames = append(frames, one...)
	}

	n := b.N
	consumed := make(chan error, 1)
	go func() { // the consumer: acks every 100th delivery, and the last
		var acks []byte
		got := 0
		for got < n {
			f, err := cons.r.Next()
			if err != nil {
				consumed <- err
				return
			}
			if f.Type != wire.FrameBody {
				continue
			}
			got++
			if got%100 == 0 || got == n {
				acks = wire.AppendMethodFrame(acks[:0], 1, &wire.BasicAck{DeliveryTag: uint64(got), Multiple: true})
				if _, err := cons.nc.Write(acks); err != nil {
					consumed <- err
					return
				}
			}
		}
		consumed <- nil
	}()
	confirmed := make(chan uint64, 1024) // the confirm reader tells the writer
	go func() {
		var methods wire.Methods
		for {
			f, err := pub.r.Next()
			if err != nil {
				close(confirmed)
				return
			}
			if f.Type != wire.FrameMethod {
				continue
			}
			m, err := methods.Decode(f.Payload)
			if err != nil {
				close(confirmed)
				return
			}
			if ack, ok := m.(*wire.BasicAck); ok {
				confirmed <- ack.DeliveryTag
				if ack.DeliveryTag >= uint64(n) {
					close(confirmed)
					return
				}
			}
		}
	}()

	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	var acked uint64
	for sent := 0; sent < n; {
		for uint64(sent)-acked+batch > window {
			tag, ok := <-confirmed
			if !ok {
				b.Fatal("publisher connection ended")
			}
			acked = tag
		}
		k := min(batch, n-sent)
		if _, err := pub.nc.Write(frames[:len(one)*k]); err != nil {
			b.Fatal(err)
		}
		sent += k
	}
	for acked < uint64(n) {
		tag, ok := <-confirmed
		if !ok {
			b.Fatal("publisher connection ended before the last confirm")
		}
		acked = tag
	}
	if err := <-consumed; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
