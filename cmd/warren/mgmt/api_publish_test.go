package mgmt

import (
	"fmt"
	"testing"

	"github.com/warrenmq/warren/store"
	"github.com/warrenmq/warren/vhost"
)

// storedEntries counts the index entries of every queue in st.
func storedEntries(t *testing.T, st *store.Store) int {
	t.Helper()
	total := 0
	err := st.Queues(func(q string) error {
		n, _, err := st.Count(q)
		total += n
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// POST /api/exchanges/{vhost}/{name}/publish answers once the message is confirmed, as
// RabbitMQ's does (rabbit_mgmt_wm_exchange_publish publishes in confirm mode and waits for
// basic.ack): a persistent message routed to a durable queue is on disk when the answer
// comes.
func TestPublishAnswersAfterStore(t *testing.T) {
	e, _, st := startStored(t, vhost.Config{})

	e.want(e.do("PUT", "/api/queues/%2F/q", `{"durable":true}`), 201, "")
	for i := range 30 {
		e.want(e.do("POST", "/api/exchanges/%2F/amq.default/publish",
			fmt.Sprintf(`{"routing_key":"q","payload":"m%d","payload_encoding":"string","properties":{"delivery_mode":2}}`, i)),
			200, `{"routed":true}`)
		if n := storedEntries(t, st); n != i+1 {
			t.Fatalf("after the answer to publish %d: %d messages on disk, want %d", i, n, i+1)
		}
	}
}
