// Command bench holds the measuring half of bench.sh, the side-by-side benchmark of
// warren and RabbitMQ (issue 6). bench.sh starts and stops the brokers; this program
// runs one scenario against one broker and appends its figures, one JSON object a
// line, to a results file, then prints the table of medians and ratios:
//
//	bench scenario --id 1 --url amqp://... --pid 1234 --broker warren --round 1 --out results.jsonl
//	bench startup --addr 127.0.0.1:5699 --kill --broker warren --round 1 --out results.jsonl -- warren --in-memory ...
//	bench wait --addr 127.0.0.1:5792     # until a broker answers AMQP
//	bench floor --round 1 --out results.jsonl   # scenario 5 through a bare TCP relay process
//	bench report results.jsonl
//	bench perf ...                       # the load tool itself, as `warren perf`
//
// Scenarios are those of issue 6; each is defined once, in scenarios.go.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/warrenmq/warren/cmd/warren/perf"
)

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:  "bench",
		Usage: "measure one benchmark scenario against one broker, or print the table",
		Commands: []*cli.Command{
			scenarioCommand(),
			startupCommand(),
			waitCommand(),
			reportCommand(),
			floorCommand(),
			relayCommand(),
			perf.Command(),
		},
	}
}
