package conformance_test

import (
	"context"
	"os"
	"regexp"
	"time"

	"github.com/warrenmq/warren/conformance"
)

// Run the checks whose names start with "queue." against a broker and print the report; this is what
// `warren conformance --url URL` does.
func ExampleRun() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	results := conformance.Run(ctx, "amqp://guest:guest@127.0.0.1:5672/", regexp.MustCompile(`^queue\.`).MatchString)
	if failed := conformance.WriteReport(os.Stdout, results); failed > 0 {
		os.Exit(1)
	}
}
