package amqp

import (
	"fmt"
	"testing"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
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
