package perf

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/warrenmq/warren/conformance/warrentest"
)

// benchURL is AMQP_URL, or an in-process warren. Against an external broker the
// cpu-µs/msg figure is the client's own cost; in process it includes the broker's.
func benchURL(b *testing.B) string {
	if url := os.Getenv("AMQP_URL"); url != "" {
		return url
	}
	return warrentest.Start(b)
}

// BenchmarkPair pushes b.N 16-byte messages from one producer through one queue to
// one consumer (manual acks one by one, prefetch 1000) with this tool's lean client
// and with amqp091-go, each on its own two connections: the tool's own cost next to
// the client the issue says caps near 170k msg/s on 2 cores.
//
//	go test -run '^$' -bench Pair -benchtime 2000000x ./cmd/warren/perf
//	AMQP_URL=amqp://guest:guest@127.0.0.1:5792/ go test -run '^$' -bench Pair ./cmd/warren/perf
func BenchmarkPair(b *testing.B) {
	url := benchURL(b)
	b.Run("lean", func(b *testing.B) {
		cfg := DefaultConfig()
		cfg.URL, cfg.Duration, cfg.Count = url, 0, int64(b.N)
		cpu0 := selfCPU()
		s, err := Run(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		if s.Delivered != int64(b.N) {
			b.Fatalf("delivered %d of %d", s.Delivered, b.N)
		}
		b.ReportMetric(s.DeliverRate, "msgs/s")
		b.ReportMetric(float64(selfCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/msg")
	})
	b.Run("amqp091-go", func(b *testing.B) {
		cpu0 := selfCPU()
		start := time.Now()
		pairAMQP091(b, url, b.N)
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		b.ReportMetric(float64(selfCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/msg")
	})
}

// pairAMQP091 is the same load through amqp091-go: Publish per message, a consumer
// ranging over its delivery channel and acking each delivery.
func pairAMQP091(b *testing.B, url string, n int) {
	pconn, err := amqp091.Dial(url)
	if err != nil {
		b.Fatal(err)
	}
	defer pconn.Close()
	cconn, err := amqp091.Dial(url)
	if err != nil {
		b.Fatal(err)
	}
	defer cconn.Close()
	pch, err := pconn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	cch, err := cconn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	q := fmt.Sprintf("perf-amqp091-%d", time.Now().UnixNano())
	if _, err := pch.QueueDeclare(q, false, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	defer pch.QueueDelete(q, false, false, false)
	if err := cch.Qos(1000, 0, false); err != nil {
		b.Fatal(err)
	}
	deliveries, err := cch.Consume(q, "", false, false, false, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		got := 0
		for d := range deliveries {
			d.Ack(false)
			if got++; got == n {
				break
			}
		}
		done <- got
	}()
	body := make([]byte, 16)
	ctx := context.Background()
	for range n {
		binary.BigEndian.PutUint64(body, uint64(time.Now().UnixNano()))
		if err := pch.PublishWithContext(ctx, "", q, false, false, amqp091.Publishing{Body: body}); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case got := <-done:
		if got != n {
			b.Fatalf("delivered %d of %d", got, n)
		}
	case <-time.After(time.Minute):
		b.Fatal("deliveries stopped")
	}
}
