package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// Everyday commands over the management API (issue 8), the ones rabbitmqadmin users
// reach for: list, declare, delete, purge, publish, get, peek, export, import. They talk
// HTTP to a running warren, or to RabbitMQ (all but peek, which is warren's own), with
// the --url of the users/vhosts/permissions commands (adminapi.go's client).

func init() {
	extraCommands = append(extraCommands, listCommand(), declareCommand(), deleteCommand(), purgeCommand(),
		publishCommand(), getCommand(), peekCommand(), exportCommand(), importCommand())
}

// apiFlags are every API command's flags.
func apiFlags(extra ...cli.Flag) []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "url", Value: "http://guest:guest@127.0.0.1:15672", EnvVars: []string{"WARREN_MGMT_URL"},
			Usage: "the broker's management API, http://user:password@host:15672 (warren or RabbitMQ)"},
		&cli.StringFlag{Name: "vhost", Aliases: []string{"V"}, Value: "/", Usage: "virtual host"},
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
	}, extra...)
}

// apiArgs checks the argument count as args does, with a usage line that names the
// whole command ("warren declare queue NAME").
func apiArgs(cx *cli.Context, min, max int, usage string) ([]string, error) {
	a := cx.Args().Slice()
	if len(a) >= min && (max < 0 || len(a) <= max) {
		return a, nil
	}
	l := cx.Lineage() // this command, its parents, the app's root command ("warren")
	var names []string
	for i := len(l) - 1; i >= 0; i-- {
		if l[i].Command != nil {
			names = append(names, l[i].Command.Name)
		}
	}
	return nil, fmt.Errorf("usage: %s %s (options before arguments)", strings.Join(names, " "), usage)
}

func apiClient(cx *cli.Context) (*httpAdmin, error) { return newHTTPAdmin(cx.String("url")) }

// argsJSON reads --arguments, a JSON object as rabbitmqadmin takes it.
func argsJSON(cx *cli.Context) (map[string]any, error) {
	s := cx.String("arguments")
	if s == "" {
		return map[string]any{}, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("invalid --arguments %q: want a JSON object such as '{\"x-max-length\":10}'", s)
	}
	return m, nil
}

var argumentsFlag = &cli.StringFlag{Name: "arguments", Usage: `x-arguments as a JSON object, e.g. '{"x-message-ttl":60000}'`}

// show prints rows as a table of the given JSON fields, or the JSON itself.
func show(cx *cli.Context, rows []map[string]any, fields ...string) error {
	w := cx.App.Writer
	if cx.String("format") == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	if cx.String("format") != "table" {
		return fmt.Errorf("invalid --format %q: want table or json", cx.String("format"))
	}
	out := make([][]string, 0, len(rows))
	for _, r := range rows {
		line := make([]string, len(fields))
		for i, f := range fields {
			line[i] = cell(lookup(r, f))
		}
		out = append(out, line)
	}
	return table(w, strings.Join(fields, "\t"), out)
}

// lookup reads a dotted field path ("queue.name").
func lookup(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		if x == "" {
			return `""`
		}
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

// listings: what each "list" subcommand shows, as rabbitmqadmin's default columns.
var listings = []struct {
	name, usage string
	perVHost    bool // the API path takes the vhost
	path        string
	fields      []string
}{
	{"queues", "queues with their message counts", true, "queues", []string{"vhost", "name", "messages", "messages_ready", "messages_unacknowledged", "consumers", "durable", "auto_delete", "exclusive"}},
	{"exchanges", "exchanges", true, "exchanges", []string{"vhost", "name", "type", "durable", "auto_delete", "internal"}},
	{"bindings", "bindings", true, "bindings", []string{"vhost", "source", "destination", "destination_type", "routing_key", "properties_key"}},
	{"connections", "client connections", false, "connections", []string{"name", "user", "vhost", "user_provided_name", "channels", "state"}},
	{"channels", "channels", false, "channels", []string{"name", "user", "vhost", "consumer_count", "messages_unacknowledged"}},
	{"consumers", "consumers", true, "consumers", []string{"queue.vhost", "queue.name", "consumer_tag", "ack_required", "prefetch_count", "channel_details.name"}},
	{"vhosts", "virtual hosts", false, "vhosts", []string{"name", "messages", "messages_ready", "messages_unacknowledged"}},
	{"policies", "policies, lowest priority first", true, "policies", []string{"vhost", "name", "pattern", "apply-to", "definition", "priority"}},
	{"vhost-limits", "virtual hosts' limits (max-connections, max-queues)", true, "vhost-limits", []string{"vhost", "value"}},
}

func listCommand() *cli.Command {
	cmd := &cli.Command{Name: "list", Usage: "list queues, exchanges, bindings, connections, channels, consumers, vhosts, policies or vhost limits (management API)"}
	for _, l := range listings {
		l := l
		flags := apiFlags()
		if l.perVHost {
			flags = append(flags, &cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "every virtual host, not only --vhost"})
		}
		cmd.Subcommands = append(cmd.Subcommands, &cli.Command{
			Name: l.name, Usage: "list " + l.usage, Flags: flags,
			Action: func(cx *cli.Context) error {
				h, err := apiClient(cx)
				if err != nil {
					return err
				}
				segs := []string{l.path}
				if l.perVHost && !cx.Bool("all") {
					segs = append(segs, cx.String("vhost"))
				}
				var rows []map[string]any
				if err := h.callQuery("GET", "", nil, &rows, segs...); err != nil {
					return err
				}
				return show(cx, rows, l.fields...)
			},
		})
	}
	return cmd
}

func declareCommand() *cli.Command {
	return &cli.Command{
		Name: "declare", Usage: "declare a queue, an exchange, a binding, a policy or a vhost limit (management API)",
		Subcommands: []*cli.Command{
			{
				Name: "queue", Usage: "declare a queue", ArgsUsage: "NAME",
				Flags: apiFlags(&cli.BoolFlag{Name: "durable", Value: true, Usage: "survives a restart"},
					&cli.BoolFlag{Name: "auto-delete", Usage: "deleted when its last consumer goes"}, argumentsFlag),
				Action: declareAction("queues", func(cx *cli.Context) map[string]any {
					return map[string]any{"durable": cx.Bool("durable"), "auto_delete": cx.Bool("auto-delete")}
				}),
			},
			{
				Name: "exchange", Usage: "declare an exchange", ArgsUsage: "NAME",
				Flags: apiFlags(&cli.StringFlag{Name: "type", Aliases: []string{"t"}, Value: "direct", Usage: "direct, fanout, topic or headers"},
					&cli.BoolFlag{Name: "durable", Value: true, Usage: "survives a restart"},
					&cli.BoolFlag{Name: "auto-delete", Usage: "deleted when its last binding goes"},
					&cli.BoolFlag{Name: "internal", Usage: "clients cannot publish to it"}, argumentsFlag),
				Action: declareAction("exchanges", func(cx *cli.Context) map[string]any {
					return map[string]any{"type": cx.String("type"), "durable": cx.Bool("durable"),
						"auto_delete": cx.Bool("auto-delete"), "internal": cx.Bool("internal")}
				}),
			},
			{
				Name: "binding", Usage: "bind a queue (or an exchange) to an exchange", ArgsUsage: "SOURCE DESTINATION",
				Flags: apiFlags(&cli.StringFlag{Name: "destination-type", Value: "queue", Usage: "queue or exchange"},
					&cli.StringFlag{Name: "routing-key", Aliases: []string{"k"}, Usage: "binding key"}, argumentsFlag),
				Action: func(cx *cli.Context) error {
					a, err := apiArgs(cx, 2, 2, "SOURCE DESTINATION")
					if err != nil {
						return err
					}
					kind, err := destKind(cx.String("destination-type"))
					if err != nil {
						return err
					}
					xargs, err := argsJSON(cx)
					if err != nil {
						return err
					}
					return withClient(cx, func(h *httpAdmin) error {
						return h.call("POST", map[string]any{"routing_key": cx.String("routing-key"), "arguments": xargs},
							nil, "bindings", cx.String("vhost"), "e", a[0], kind, a[1])
					})
				},
			},
			declarePolicyCommand(),
			declareVHostLimitCommand(),
		},
	}
}

// declareAction PUTs body, with the --arguments, to /api/{kind}/{vhost}/NAME: the
// declare of a queue or an exchange.
func declareAction(kind string, body func(cx *cli.Context) map[string]any) cli.ActionFunc {
	return func(cx *cli.Context) error {
		a, err := apiArgs(cx, 1, 1, "NAME")
		if err != nil {
			return err
		}
		xargs, err := argsJSON(cx)
		if err != nil {
			return err
		}
		b := body(cx)
		b["arguments"] = xargs
		return withClient(cx, func(h *httpAdmin) error {
			return h.call("PUT", b, nil, kind, cx.String("vhost"), a[0])
		})
	}
}

// declarePolicyCommand is PUT /api/policies/{vhost}/{name}, rabbitmqadmin's "declare
// policy": the broker checks the pattern and the definition's keys and values.
func declarePolicyCommand() *cli.Command {
	return &cli.Command{
		Name: "policy", Usage: "declare (or replace) a policy: queues or exchanges whose name matches --pattern get --definition",
		ArgsUsage: "NAME",
		Flags: apiFlags(&cli.StringFlag{Name: "pattern", Required: true, Usage: `regular expression on queue and exchange names, e.g. '^orders\.'`},
			&cli.StringFlag{Name: "definition", Required: true, Usage: `policy keys as a JSON object, e.g. '{"message-ttl":60000,"dead-letter-exchange":"dlx"}'`},
			&cli.IntFlag{Name: "priority", Usage: "where several policies match, the highest priority wins (default 0)"},
			&cli.StringFlag{Name: "apply-to", Usage: "queues, exchanges or all (default all)"}),
		Action: func(cx *cli.Context) error {
			a, err := apiArgs(cx, 1, 1, "NAME")
			if err != nil {
				return err
			}
			// UseNumber: an integer in the definition reaches the broker as written.
			d := json.NewDecoder(strings.NewReader(cx.String("definition")))
			d.UseNumber()
			var def map[string]any
			if err := d.Decode(&def); err != nil || d.More() {
				return fmt.Errorf("invalid --definition %q: want a JSON object such as '{\"message-ttl\":60000}'", cx.String("definition"))
			}
			body := map[string]any{"pattern": cx.String("pattern"), "definition": def}
			if cx.IsSet("priority") {
				body["priority"] = cx.Int("priority")
			}
			if cx.IsSet("apply-to") {
				body["apply-to"] = cx.String("apply-to")
			}
			return withClient(cx, func(h *httpAdmin) error {
				return h.call("PUT", body, nil, "policies", cx.String("vhost"), a[0])
			})
		},
	}
}

// declareVHostLimitCommand is PUT /api/vhost-limits/{vhost}/{name}.
func declareVHostLimitCommand() *cli.Command {
	return &cli.Command{
		Name: "vhost-limit", Usage: "set --vhost's max-connections or max-queues (a negative VALUE: no limit)",
		ArgsUsage: "NAME VALUE", Flags: apiFlags(),
		Action: func(cx *cli.Context) error {
			a, err := apiArgs(cx, 2, 2, "NAME VALUE")
			if err != nil {
				return err
			}
			n, err := strconv.ParseInt(a[1], 10, 64)
			if err != nil {
				return fmt.Errorf("invalid VALUE %q: want a whole number", a[1])
			}
			return withClient(cx, func(h *httpAdmin) error {
				return h.call("PUT", map[string]any{"value": n}, nil, "vhost-limits", cx.String("vhost"), a[0])
			})
		},
	}
}

// deleteByNameCommand deletes /api/{path}/{vhost}/{NAME}.
func deleteByNameCommand(name, usage, path string) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: "NAME", Flags: apiFlags(),
		Action: func(cx *cli.Context) error {
			a, err := apiArgs(cx, 1, 1, "NAME")
			if err != nil {
				return err
			}
			return withClient(cx, func(h *httpAdmin) error {
				return h.call("DELETE", nil, nil, path, cx.String("vhost"), a[0])
			})
		},
	}
}

func destKind(s string) (string, error) {
	switch s {
	case "queue", "q":
		return "q", nil
	case "exchange", "e":
		return "e", nil
	}
	return "", fmt.Errorf("invalid --destination-type %q: want queue or exchange", s)
}

func withClient(cx *cli.Context, fn func(h *httpAdmin) error) error {
	h, err := apiClient(cx)
	if err != nil {
		return err
	}
	return fn(h)
}

func deleteCommand() *cli.Command {
	return &cli.Command{
		Name: "delete", Usage: "delete a queue, an exchange, a binding, a policy or a vhost limit, or close a connection (management API)",
		Subcommands: []*cli.Command{
			{
				Name: "queue", Usage: "delete a queue with its messages", ArgsUsage: "NAME",
				Flags: apiFlags(&cli.BoolFlag{Name: "if-empty", Usage: "only if it has no ready messages"},
					&cli.BoolFlag{Name: "if-unused", Usage: "only if it has no consumers"}),
				Action: func(cx *cli.Context) error {
					a, err := apiArgs(cx, 1, 1, "NAME")
					if err != nil {
						return err
					}
					return withClient(cx, func(h *httpAdmin) error {
						q := []string{}
						if cx.Bool("if-empty") {
							q = append(q, "if-empty=true")
						}
						if cx.Bool("if-unused") {
							q = append(q, "if-unused=true")
						}
						return h.callQuery("DELETE", strings.Join(q, "&"), nil, nil, "queues", cx.String("vhost"), a[0])
					})
				},
			},
			{
				Name: "exchange", Usage: "delete an exchange with its bindings", ArgsUsage: "NAME",
				Flags: apiFlags(&cli.BoolFlag{Name: "if-unused", Usage: "only if nothing is bound to it"}),
				Action: func(cx *cli.Context) error {
					a, err := apiArgs(cx, 1, 1, "NAME")
					if err != nil {
						return err
					}
					q := ""
					if cx.Bool("if-unused") {
						q = "if-unused=true"
					}
					return withClient(cx, func(h *httpAdmin) error {
						return h.callQuery("DELETE", q, nil, nil, "exchanges", cx.String("vhost"), a[0])
					})
				},
			},
			{
				Name: "binding", Usage: "delete a binding", ArgsUsage: "SOURCE DESTINATION",
				Flags: apiFlags(&cli.StringFlag{Name: "destination-type", Value: "queue", Usage: "queue or exchange"},
					&cli.StringFlag{Name: "routing-key", Aliases: []string{"k"}, Usage: "binding key (without arguments)"},
					&cli.StringFlag{Name: "properties-key", Usage: "the binding's properties_key (as listed), for a binding with arguments"}),
				Action: func(cx *cli.Context) error {
					a, err := apiArgs(cx, 2, 2, "SOURCE DESTINATION")
					if err != nil {
						return err
					}
					kind, err := destKind(cx.String("destination-type"))
					if err != nil {
						return err
					}
					props := cx.String("routing-key")
					if cx.IsSet("properties-key") {
						props = cx.String("properties-key")
					}
					return withClient(cx, func(h *httpAdmin) error {
						return h.call("DELETE", nil, nil, "bindings", cx.String("vhost"), "e", a[0], kind, a[1], props)
					})
				},
			},
			{
				Name: "connection", Usage: "close a client connection with 320 CONNECTION_FORCED", ArgsUsage: "NAME",
				Flags: apiFlags(&cli.StringFlag{Name: "reason", Usage: "reply text the client sees"}),
				Action: func(cx *cli.Context) error {
					a, err := apiArgs(cx, 1, 1, "NAME")
					if err != nil {
						return err
					}
					return withClient(cx, func(h *httpAdmin) error {
						return h.callHeader("DELETE", "X-Reason", cx.String("reason"), "connections", a[0])
					})
				},
			},
			deleteByNameCommand("policy", "delete a policy", "policies"),
			deleteByNameCommand("vhost-limit", "clear a vhost limit (max-connections or max-queues)", "vhost-limits"),
		},
	}
}

func purgeCommand() *cli.Command {
	return &cli.Command{
		Name: "purge", Usage: "drop a queue's ready messages (management API)", ArgsUsage: "QUEUE", Flags: apiFlags(),
		Action: func(cx *cli.Context) error {
			a, err := apiArgs(cx, 1, 1, "QUEUE")
			if err != nil {
				return err
			}
			return withClient(cx, func(h *httpAdmin) error {
				return h.call("DELETE", nil, nil, "queues", cx.String("vhost"), a[0], "contents")
			})
		},
	}
}

func publishCommand() *cli.Command {
	return &cli.Command{
		Name: "publish", Usage: "publish a message (management API); the body is the argument or standard input",
		ArgsUsage: "[BODY]",
		Flags: apiFlags(&cli.StringFlag{Name: "exchange", Aliases: []string{"e"}, Usage: `exchange ("" the default one)`},
			&cli.StringFlag{Name: "routing-key", Aliases: []string{"k"}, Usage: "routing key (a queue's name with the default exchange)"},
			&cli.StringFlag{Name: "properties", Usage: `properties as a JSON object, e.g. '{"delivery_mode":2,"headers":{"a":1}}'`}),
		Action: func(cx *cli.Context) error {
			a, err := apiArgs(cx, 0, 1, "[BODY]")
			if err != nil {
				return err
			}
			var body string
			if len(a) == 1 {
				body = a[0]
			} else {
				b, err := io.ReadAll(io.LimitReader(cx.App.Reader, 128<<20))
				if err != nil {
					return err
				}
				body = string(b)
			}
			props := map[string]any{}
			if s := cx.String("properties"); s != "" {
				if err := json.Unmarshal([]byte(s), &props); err != nil {
					return fmt.Errorf("invalid --properties: %w", err)
				}
			}
			x := cx.String("exchange")
			if x == "" {
				x = "amq.default"
			}
			return withClient(cx, func(h *httpAdmin) error {
				var res struct {
					Routed bool `json:"routed"`
				}
				if err := h.call("POST", map[string]any{"properties": props, "routing_key": cx.String("routing-key"),
					"payload": body, "payload_encoding": "string"}, &res, "exchanges", cx.String("vhost"), x, "publish"); err != nil {
					return err
				}
				if !res.Routed {
					fmt.Fprintln(cx.App.Writer, "Message published but NOT routed")
					return nil
				}
				fmt.Fprintln(cx.App.Writer, "Message published")
				return nil
			})
		},
	}
}

var messageFields = []string{"routing_key", "exchange", "message_count", "payload", "payload_bytes", "payload_encoding", "redelivered", "properties"}

func getCommand() *cli.Command {
	return &cli.Command{
		Name: "get", Usage: "take messages from a queue with basic.get, then requeue them (--ack drops them) (management API)",
		ArgsUsage: "QUEUE",
		Flags: apiFlags(&cli.IntFlag{Name: "count", Aliases: []string{"n"}, Value: 1, Usage: "how many"},
			&cli.BoolFlag{Name: "ack", Usage: "acknowledge them (removes them from the queue) instead of requeueing"},
			&cli.IntFlag{Name: "truncate", Value: 50000, Usage: "bytes of each payload to show"}),
		Action: func(cx *cli.Context) error {
			a, err := apiArgs(cx, 1, 1, "QUEUE")
			if err != nil {
				return err
			}
			mode := "ack_requeue_true"
			if cx.Bool("ack") {
				mode = "ack_requeue_false"
			}
			return withClient(cx, func(h *httpAdmin) error {
				var rows []map[string]any
				if err := h.call("POST", map[string]any{"count": cx.Int("count"), "ackmode": mode, "encoding": "auto",
					"truncate": cx.Int("truncate")}, &rows, "queues", cx.String("vhost"), a[0], "get"); err != nil {
					return err
				}
				return show(cx, rows, messageFields...)
			})
		},
	}
}

func peekCommand() *cli.Command {
	return &cli.Command{
		Name: "peek", Usage: "show a queue's unacknowledged and ready messages without taking them (warren's own API)",
		ArgsUsage: "QUEUE",
		Flags: apiFlags(&cli.IntFlag{Name: "count", Aliases: []string{"n"}, Value: 20, Usage: "how many (at most 1000)"},
			&cli.IntFlag{Name: "offset", Usage: "skip this many first"},
			&cli.IntFlag{Name: "truncate", Value: 200, Usage: "bytes of each payload to show; 0: all"}),
		Action: func(cx *cli.Context) error {
			a, err := apiArgs(cx, 1, 1, "QUEUE")
			if err != nil {
				return err
			}
			return withClient(cx, func(h *httpAdmin) error {
				q := fmt.Sprintf("count=%d&offset=%d&truncate=%d", cx.Int("count"), cx.Int("offset"), cx.Int("truncate"))
				var res struct {
					Ready    int              `json:"messages_ready"`
					Unacked  int              `json:"messages_unacknowledged"`
					PagedOut int              `json:"messages_paged_out"`
					Messages []map[string]any `json:"messages"`
				}
				if err := h.callQuery("GET", q, nil, &res, "queues", cx.String("vhost"), a[0], "peek"); err != nil {
					return err
				}
				if cx.String("format") == "table" {
					fmt.Fprintf(cx.App.Writer, "%d ready, %d unacknowledged", res.Ready, res.Unacked)
					if res.PagedOut > 0 {
						fmt.Fprintf(cx.App.Writer, " (%d ready on disk only, not shown)", res.PagedOut)
					}
					fmt.Fprintln(cx.App.Writer)
				}
				return show(cx, res.Messages, "position", "state", "redelivered", "routing_key", "exchange", "payload", "payload_bytes", "properties")
			})
		},
	}
}

func exportCommand() *cli.Command {
	return &cli.Command{
		Name: "export", Usage: "write the broker's definitions (RabbitMQ's JSON format) to FILE or standard output (management API)",
		ArgsUsage: "[FILE]",
		Flags:     apiFlags(&cli.BoolFlag{Name: "vhost-only", Usage: "only --vhost's queues, exchanges and bindings"}),
		Action: func(cx *cli.Context) error {
			a, err := apiArgs(cx, 0, 1, "[FILE]")
			if err != nil {
				return err
			}
			return withClient(cx, func(h *httpAdmin) error {
				var defs map[string]any
				segs := []string{"definitions"}
				if cx.Bool("vhost-only") {
					segs = append(segs, cx.String("vhost"))
				}
				if err := h.call("GET", nil, &defs, segs...); err != nil {
					return err
				}
				b, err := json.MarshalIndent(defs, "", "  ")
				if err != nil {
					return err
				}
				b = append(b, '\n')
				if len(a) == 0 || a[0] == "-" {
					_, err = cx.App.Writer.Write(b)
					return err
				}
				if err := os.WriteFile(a[0], b, 0o600); err != nil { // password hashes inside
					return err
				}
				fmt.Fprintf(cx.App.Writer, "Exported definitions to %s (%s)\n", a[0], summary(defs))
				return nil
			})
		},
	}
}

// summary counts a definitions file's lists: "2 users, 1 vhosts, …".
func summary(defs map[string]any) string {
	var parts []string
	keys := make([]string, 0, len(defs))
	for k := range defs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if l, ok := defs[k].([]any); ok && len(l) > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", len(l), k))
		}
	}
	return strings.Join(parts, ", ")
}

func importCommand() *cli.Command {
	return &cli.Command{
		Name: "import", Usage: "import definitions (RabbitMQ's JSON format) from FILE or standard input (management API)",
		ArgsUsage: "[FILE]",
		Flags:     apiFlags(&cli.BoolFlag{Name: "vhost-only", Usage: "a vhost's definitions, into --vhost"}),
		Action: func(cx *cli.Context) error {
			a, err := apiArgs(cx, 0, 1, "[FILE]")
			if err != nil {
				return err
			}
			var data []byte
			if len(a) == 0 || a[0] == "-" {
				data, err = io.ReadAll(io.LimitReader(cx.App.Reader, 64<<20))
			} else {
				data, err = os.ReadFile(a[0])
			}
			if err != nil {
				return err
			}
			var defs map[string]any
			if err := json.Unmarshal(data, &defs); err != nil {
				return fmt.Errorf("not a definitions file: %w", err)
			}
			segs := []string{"definitions"}
			if cx.Bool("vhost-only") {
				segs = append(segs, cx.String("vhost"))
			}
			return withClient(cx, func(h *httpAdmin) error {
				if err := h.call("POST", defs, nil, segs...); err != nil {
					return err
				}
				fmt.Fprintf(cx.App.Writer, "Imported definitions (%s)\n", summary(defs))
				return nil
			})
		},
	}
}

// callQuery is httpAdmin.call with a query string.
func (h *httpAdmin) callQuery(method, query string, body, out any, segs ...string) error {
	return h.send(method, query, nil, body, out, segs...)
}

// callHeader is httpAdmin.call with one request header (empty values are not sent).
func (h *httpAdmin) callHeader(method, key, value string, segs ...string) error {
	hdr := http.Header{}
	if value != "" {
		hdr.Set(key, value)
	}
	return h.send(method, "", hdr, nil, nil, segs...)
}

// send is one API request: /api/ + path segments (each escaped), the query, extra
// headers and a JSON body; a JSON answer is decoded into out (numbers kept exact) when
// out is not nil, and a status of 300 or more is an error with RabbitMQ's reason.
func (h *httpAdmin) send(method, query string, hdr http.Header, body, out any, segs ...string) error {
	esc := make([]string, len(segs))
	for i, s := range segs {
		esc[i] = url.PathEscape(s)
	}
	full := h.base.String() + "/api/" + strings.Join(esc, "/")
	if query != "" {
		full += "?" + query
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, full, rd)
	if err != nil {
		return err
	}
	req.SetBasicAuth(h.user, h.pass)
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error  string `json:"error"`
			Reason any    `json:"reason"`
		}
		if json.Unmarshal(data, &e) == nil && e.Reason != nil {
			return fmt.Errorf("%s %s: %s: %v", method, req.URL.Path, resp.Status, e.Reason)
		}
		return fmt.Errorf("%s %s: %s", method, req.URL.Path, resp.Status)
	}
	if out != nil {
		// UseNumber: integers beyond 2^53 (a TTL, a length limit) are shown as the broker has them.
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		return d.Decode(out)
	}
	return nil
}
