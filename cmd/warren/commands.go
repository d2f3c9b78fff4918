package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/warrenmq/warren/cmd/warren/perf"
	"github.com/warrenmq/warren/conformance"
)

func init() {
	extraCommands = append(extraCommands, conformanceCommand(), perf.Command())
}

// conformanceCommand runs the conformance checks against any AMQP 0-9-1
// broker and prints a report: one line per check, the observed and expected
// replies under each failure.
func conformanceCommand() *cli.Command {
	return &cli.Command{
		Name:  "conformance",
		Usage: "check a broker (RabbitMQ, warren, …) against RabbitMQ's AMQP 0-9-1 behaviour",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "url", Value: "amqp://guest:guest@127.0.0.1:5672/", EnvVars: []string{"AMQP_URL"}, Usage: "broker to check"},
			&cli.StringFlag{Name: "run", Usage: "only checks whose names match this regular expression"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, Usage: "bound on the whole run"},
			&cli.BoolFlag{Name: "list", Usage: "list the checks and their rules, run nothing"},
			&cli.StringFlag{Name: "mgmt-url", EnvVars: []string{"MGMT_URL"},
				Usage: "the broker's management HTTP API (e.g. http://127.0.0.1:15672) for the policy checks; without it they are skipped"},
		},
		Action: func(cx *cli.Context) error {
			conformance.MgmtURL = cx.String("mgmt-url")
			if cx.Bool("list") {
				for _, c := range conformance.Checks {
					fmt.Printf("%s\n\t%s\n", c.Name, c.Rule)
				}
				return nil
			}
			var match func(string) bool
			if pat := cx.String("run"); pat != "" {
				re, err := regexp.Compile(pat)
				if err != nil {
					return fmt.Errorf("invalid --run pattern: %w", err)
				}
				match = re.MatchString
			}
			ctx, cancel := context.WithTimeout(cx.Context, cx.Duration("timeout"))
			defer cancel()
			results := conformance.Run(ctx, cx.String("url"), match)
			if failed := conformance.WriteReport(os.Stdout, results); failed > 0 {
				return cli.Exit(fmt.Sprintf("%d of %d checks failed", failed, len(results)), 1)
			}
			return nil
		},
	}
}
