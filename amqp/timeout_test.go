package amqp_test

import (
	"fmt"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/warrenmq/warren/amqp"
	"github.com/warrenmq/warren/conformance/warrentest"
)

func timeoutText(ch int, ms int) string {
	return fmt.Sprintf("PRECONDITION_FAILED - delivery acknowledgement on channel %d timed out. Timeout value used: %d ms. "+
		"This timeout value can be configured, see consumers doc guide to learn more", ch, ms)
}

// waitClose waits for the server to close ch and returns the error.
func waitClose(t *testing.T, closes chan *amqp091.Error, within time.Duration) *amqp091.Error {
	t.Helper()
	select {
	case err := <-closes:
		if err == nil {
			t.Fatal("channel closed without an error")
		}
		return err
	case <-time.After(within):
		t.Fatalf("channel still open after %v", within)
	}
	return nil
}

func TestConsumerTimeout(t *testing.T) {
	b := warrentest.StartWith(t, warrentest.Options{Server: func(c *amqp.Config) {
		c.TimeoutTick = 5 * time.Millisecond
		c.ConsumerTimeout = 150 * time.Millisecond
	}})
	conn, err := amqp091.Dial(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	open := func() (*amqp091.Channel, chan *amqp091.Error) {
		t.Helper()
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		return ch, ch.NotifyClose(make(chan *amqp091.Error, 1))
	}
	declare := func(ch *amqp091.Channel, name string, args amqp091.Table) {
		t.Helper()
		if _, err := ch.QueueDeclare(name, false, false, false, false, args); err != nil {
			t.Fatal(err)
		}
		if err := ch.Publish("", name, false, false, amqp091.Publishing{Body: []byte("m")}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("queue x-consumer-timeout closes the channel and requeues", func(t *testing.T) {
		ch, closes := open()
		declare(ch, "qt", amqp091.Table{"x-consumer-timeout": int32(30)})
		ds, err := ch.Consume("qt", "", false, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		<-ds
		start := time.Now()
		e := waitClose(t, closes, 5*time.Second)
		if e.Code != amqp091.PreconditionFailed || e.Reason != timeoutText(1, 30) {
			t.Fatalf("closed with %d %q", e.Code, e.Reason)
		}
		if time.Since(start) < 25*time.Millisecond {
			t.Fatalf("closed after %v, before the timeout", time.Since(start))
		}
		ch2, _ := open()
		d, ok, err := ch2.Get("qt", true)
		if err != nil || !ok || !d.Redelivered {
			t.Fatalf("requeued message: ok=%v redelivered=%v err=%v", ok, d.Redelivered, err)
		}
	})
	t.Run("consumer argument beats the server default; acked in time stays open", func(t *testing.T) {
		ch, closes := open()
		declare(ch, "ca", nil)
		ds, err := ch.Consume("ca", "", false, false, false, false, amqp091.Table{"x-consumer-timeout": int64(10_000)})
		if err != nil {
			t.Fatal(err)
		}
		d := <-ds
		time.Sleep(300 * time.Millisecond) // twice the server default: the consumer's 10 s applies
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
		if _, err := ch.QueueDeclarePassive("ca", false, false, false, false, nil); err != nil {
			t.Fatalf("channel closed: %v", err)
		}
		select {
		case e := <-closes:
			t.Fatalf("closed: %v", e)
		default:
		}
	})
	t.Run("server default applies to basic.get", func(t *testing.T) {
		ch, closes := open()
		declare(ch, "get", nil)
		if _, ok, err := ch.Get("get", false); err != nil || !ok {
			t.Fatal(ok, err)
		}
		if e := waitClose(t, closes, 5*time.Second); e.Code != amqp091.PreconditionFailed {
			t.Fatalf("closed with %v", e)
		}
	})
}
