package conformance

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/cmd/warren/mgmt"
	"github.com/warrenmq/warren/conformance/warrentest"
)

// TestPolicyChecks runs the policy checks against an in-process warren with its management
// API, which TestConformance's broker lacks. With AMQP_URL and MGMT_URL set they run against
// that broker instead (RabbitMQ with its management plugin):
//
//	AMQP_URL=amqp://guest:guest@127.0.0.1:5691/ MGMT_URL=http://127.0.0.1:15691 go test ./conformance -run TestPolicyChecks
func TestPolicyChecks(t *testing.T) {
	url := os.Getenv("AMQP_URL")
	if url == "" {
		b := warrentest.StartWith(t, warrentest.Options{})
		url = b.URL
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		api := mgmt.New(mgmt.Config{Broker: b.Core, AMQP: b.Server, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
		go func() { _ = api.Serve(ln) }()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = api.Shutdown(ctx)
		})
		MgmtURL = "http://" + ln.Addr().String()
		t.Cleanup(func() { MgmtURL = "" })
	}
	runChecks(t, url, policyChecks)
}
