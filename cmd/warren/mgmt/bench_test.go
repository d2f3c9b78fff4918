package mgmt

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/warrenmq/warren/vhost"
)

// BenchmarkListQueues measures GET /api/queues/%2F (handler only, no socket) with 1000
// queues of 100 messages each: the cost a dashboard polling the API puts on the broker.
func BenchmarkListQueues(b *testing.B) {
	core, err := vhost.New(vhost.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer core.Close()
	v := core.VHost("/")
	for i := range 1000 {
		name := fmt.Sprintf("q%04d", i)
		if _, err := v.DeclareQueue(nil, name, false, false, false, false, nil); err != nil {
			b.Fatal(err)
		}
		for range 100 {
			if _, err := v.Publish(&vhost.Message{RoutingKey: name, Body: make([]byte, 100)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	s := New(Config{Broker: core, Node: "warren@bench"})
	req := httptest.NewRequest("GET", "/api/queues/%2F", nil)
	req.SetBasicAuth("guest", "guest")
	req.RemoteAddr = "127.0.0.1:1"
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
