package main

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConf(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfFlags(t *testing.T) {
	p := writeConf(t, "rabbitmq.conf", `
# a development node
listeners.tcp.default = 5673
listeners.ssl.default = 127.0.0.1:5671
management.tcp.port = 15673
management.tcp.ip   = 127.0.0.1
prometheus.tcp.port = 15693
load_definitions = /etc/rabbitmq/definitions.json
default_user = "app"
default_pass = s3cret
loopback_users.guest = false
loopback_users.ops = true
vm_memory_high_watermark.relative = 0.6
disk_free_limit.relative = 1.5
channel_max = 128
frame_max = 65536
connection_max = infinity
ssl_options.certfile = /c.pem
ssl_options.keyfile = /k.pem
ssl_options.cacertfile = /ca.pem
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = true
log.console.level = warning
cluster_formation.peer_discovery_backend = classic_config
`)
	settings, err := readConf(p)
	if err != nil {
		t.Fatal(err)
	}
	flags, ignored, err := confFlags(settings, 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"listen": ":5673", "tls-listen": "127.0.0.1:5671",
		"http-listen": "127.0.0.1:15673", "metrics-listen": ":15693",
		"load-definitions": "/etc/rabbitmq/definitions.json",
		"default-user":     "app", "default-pass": "s3cret",
		"loopback-users":           "ops",
		"vm-memory-high-watermark": "0.6", "disk-free-limit": "1500",
		"channel-max": "128", "frame-max": "65536",
		"tls-cert": "/c.pem", "tls-key": "/k.pem", "tls-ca": "/ca.pem", "tls-require-client-cert": "true",
		"log-level": "warn",
	}
	if !maps.Equal(flags, want) {
		t.Errorf("flags:\n got %v\nwant %v", flags, want)
	}
	if len(ignored) != 1 || ignored[0] != "cluster_formation.peer_discovery_backend" {
		t.Errorf("ignored %v, want the cluster_formation key alone", ignored)
	}

	for _, bad := range []struct{ text, want string }{
		{"listeners.tcp.default = localhost", "want a port or ip:port"},
		{"loopback_users.guest = maybe", "want true or false"},
		{"just words", "want key = value"},
		{"listeners.tcp = none", "always serves plain AMQP"},
		{"log.file.level = chatty", "want debug, info"},
	} {
		settings, err := readConf(writeConf(t, "bad.conf", bad.text))
		if err == nil {
			_, _, err = confFlags(settings, 0)
		}
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: err %v, want %q", bad.text, err, bad.want)
		}
	}
	if _, err := readConf(writeConf(t, "rabbitmq.config", "[{rabbit, []}].")); err == nil || !strings.Contains(err.Error(), "Erlang-term") {
		t.Errorf("classic config: err %v", err)
	}
	if got := writeConf(t, "none.conf", "loopback_users = none"); true {
		s, _ := readConf(got)
		if f, _, _ := confFlags(s, 0); f["loopback-users"] != "none" {
			t.Errorf("loopback_users = none gave %q", f["loopback-users"])
		}
	}
}

// A rabbitmq.conf with load_definitions boots warren as it boots RabbitMQ: on its
// listener, with the file's users and queues and without guest; a flag on the command
// line wins over the file; RABBITMQ_CONFIG_FILE may name the file without its suffix.
func TestConfigFile(t *testing.T) {
	bin := buildWarren(t)
	defs := filepath.Join(t.TempDir(), "defs.json")
	if err := os.WriteFile(defs, []byte(bootDefinitions), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := writeConf(t, "rabbitmq.conf", "listeners.tcp.default = "+port+"\nload_definitions = "+defs+
		"\nloopback_users.guest = false\nmanagement.rates_mode = basic\n")

	first, addr := startWarren(t, bin, "--in-memory", "--config", conf)
	if addr != port {
		t.Fatalf("listening on %s, want the file's %s", addr, port)
	}
	if err := dialAs(addr, "admin:secret", "app"); err != nil {
		t.Fatalf("admin from the file's definitions: %v", err)
	}
	if err := dialAs(addr, "guest:guest", ""); err == nil {
		t.Fatal("guest logged in although load_definitions was set")
	}

	_, addr = startWarren(t, bin, "--in-memory", "--config", conf, "--listen", "127.0.0.1:0")
	if addr == port {
		t.Fatalf("--listen on the command line did not win over the file")
	}

	first.cmd.Process.Kill() // frees the file's port
	<-first.done
	t.Setenv("RABBITMQ_CONFIG_FILE", strings.TrimSuffix(conf, ".conf"))
	_, addr = startWarren(t, bin, "--in-memory")
	if addr != port {
		t.Fatalf("RABBITMQ_CONFIG_FILE: listening on %s, want %s", addr, port)
	}
	if err := dialAs(addr, "admin:secret", "app"); err != nil {
		t.Fatalf("RABBITMQ_CONFIG_FILE: %v", err)
	}
}

// The .absolute limits take RabbitMQ's information units (rabbit_resource_monitor_misc:
// parse_information_unit/1): a plain integer is bytes, and k, M, G (any case) are powers
// of 1024, as are kiB, MiB, GiB; kB, MB, GB are powers of 1000. The resulting flags must
// read back as the same byte counts (a plain integer is not a fraction of memory).
func TestConfAbsoluteUnits(t *testing.T) {
	for _, tc := range []struct {
		value string
		bytes uint64
	}{
		{"1073741824", 1 << 30},
		{"2G", 2 << 30},
		{"512m", 512 << 20},
		{"100k", 100 << 10},
		{"3GiB", 3 << 30},
		{"50MB", 50e6},
		{"2gb", 2e9},
	} {
		t.Run(tc.value, func(t *testing.T) {
			for _, key := range []string{"vm_memory_high_watermark.absolute", "disk_free_limit.absolute"} {
				flags, _, err := confFlags([]confSetting{{line: 1, key: key, value: tc.value}}, 16<<30)
				if err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				var got uint64
				if key == "disk_free_limit.absolute" {
					n, err := parseSize(flags["disk-free-limit"])
					if err != nil {
						t.Fatalf("%s: flag %q: %v", key, flags["disk-free-limit"], err)
					}
					got = uint64(n)
				} else if got, err = parseWatermark(flags["vm-memory-high-watermark"], 16<<30); err != nil {
					t.Fatalf("%s: flag %q: %v", key, flags["vm-memory-high-watermark"], err)
				}
				if got != tc.bytes {
					t.Errorf("%s = %s: %d bytes, want %d", key, tc.value, got, tc.bytes)
				}
			}
		})
	}
	if _, _, err := confFlags([]confSetting{{line: 1, key: "disk_free_limit.absolute", value: "1.5GB"}}, 0); err == nil {
		t.Error("1.5GB accepted; RabbitMQ wants an integer")
	}
}
