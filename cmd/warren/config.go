package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// A RabbitMQ configuration file (rabbitmq.conf, the "new style" sysctl format of
// RW:docs/configure.md) given with --config or RABBITMQ_CONFIG_FILE sets warren's
// flags, so that a development setup written for RabbitMQ, load_definitions among it,
// starts warren unchanged. Flags and environment variables win over the file, as
// RabbitMQ's environment wins over its file for the settings both have. Keys warren
// has no use for are reported, one warning each, and otherwise ignored.

func configFlag() cli.Flag {
	return &cli.StringFlag{Name: "config", EnvVars: []string{"WARREN_CONFIG", "RABBITMQ_CONFIG_FILE"},
		Usage: "a RabbitMQ configuration file (rabbitmq.conf format) whose known settings apply where no flag is given (load_definitions, listeners, management and prometheus ports, default_user, memory and disk limits, ssl_options, …)"}
}

// confSetting is one key = value line of a rabbitmq.conf file.
type confSetting struct {
	line       int
	key, value string
}

// readConf parses the rabbitmq.conf format: one "key = value" a line, blank lines
// and lines starting with # ignored. RabbitMQ's file may be named without its .conf
// suffix in RABBITMQ_CONFIG_FILE; the Erlang-term format (advanced.config, or a
// classic rabbitmq.config) is refused with a message.
func readConf(path string) ([]confSetting, error) {
	f, err := os.Open(path)
	if err != nil && !strings.HasSuffix(path, ".conf") {
		if g, err2 := os.Open(path + ".conf"); err2 == nil {
			f, err, path = g, nil, path+".conf"
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read --config: %w", err)
	}
	defer f.Close()
	if strings.HasSuffix(path, ".config") {
		return nil, fmt.Errorf("--config %s: an Erlang-term file; warren reads the rabbitmq.conf (key = value) format only", path)
	}
	return parseConf(f, path)
}

// parseConf reads settings in the rabbitmq.conf format from r; path names it in errors.
func parseConf(r io.Reader, path string) ([]confSetting, error) {
	var out []confSetting
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok || key == "" {
			return nil, fmt.Errorf("--config %s:%d: want key = value, got %q", path, n, line)
		}
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		out = append(out, confSetting{line: n, key: key, value: value})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read --config %s: %w", path, err)
	}
	return out, nil
}

// confDirect are the rabbitmq.conf keys whose value is the flag's as it stands.
var confDirect = map[string]string{
	"load_definitions": "load-definitions", "management.load_definitions": "load-definitions",
	"default_user": "default-user", "default_pass": "default-pass",
	"channel_max": "channel-max", "frame_max": "frame-max", "max_message_size": "max-message-size",
	"ssl_options.certfile": "tls-cert", "ssl_options.keyfile": "tls-key", "ssl_options.cacertfile": "tls-ca",
}

// confFlags maps rabbitmq.conf settings to flag values. The result holds one value per
// flag (a later line wins, as in RabbitMQ) and the keys it did not use.
func confFlags(settings []confSetting, totalMem uint64) (flags map[string]string, ignored []string, err error) {
	flags = map[string]string{}
	var (
		mgmtIP, mgmtPort   string
		promIP, promPort   string
		loopback           = map[string]bool{}
		loopbackSet        bool
		verifyPeer, noPeer bool
	)
	for _, s := range settings {
		k, v := s.key, s.value
		bad := func(want string) error {
			return fmt.Errorf("--config line %d: %s = %q: want %s", s.line, k, v, want)
		}
		if flag, ok := confDirect[k]; ok {
			flags[flag] = v
			continue
		}
		switch {
		case strings.HasPrefix(k, "listeners.tcp."), strings.HasPrefix(k, "listeners.ssl."):
			addr, err := confListener(v)
			if err != nil {
				return nil, nil, bad("a port or ip:port")
			}
			if strings.HasPrefix(k, "listeners.tcp.") {
				flags["listen"] = addr
			} else {
				flags["tls-listen"] = addr
			}
		case k == "listeners.tcp" && v == "none":
			return nil, nil, fmt.Errorf("--config line %d: listeners.tcp = none: warren always serves plain AMQP (use --listen 127.0.0.1:0 to keep it local)", s.line)
		case k == "management.tcp.port", k == "management.listener.port":
			mgmtPort = v
		case k == "management.tcp.ip", k == "management.listener.ip":
			mgmtIP = v
		case k == "prometheus.tcp.port":
			promPort = v
		case k == "prometheus.tcp.ip":
			promIP = v
		case k == "loopback_users" && v == "none":
			loopbackSet, loopback = true, map[string]bool{}
		case strings.HasPrefix(k, "loopback_users."):
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, nil, bad("true or false")
			}
			loopbackSet = true
			loopback[strings.TrimPrefix(k, "loopback_users.")] = b
		case k == "vm_memory_high_watermark.relative":
			flags["vm-memory-high-watermark"] = v
		case k == "vm_memory_high_watermark.absolute", k == "disk_free_limit.absolute":
			n, err := confBytes(v)
			if err != nil {
				return nil, nil, bad("an integer number of bytes, with an optional unit (k, M, G, kB, MB, GB, KiB, MiB, GiB)")
			}
			// With a "B" the flag reads as bytes: a bare integer is a fraction of memory
			// to --vm-memory-high-watermark.
			flag := "disk-free-limit"
			if k == "vm_memory_high_watermark.absolute" {
				flag = "vm-memory-high-watermark"
			}
			flags[flag] = strconv.FormatUint(n, 10) + "B"
		case k == "disk_free_limit.relative":
			// RabbitMQ: a multiple of the machine's total memory (RW:docs/disk-alarms.md).
			r, err := strconv.ParseFloat(v, 64)
			if err != nil || r < 0 {
				return nil, nil, bad("a non-negative number")
			}
			flags["disk-free-limit"] = strconv.FormatUint(uint64(r*float64(totalMem)), 10)
		case k == "connection_max":
			if v != "infinity" {
				flags["max-connections"] = v
			}
		case k == "ssl_options.verify":
			verifyPeer = v == "verify_peer"
		case k == "ssl_options.fail_if_no_peer_cert":
			noPeer = v == "true"
		case strings.HasPrefix(k, "log.") && strings.HasSuffix(k, ".level"):
			// RabbitMQ's levels (rabbit.schema 3.10.8): debug, info, notice, warning, error,
			// critical, alert, emergency, none; a file's may be written "=level" (that level
			// only), which warren reads as the level.
			lvl := map[string]string{"debug": "debug", "info": "info", "notice": "info", "warning": "warn",
				"error": "error", "critical": "error", "alert": "error", "emergency": "error",
				"none": "error"}[strings.TrimPrefix(v, "=")]
			if lvl == "" {
				return nil, nil, bad("debug, info, warning, error or critical")
			}
			flags["log-level"] = lvl
		default:
			ignored = append(ignored, k)
		}
	}
	if mgmtPort != "" || mgmtIP != "" {
		flags["http-listen"] = net.JoinHostPort(mgmtIP, cmp(mgmtPort, "15672"))
	}
	if promPort != "" || promIP != "" {
		flags["metrics-listen"] = net.JoinHostPort(promIP, cmp(promPort, "15692"))
	}
	if loopbackSet {
		// The list becomes the users set true, as the rabbit.loopback_users translation in
		// rabbit.schema (3.10.8) builds it: naming users replaces the default [guest].
		users := []string{}
		for u, on := range loopback {
			if on {
				users = append(users, u)
			}
		}
		if len(users) == 0 {
			flags["loopback-users"] = "none"
		} else {
			slices.Sort(users)
			flags["loopback-users"] = strings.Join(users, ",")
		}
	}
	if verifyPeer && noPeer {
		flags["tls-require-client-cert"] = "true"
	}
	return flags, ignored, nil
}

// confBytes reads an information unit as rabbit_resource_monitor_misc:
// parse_information_unit/1 (3.10.8) does: digits, then optionally k, M or G (any case;
// also kiB, MiB, GiB), which are powers of 1024, or kB, MB, GB, powers of 1000. Unlike
// --disk-free-limit's sizes, a single letter is binary and fractions are refused.
func confBytes(v string) (uint64, error) {
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	n, err := strconv.ParseUint(v[:i], 10, 64)
	if err != nil {
		return 0, err
	}
	var mult uint64
	switch u := strings.ToLower(v[i:]); u {
	case "":
		mult = 1
	case "k", "kib":
		mult = 1 << 10
	case "m", "mib":
		mult = 1 << 20
	case "g", "gib":
		mult = 1 << 30
	case "kb":
		mult = 1e3
	case "mb":
		mult = 1e6
	case "gb":
		mult = 1e9
	default:
		return 0, fmt.Errorf("unknown unit %q", v[i:])
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("%s is too large", v)
	}
	return n * mult, nil
}

// confListener reads a listeners.tcp.* value: a port, or ip:port ([::1]:5672 too).
func confListener(v string) (string, error) {
	if _, err := strconv.ParseUint(v, 10, 16); err == nil {
		return ":" + v, nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", err
	}
	return net.JoinHostPort(host, port), nil
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// applyConfig sets every flag the --config file names and the command line and
// environment leave unset. It returns the keys it ignored, for the caller to log.
func applyConfig(cx *cli.Context) (ignored []string, err error) {
	path := cx.String("config")
	if path == "" {
		return nil, nil
	}
	settings, err := readConf(path)
	if err != nil {
		return nil, err
	}
	flags, ignored, err := confFlags(settings, totalMemory())
	if err != nil {
		return nil, err
	}
	for name, value := range flags {
		if cx.IsSet(name) {
			continue
		}
		if err := cx.Set(name, value); err != nil {
			return nil, fmt.Errorf("--config: %s from the file: %w", name, err)
		}
	}
	return ignored, nil
}
