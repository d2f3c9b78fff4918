package conformance

import (
	"context"
	"os"
	"testing"

	"github.com/warrenmq/warren/conformance/warrentest"
)

// startBroker returns the URL of the broker under test: AMQP_URL when set (to run the suite against
// RabbitMQ or another broker), otherwise an in-process warren stopped by t.Cleanup.
func startBroker(t *testing.T) string {
	if url := os.Getenv("AMQP_URL"); url != "" {
		return url
	}
	return warrentest.Start(t)
}

// TestConformance runs every check as a subtest named after it:
// go test ./conformance -run 'TestConformance/queue.declare/'.
func TestConformance(t *testing.T) {
	runChecks(t, startBroker(t), Checks)
}

// runChecks runs each check against the broker at url as a subtest named after it.
func runChecks(t *testing.T, url string, checks []Check) {
	for _, c := range checks {
		t.Run(c.Name, func(t *testing.T) {
			r := RunCheck(context.Background(), url, c)
			switch {
			case r.Err != nil:
				t.Fatalf("%v\nrule: %s", r.Err, c.Rule)
			case r.Skipped != "":
				t.Skip(r.Skipped)
			}
		})
	}
}
