package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// A definitions file with one administrator, "admin" (password "secret", hashed as
// RabbitMQ hashes it), and one vhost, "app": no guest and no "/".
const bootDefinitions = `{
 "users": [{"name": "admin", "password": "secret", "tags": ["administrator"], "limits": {}}],
 "vhosts": [{"name": "app"}],
 "permissions": [{"user": "admin", "vhost": "app", "configure": ".*", "write": ".*", "read": ".*"}],
 "queues": [{"name": "orders", "vhost": "app", "durable": true, "auto_delete": false, "arguments": {}}]
}`

// RabbitMQ seeds a blank node with the default user and vhost only when it has no
// definitions to import at boot (rabbit:maybe_insert_default_data/0). A blank warren
// started with --load-definitions has what the file defines and nothing else, in memory
// and with a data folder; a data folder that had the default user keeps it.
func TestLoadDefinitionsSkipsDefaultUser(t *testing.T) {
	bin := buildWarren(t)
	defs := filepath.Join(t.TempDir(), "defs.json")
	if err := os.WriteFile(defs, []byte(bootDefinitions), 0o644); err != nil {
		t.Fatal(err)
	}
	stop := func(p *proc) {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Fatal("warren did not stop within 10 s")
		}
	}

	t.Run("in memory", func(t *testing.T) {
		_, addr := startWarren(t, bin, "--listen", "127.0.0.1:0", "--in-memory", "--load-definitions", defs)
		if err := dialAs(addr, "admin:secret", "app"); err != nil {
			t.Fatalf("admin on app: %v", err)
		}
		if err := dialAs(addr, "guest:guest", ""); err == nil {
			t.Fatal("guest logged in: the default user was created")
		}
		if err := dialAs(addr, "admin:secret", "%2F"); err == nil {
			t.Fatal("vhost / exists: the default vhost was created")
		}
	})

	t.Run("blank data folder, then restarts", func(t *testing.T) {
		data := t.TempDir()
		p, addr := startWarren(t, bin, "--listen", "127.0.0.1:0", "--data-dir", data, "--load-definitions", defs)
		if err := dialAs(addr, "guest:guest", ""); err == nil {
			t.Fatal("guest logged in on a blank folder started with definitions")
		}
		stop(p)
		// Without the file, the folder is not blank any more: nothing is seeded either.
		p, addr = startWarren(t, bin, "--listen", "127.0.0.1:0", "--data-dir", data)
		if err := dialAs(addr, "guest:guest", ""); err == nil {
			t.Fatal("guest appeared at a restart")
		}
		if err := dialAs(addr, "admin:secret", "app"); err != nil {
			t.Fatalf("admin after a restart: %v", err)
		}
		stop(p)
	})

	t.Run("data folder with the default user", func(t *testing.T) {
		data := t.TempDir()
		p, _ := startWarren(t, bin, "--listen", "127.0.0.1:0", "--data-dir", data)
		stop(p)
		_, addr := startWarren(t, bin, "--listen", "127.0.0.1:0", "--data-dir", data, "--load-definitions", defs)
		if err := dialAs(addr, "guest:guest", ""); err != nil {
			t.Fatalf("guest of the existing folder: %v", err)
		}
		if err := dialAs(addr, "admin:secret", "app"); err != nil {
			t.Fatalf("admin imported over existing data: %v", err)
		}
	})
}

// dialAs opens and closes one connection as user ("name:password") to vhost vh.
func dialAs(addr, user, vh string) error {
	c, err := amqp091.Dial("amqp://" + user + "@" + addr + "/" + vh)
	if err == nil {
		c.Close()
	}
	return err
}
