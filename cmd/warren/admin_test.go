package main

import (
	"bytes"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/cmd/warren/mgmt"
	"github.com/warrenmq/warren/store"
	"github.com/warrenmq/warren/vhost"
)

// run runs warren with args in-process and returns its output.
func run(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	app := newApp()
	var out bytes.Buffer
	app.Writer, app.ErrWriter, app.Reader = &out, &out, strings.NewReader(stdin)
	err := app.Run(append([]string{"warren"}, args...))
	return out.String(), err
}

func TestAdminCommandsEditTheDataFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d := "--data-dir=" + dir
	steps := [][]string{
		{"vhosts", d, "add", "apps"},
		{"users", d, "add", "--tags", "management", "alice", "s3cret"},
		{"users", d, "add", "--no-password", "cert-user"},
		// A user exported from RabbitMQ: salt+SHA-256 of "guest" (rabbitmqctl hash_password style).
		{"users", d, "add", "--password-hash", vhost.EncodeHash(mustHash(t, "imported-pw")), "importer"},
		{"permissions", d, "set", "-p", "apps", "alice", "^alice\\.", ".*", ".*"},
		{"permissions", d, "set-topic", "-p", "apps", "alice", "amq.topic", "^a\\.", ".*"},
		{"users", d, "set-tags", "alice", "monitoring", "policymaker"},
		{"users", d, "set-limits", "--max-connections", "3", "alice"},
		{"vhosts", d, "set-limits", "--max-queues", "10", "apps"},
	}
	for _, s := range steps {
		if out, err := run(t, "", s...); err != nil {
			t.Fatalf("warren %s: %v\n%s", strings.Join(s, " "), err, out)
		}
	}
	if _, err := run(t, "pw-from-stdin\n", "users", d, "add", "bob"); err != nil {
		t.Fatal(err)
	}

	out, err := run(t, "", "users", d, "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"alice", "[monitoring, policymaker]", "cert-user", "guest", "importer", "bob"} {
		if !strings.Contains(out, want) {
			t.Fatalf("users list lacks %q:\n%s", want, out)
		}
	}
	out, err = run(t, "", "permissions", d, "list", "-p", "apps")
	if err != nil || !strings.Contains(out, `^alice\.`) || strings.Contains(out, "guest") {
		t.Fatalf("permissions list -p apps: %v\n%s", err, out)
	}

	// What the broker finds at its next start.
	st, err := store.Open(dir, store.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := vhost.New(vhost.Config{Logger: zerolog.Nop(), Store: st})
	if err != nil {
		t.Fatal(err)
	}
	for user, pass := range map[string]string{"alice": "s3cret", "guest": "guest", "importer": "imported-pw", "bob": "pw-from-stdin"} {
		if _, err := b.Authenticate(user, pass); err != nil {
			t.Errorf("%s: %v", user, err)
		}
	}
	if _, err := b.Authenticate("cert-user", "x"); err == nil {
		t.Error("a passwordless user logged in with a password")
	}
	if l := b.VHost("apps").Limits(); l.MaxQueues != 10 || l.MaxConnections != vhost.NoLimit {
		t.Errorf("vhost limits %+v", l)
	}

	// The running broker holds the folder: the command says what to do.
	out, err = run(t, "", "users", d, "list")
	if err == nil || !strings.Contains(err.Error(), "use --url") {
		t.Fatalf("with the folder in use: %v\n%s", err, out)
	}
	b.Close()
	st.Close()

	if out, err := run(t, "", "vhosts", d, "delete", "apps"); err != nil {
		t.Fatal(err, out)
	}
	out, _ = run(t, "", "permissions", d, "list")
	if strings.Contains(out, "apps") {
		t.Fatalf("permissions on a deleted vhost remain:\n%s", out)
	}
	if _, err := run(t, "", "users", d, "delete", "nobody"); err == nil {
		t.Fatal("deleting a missing user succeeded")
	}
}

func mustHash(t *testing.T, pw string) []byte {
	h, err := vhost.HashPassword(vhost.HashSHA256, pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// With --url the same commands change a running broker through the management API.
func TestAdminCommandsThroughTheManagementAPI(t *testing.T) {
	b, err := vhost.New(vhost.Config{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	api := httptest.NewServer(mgmt.New(mgmt.Config{Broker: b, Logger: zerolog.Nop()}))
	defer api.Close()
	u := "--url=" + strings.Replace(api.URL, "http://", "http://guest:guest@", 1)
	steps := [][]string{
		{"vhosts", u, "add", "apps"},
		{"users", u, "add", "--tags", "management", "alice", "s3cret"},
		{"users", u, "add", "--no-password", "cert-user"},
		{"users", u, "add", "--password-hash", vhost.EncodeHash(mustHash(t, "imported-pw")), "importer"},
		{"permissions", u, "set", "-p", "apps", "alice", "^alice\\.", ".*", ".*"},
		{"permissions", u, "set-topic", "-p", "apps", "alice", "amq.topic", "^a\\.", ".*"},
		{"users", u, "set-tags", "alice", "monitoring"},
		{"users", u, "set-password", "importer", "changed"},
	}
	for _, s := range steps {
		if out, err := run(t, "", s...); err != nil {
			t.Fatalf("warren %s: %v\n%s", strings.Join(s, " "), err, out)
		}
	}
	for user, pass := range map[string]string{"alice": "s3cret", "importer": "changed"} {
		if _, err := b.Authenticate(user, pass); err != nil {
			t.Errorf("%s: %v", user, err)
		}
	}
	if out, err := run(t, "", "users", u, "list"); err != nil || !strings.Contains(out, "[monitoring]") || !strings.Contains(out, "cert-user") {
		t.Fatalf("users list: %v\n%s", err, out)
	}
	if out, err := run(t, "", "permissions", u, "list-topic"); err != nil || !strings.Contains(out, "amq.topic") {
		t.Fatalf("topic list: %v\n%s", err, out)
	}
	if _, err := run(t, "", "users", u, "add", "alice", "again"); err == nil {
		t.Fatal("adding an existing user succeeded")
	}
	for _, s := range [][]string{{"permissions", u, "clear", "-p", "apps", "alice"}, {"vhosts", u, "delete", "apps"}, {"users", u, "delete", "alice"}} {
		if out, err := run(t, "", s...); err != nil {
			t.Fatalf("warren %s: %v\n%s", strings.Join(s, " "), err, out)
		}
	}
	if b.VHost("apps") != nil || len(b.Permissions()) != 1 {
		t.Fatalf("left: %+v", b.Permissions())
	}
	if _, err := run(t, "", "users", "--url=http://guest:wrong@"+strings.TrimPrefix(api.URL, "http://"), "list"); err == nil ||
		!strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong password: %v", err)
	}
}
