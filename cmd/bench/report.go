package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// brokers are the columns of the table: warren, and what it is measured against.
var brokers = [2]string{"warren", "rabbitmq"}

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "print the medians per scenario and broker, and the warren/RabbitMQ ratio",
		ArgsUsage: "results.jsonl",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "note", Usage: "scenario:text printed under that scenario (repeatable; a comma splits notes)"},
		},
		Action: func(cx *cli.Context) error {
			if cx.NArg() != 1 {
				return fmt.Errorf("report: want one results file")
			}
			f, err := os.Open(cx.Args().First())
			if err != nil {
				return err
			}
			defer f.Close()
			rs, err := readResults(f)
			if err != nil {
				return err
			}
			notes := map[int][]string{}
			for _, n := range cx.StringSlice("note") {
				id, text, _ := strings.Cut(n, ":")
				if i, err := strconv.Atoi(id); err == nil {
					notes[i] = append(notes[i], text)
				}
			}
			writeReport(cx.App.Writer, rs, notes)
			return nil
		},
	}
}

func readResults(r io.Reader) ([]result, error) {
	var rs []result
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var res result
		if err := json.Unmarshal(sc.Bytes(), &res); err != nil {
			return nil, fmt.Errorf("results line %d: %w", line, err)
		}
		rs = append(rs, res)
	}
	return rs, sc.Err()
}

// median of the values; NaN for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// writeReport prints one row per scenario metric: the median of each broker over its
// rounds, the ratio warren/RabbitMQ and which broker did better.
func writeReport(w io.Writer, rs []result, notes map[int][]string) {
	values := map[string][]float64{} // "scenario/broker/metric"
	rounds := map[string]int{}       // "scenario/broker"
	for _, r := range rs {
		rounds[fmt.Sprintf("%d/%s", r.Scenario, r.Broker)]++
		for k, v := range r.Metrics {
			key := fmt.Sprintf("%d/%s/%s", r.Scenario, r.Broker, k)
			values[key] = append(values[key], v)
		}
	}
	fmt.Fprintf(w, "%-3s %-28s %12s %12s %9s  %-9s %s\n", "#", "metric (median)", brokers[0], brokers[1], "ratio", "better", "target for warren")
	for _, sc := range scenarios {
		if rounds[fmt.Sprintf("%d/%s", sc.id, brokers[0])]+rounds[fmt.Sprintf("%d/%s", sc.id, brokers[1])] == 0 {
			continue
		}
		fmt.Fprintf(w, "%d   %s (rounds: %s %d, %s %d)\n", sc.id, sc.name,
			brokers[0], rounds[fmt.Sprintf("%d/%s", sc.id, brokers[0])], brokers[1], rounds[fmt.Sprintf("%d/%s", sc.id, brokers[1])])
		for _, m := range sc.metrics {
			a := median(values[fmt.Sprintf("%d/%s/%s", sc.id, brokers[0], m.key)])
			b := median(values[fmt.Sprintf("%d/%s/%s", sc.id, brokers[1], m.key)])
			ratio, better := "-", "-"
			if !math.IsNaN(a) && !math.IsNaN(b) && b != 0 {
				ratio = formatRatio(a / b)
				if (a > b) == m.higher && a != b {
					better = brokers[0]
				} else if a != b {
					better = brokers[1]
				}
			}
			fmt.Fprintf(w, "    %-28s %12s %12s %9s  %-9s %s\n", m.label, formatValue(a), formatValue(b), ratio, better, m.target)
		}
		if n := rounds[fmt.Sprintf("%d/%s", sc.id, floorBroker)]; n > 0 {
			med := func(k string) string {
				return formatValue(median(values[fmt.Sprintf("%d/%s/%s", sc.id, floorBroker, k)]))
			}
			fmt.Fprintf(w, "    floor: a bare TCP relay process (no AMQP) at the same rate, %d rounds: p50 %s, p99 %s, p99.9 %s µs; relay CPU %s µs/msg\n",
				n, med("p50_us"), med("p99_us"), med("p999_us"), med("cpu_us"))
			if len(values[fmt.Sprintf("%d/%s/direct_p99_us", sc.id, floorBroker)]) > 0 {
				fmt.Fprintf(w, "    without the relay (producer to consumer over loopback, one process): p50 %s, p99 %s, p99.9 %s µs\n",
					med("direct_p50_us"), med("direct_p99_us"), med("direct_p999_us"))
			}
		}
		for _, n := range notes[sc.id] {
			fmt.Fprintf(w, "    note: %s\n", n)
		}
	}
}

// formatValue prints a figure with as many digits as it deserves.
func formatValue(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "-"
	case a >= 10000:
		return thousands(int64(math.Round(v)))
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// formatRatio prints a ratio with two significant digits at least.
func formatRatio(r float64) string {
	switch a := math.Abs(r); {
	case a >= 0.1:
		return strconv.FormatFloat(r, 'f', 2, 64) + "×"
	case a >= 0.001:
		return strconv.FormatFloat(r, 'f', 4, 64) + "×"
	default:
		return strconv.FormatFloat(r, 'e', 1, 64) + "×"
	}
}

// thousands prints n with commas between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
