package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/warrenmq/warren/vhost"
)

// Administration of users, vhosts and permissions from the command line, in rabbitmqctl's
// terms:
//
//	warren users add NAME [PASSWORD]       (add_user; the password is read from stdin when absent)
//	warren users list | delete NAME | set-tags NAME [TAG…] | set-password NAME [PASSWORD]
//	warren users set-limits NAME --max-connections N --max-channels N
//	warren vhosts add NAME | list | delete NAME | set-limits NAME --max-connections N --max-queues N
//	warren permissions set [-p VHOST] USER CONF WRITE READ | clear [-p VHOST] USER | list [-p VHOST]
//	warren permissions set-topic [-p VHOST] USER EXCHANGE WRITE READ | clear-topic … | list-topic
//
// Without --url they change the data folder (--data-dir) of a stopped broker: the store
// allows one process at a time, so a running broker's folder is refused (with a hint).
// With --url http://user:pass@host:15672 they change a running broker through the
// management HTTP API (issue 8), in RabbitMQ's terms, so the same commands work against
// RabbitMQ's management plugin. AMQP 0-9-1 has no administration methods, so the broker's
// own port cannot carry these changes; a private control protocol would only duplicate
// that API.

func init() {
	extraCommands = append(extraCommands, usersCommand(), vhostsCommand(), permissionsCommand())
}

var adminFlags = []cli.Flag{
	&cli.StringFlag{Name: "data-dir", Value: "./warren-data", EnvVars: []string{"WARREN_DATA_DIR"},
		Usage: "the data folder of a stopped broker"},
	&cli.StringFlag{Name: "url", EnvVars: []string{"WARREN_MGMT_URL"},
		Usage: "a running broker's management API, http://user:password@host:15672 (warren or RabbitMQ)"},
}

// withAdmin runs fn on the backend the flags name.
func withAdmin(cx *cli.Context, fn func(a adminBackend) error) error {
	if u := cx.String("url"); u != "" {
		h, err := newHTTPAdmin(u)
		if err != nil {
			return err
		}
		return fn(h)
	}
	f, done, err := openFolder(cx.String("data-dir"))
	if err != nil {
		return err
	}
	ferr := fn(f)
	if err := done(); err != nil && ferr == nil {
		ferr = err
	}
	return ferr
}

func args(cx *cli.Context, min, max int, usage string) ([]string, error) {
	a := cx.Args().Slice()
	if len(a) < min || (max >= 0 && len(a) > max) {
		parent := ""
		if l := cx.Lineage(); len(l) > 1 && l[1].Command != nil {
			parent = l[1].Command.Name + " "
		}
		return nil, fmt.Errorf("usage: warren %s%s (options before arguments)", parent, usage)
	}
	return a, nil
}

// readPassword takes the password from the arguments or, like rabbitmqctl, from the first
// line of standard input.
func readPassword(a []string, i int, in io.Reader) (string, error) {
	if len(a) > i {
		return a[i], nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("no password given (as an argument or on standard input)")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func limitString(n int64) string {
	if n < 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

func table(w io.Writer, header string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func usersCommand() *cli.Command {
	limitFlags := []cli.Flag{
		&cli.Int64Flag{Name: "max-connections", Value: vhost.NoLimit, Usage: "connections of the user at once; -1: no limit"},
		&cli.Int64Flag{Name: "max-channels", Value: vhost.NoLimit, Usage: "channels of the user at once, over all its connections; -1: no limit"},
	}
	return &cli.Command{
		Name:  "users",
		Usage: "add, list and change users (a stopped broker's data folder, or --url)",
		Flags: adminFlags,
		Subcommands: []*cli.Command{
			{
				Name: "add", Usage: "add a user (password hashed with SHA-256, as RabbitMQ)", ArgsUsage: "NAME [PASSWORD]",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "tags", Usage: "administrator, management, monitoring, policymaker, impersonator, …"},
					&cli.StringFlag{Name: "password-hash", Usage: "base64 salt+hash from a RabbitMQ definitions file, instead of a password"},
					&cli.StringFlag{Name: "hashing-algorithm", Value: string(vhost.HashSHA256), Usage: "of --password-hash: rabbit_password_hashing_sha256, _sha512 or _md5"},
					&cli.BoolFlag{Name: "no-password", Usage: "a user without a password: it can log in with EXTERNAL (TLS client certificate) only"},
				},
				Action: func(cx *cli.Context) error {
					a, err := args(cx, 1, 2, "add NAME [PASSWORD]")
					if err != nil {
						return err
					}
					return withAdmin(cx, func(b adminBackend) error {
						tags := cx.StringSlice("tags")
						switch {
						case cx.String("password-hash") != "":
							alg, err := vhost.ParseHashAlg(cx.String("hashing-algorithm"))
							if err != nil {
								return err
							}
							hash, err := vhost.DecodeHash(alg, cx.String("password-hash"))
							if err != nil {
								return err
							}
							return b.addUser(vhost.UserInfo{Name: a[0], Tags: tags, HashAlg: alg, PasswordHash: hash, Limits: vhost.Unlimited}, "")
						case cx.Bool("no-password"):
							return b.addUser(vhost.UserInfo{Name: a[0], Tags: tags, HashAlg: vhost.HashSHA256, Limits: vhost.Unlimited}, "")
						}
						pass, err := readPassword(a, 1, cx.App.Reader)
						if err != nil {
							return err
						}
						if pass == "" {
							return errors.New("empty password: use --no-password for a user that logs in with a certificate only")
						}
						return b.addUser(vhost.UserInfo{Name: a[0], Tags: tags, HashAlg: vhost.HashSHA256, Limits: vhost.Unlimited}, pass)
					})
				},
			},
			{
				Name: "list", Usage: "list users with their tags and limits",
				Action: func(cx *cli.Context) error {
					return withAdmin(cx, func(b adminBackend) error {
						us, err := b.users()
						if err != nil {
							return err
						}
						var rows [][]string
						for _, u := range us {
							pw := "yes"
							if u.PasswordHash == nil {
								pw = "no"
							}
							rows = append(rows, []string{u.Name, "[" + strings.Join(u.Tags, ", ") + "]", pw,
								limitString(u.Limits.MaxConnections), limitString(u.Limits.MaxChannels)})
						}
						return table(cx.App.Writer, "user\ttags\tpassword\tmax-connections\tmax-channels", rows)
					})
				},
			},
			{
				Name: "delete", Usage: "delete a user and its permissions", ArgsUsage: "NAME",
				Action: func(cx *cli.Context) error {
					a, err := args(cx, 1, 1, "delete NAME")
					if err != nil {
						return err
					}
					return withAdmin(cx, func(b adminBackend) error { return b.deleteUser(a[0]) })
				},
			},
			{
				Name: "set-tags", Usage: "replace a user's tags (none clears them)", ArgsUsage: "NAME [TAG...]",
				Action: func(cx *cli.Context) error {
					a, err := args(cx, 1, -1, "set-tags NAME [TAG...]")
					if err != nil {
						return err
					}
					return withAdmin(cx, func(b adminBackend) error { return b.setTags(a[0], a[1:]) })
				},
			},
			{
				Name: "set-password", Usage: "change a user's password", ArgsUsage: "NAME [PASSWORD]",
				Action: func(cx *cli.Context) error {
					a, err := args(cx, 1, 2, "set-password NAME [PASSWORD]")
					if err != nil {
						return err
					}
					pass, err := readPassword(a, 1, cx.App.Reader)
					if err != nil {
						return err
					}
					return withAdmin(cx, func(b adminBackend) error { return b.setPassword(a[0], pass) })
				},
			},
			{
				Name: "set-limits", Usage: "set a user's limits (RabbitMQ's set_user_limits)", ArgsUsage: "NAME",
				Flags: limitFlags,
				Action: func(cx *cli.Context) error {
					a, err := args(cx, 1, 1, "set-limits NAME [--max-connections N] [--max-channels N]")
					if err != nil {
						return err
					}
					return withAdmin(cx, func(b adminBackend) error {
						return b.setUserLimits(a[0], vhost.UserLimits{MaxConnections: cx.Int64("max-connections"), MaxChannels: cx.Int64("max-channels")})
					})
				},
			},
		},
	}
}

func vhostsCommand() *cli.Command {
	return &cli.Command{
		Name:  "vhosts",
		Usage: "add, list and delete virtual hosts (a stopped broker's data folder, or --url)",
		Flags: adminFlags,
		Subcommands: []*cli.Command{
			{
				Name: "add", Usage: "add a virtual host with its predeclared exchanges", ArgsUsage: "NAME",
				Action: func(cx *cli.Context) error {
					a, err := args(cx, 1, 1, "add NAME")
					if err != nil {
						return err
					}
					return withAdmin(cx, func(b adminBackend) error { return b.addVHost(a[0]) })
				},
			},
			{
				Name: "list", Usage: "list virtual hosts",
				Action: func(cx *cli.Context) error {
					return withAdmin(cx, func(b adminBackend) error {
						vs, err := b.vhosts()
						if err != nil {
							return err
						}
						var rows [][]string
						for _, v := range vs {
							rows = append(rows, []string{v.Name, limitString(int64(v.Queues)), limitString(v.Limits.MaxConnections), limitString(v.Limits.MaxQueues)})
						}
						return table(cx.App.Writer, "name\tqueues\tmax-connections\tmax-queues", rows)
					})
				},
			},
			{
				Name: "delete", Usage: "delete a virtual host with its queues, exchanges and permissions", ArgsUsage: "NAME",
				Action: func(cx *cli.Context) error {
					a, err := args(cx, 1, 1, "delete NAME")
					if err != nil {
						return err
					}
					return withAdmin(cx, func(b adminBackend) error { return b.deleteVHost(a[0]) })
				},
			},
			{
				Name: "set-limits", Usage: "set a virtual host's limits (RabbitMQ's set_vhost_limits)", ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.Int64Flag{Name: "max-connections", Value: vhost.NoLimit, Usage: "connections to the vhost at once; -1: no limit"},
					&cli.Int64Flag{Name: "max-queues", Value: vhost.NoLimit, Usage: "queues in the vhost; -1: no limit"},
				},
				Action: func(cx *cli.Context) error {
					a, err := args(cx, 1, 1, "set-limits NAME [--max-connections N] [--max-queues N]")
					if err != nil {
						return err
					}
					return withAdmin(cx, func(b adminBackend) error {
						return b.setVHostLimits(a[0], vhost.VHostLimits{MaxConnections: cx.Int64("max-connections"), MaxQueues: cx.Int64("max-queues")})
					})
				},
			},
		},
	}
}

func permissionsCommand() *cli.Command {
	vhostFlag := &cli.StringFlag{Name: "vhost", Aliases: []string{"p"}, Value: "/", Usage: "virtual host"}
	return &cli.Command{
		Name:  "permissions",
		Usage: "set, clear and list permissions (a stopped broker's data folder, or --url)",
		Flags: adminFlags,
		Subcommands: []*cli.Command{
			{
				Name: "set", Usage: "set a user's configure, write and read regular expressions on a vhost",
				ArgsUsage: "USER CONFIGURE WRITE READ", Flags: []cli.Flag{vhostFlag},
				Action: func(cx *cli.Context) error {
					a, err := args(cx, 4, 4, "set [-p VHOST] USER CONFIGURE WRITE READ")
					if err != nil {
						return err
					}
					return withAdmin(cx, func(b adminBackend) error { return b.setPermissions(a[0], cx.String("vhost"), a[1], a[2], a[3]) })
				},
			},
			{
				Name: "clear", Usage: "remove a user's permissions on a vhost", ArgsUsage: "USER", Flags: []cli.Flag{vhostFlag},
				Action: func(cx *cli.Context) error {
					a, err := args(cx, 1, 1, "clear [-p VHOST] USER")
					if err != nil {
						return err
					}
					return withAdmin(cx, func(b adminBackend) error { return b.clearPermissions(a[0], cx.String("vhost")) })
				},
			},
			{
				Name: "list", Usage: "list permissions (of one vhost with -p)",
				Flags: []cli.Flag{&cli.StringFlag{Name: "vhost", Aliases: []string{"p"}, Usage: "only this virtual host"}},
				Action: func(cx *cli.Context) error {
					return withAdmin(cx, func(b adminBackend) error {
						ps, err := b.permissions()
						if err != nil {
							return err
						}
						var rows [][]string
						for _, p := range ps {
							if v := cx.String("vhost"); v == "" || v == p.VHost {
								rows = append(rows, []string{p.VHost, p.User, p.Configure, p.Write, p.Read})
							}
						}
						return table(cx.App.Writer, "vhost\tuser\tconfigure\twrite\tread", rows)
					})
				},
			},
			{
				Name: "set-topic", Usage: "set a user's write and read expressions on the routing keys of a topic exchange",
				ArgsUsage: "USER EXCHANGE WRITE READ", Flags: []cli.Flag{vhostFlag},
				Action: func(cx *cli.Context) error {
					a, err := args(cx, 4, 4, "set-topic [-p VHOST] USER EXCHANGE WRITE READ")
					if err != nil {
						return err
					}
					return withAdmin(cx, func(b adminBackend) error {
						return b.setTopicPermissions(a[0], cx.String("vhost"), a[1], a[2], a[3])
					})
				},
			},
			{
				Name: "clear-topic", Usage: "remove a user's topic permissions on a vhost (one exchange's when given)",
				ArgsUsage: "USER [EXCHANGE]", Flags: []cli.Flag{vhostFlag},
				Action: func(cx *cli.Context) error {
					a, err := args(cx, 1, 2, "clear-topic [-p VHOST] USER [EXCHANGE]")
					if err != nil {
						return err
					}
					x := ""
					if len(a) == 2 {
						x = a[1]
					}
					return withAdmin(cx, func(b adminBackend) error { return b.clearTopicPermissions(a[0], cx.String("vhost"), x) })
				},
			},
			{
				Name: "list-topic", Usage: "list topic permissions",
				Action: func(cx *cli.Context) error {
					return withAdmin(cx, func(b adminBackend) error {
						ps, err := b.topicPermissions()
						if err != nil {
							return err
						}
						var rows [][]string
						for _, p := range ps {
							rows = append(rows, []string{p.VHost, p.User, p.Exchange, p.Write, p.Read})
						}
						return table(cx.App.Writer, "vhost\tuser\texchange\twrite\tread", rows)
					})
				},
			},
		},
	}
}
