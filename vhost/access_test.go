package vhost

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/amqp/wire"
)

// Hashes exported by RabbitMQ 3.10.8 (rabbitmqctl export_definitions), and SHA-512 and MD5
// ones computed independently (Python hashlib) for salt 01020304 and password "secret".
func TestPasswordHashesInRabbitMQFormat(t *testing.T) {
	cases := []struct {
		alg       HashAlg
		hash, pwd string
	}{
		{HashSHA256, "yiGy7oJlDiTRqnmWN66ZkgRB01QITsFKNnKWcT6LXRdtTkrJ", "test12"},
		{HashSHA256, "xyzo1ShB2fdMZulVLfT04/rFTXjdcvOHByI2aggyvudH16E2", "guest"},
		{HashSHA512, "AQIDBPhTH2L5HGYB1LWOrn+YpvuQmVOXKGqgsuiJRIZTILRoEvblSJo/WAsym3IZTfuaIaK5KR2o5KwFfTv6KsxfMIE=", "secret"},
		{HashMD5, "AQIDBDgk9ci8Lfh6CKE9Y0AUfmU=", "secret"},
	}
	for _, tc := range cases {
		t.Run(string(tc.alg)+"/"+tc.pwd, func(t *testing.T) {
			h, err := DecodeHash(tc.alg, tc.hash)
			must(t, err)
			if !checkPassword(tc.alg, h, tc.pwd) || checkPassword(tc.alg, h, tc.pwd+"x") {
				t.Fatal("hash does not verify as RabbitMQ's")
			}
			if got := EncodeHash(h); got != tc.hash {
				t.Fatalf("re-encoded %s", got)
			}
			// Imported, the user logs in.
			b, err := New(Config{Logger: zerolog.Nop()})
			must(t, err)
			must(t, b.PutUser(UserInfo{Name: "imported", HashAlg: tc.alg, PasswordHash: h, Limits: Unlimited}))
			if _, err := b.Authenticate("imported", tc.pwd); err != nil {
				t.Fatal(err)
			}
		})
	}
	h, err := HashPassword(HashSHA256, "pw")
	must(t, err)
	h2, _ := HashPassword(HashSHA256, "pw")
	if len(h) != 36 || slices.Equal(h, h2) || !checkPassword(HashSHA256, h, "pw") {
		t.Fatalf("HashPassword: %x %x", h, h2)
	}
	if _, err := DecodeHash(HashSHA256, "AQIDBDgk9ci8Lfh6CKE9Y0AUfmU="); err == nil {
		t.Fatal("an MD5-sized hash was accepted as SHA-256")
	}
	if _, err := ParseHashAlg("rabbit_password_hashing_sha1"); err == nil {
		t.Fatal("unknown algorithm accepted")
	}
}

func TestUsers(t *testing.T) {
	b, err := New(Config{Logger: zerolog.Nop()})
	must(t, err)
	must(t, b.AddUser("alice", "pw", []string{"management"}))
	if err := b.AddUser("alice", "pw", nil); !errors.Is(err, ErrUserExists) {
		t.Fatalf("duplicate: %v", err)
	}
	u, err := b.Authenticate("alice", "pw")
	must(t, err)
	if u.Name != "alice" || u.LoopbackOnly || !slices.Equal(u.Tags, []string{"management"}) {
		t.Fatalf("%+v", u)
	}
	for _, c := range []struct{ user, pass, reason string }{
		{"alice", "wrong", "vhost: user 'alice' - invalid credentials"},
		{"nobody", "pw", "vhost: user 'nobody' - invalid credentials"},
		{"alice", "", "vhost: user 'alice' attempted to log in with a blank password, which is prohibited by the internal authN backend"},
	} {
		_, err := b.Authenticate(c.user, c.pass)
		if !errors.Is(err, ErrAuth) || err.Error() != c.reason {
			t.Errorf("%s/%q: %v", c.user, c.pass, err)
		}
	}
	must(t, b.SetPassword("alice", "new"))
	if _, err := b.Authenticate("alice", "new"); err != nil {
		t.Fatal(err)
	}
	must(t, b.SetTags("alice", []string{"administrator"}))
	if u2, _ := b.Authenticate("alice", "new"); !slices.Equal(u2.Tags, []string{"administrator"}) || !slices.Equal(u.Tags, []string{"management"}) {
		t.Fatal("tags: the new login sees the new tags, the old one keeps its own")
	}
	// Passwordless: EXTERNAL only.
	must(t, b.AddUser("cert", "", nil))
	if _, err := b.Authenticate("cert", "x"); err == nil {
		t.Fatal("passwordless user logged in with a password")
	}
	if _, err := b.AuthenticateExternal("cert"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AuthenticateExternal("nobody"); !errors.Is(err, ErrAuth) {
		t.Fatal(err)
	}
	must(t, b.DeleteUser("alice"))
	if err := b.DeleteUser("alice"); !errors.Is(err, ErrNoUser) {
		t.Fatal(err)
	}
	if names := userNames(b); !slices.Equal(names, []string{"cert", "guest"}) {
		t.Fatal(names)
	}
}

func userNames(b *Broker) []string {
	var n []string
	for _, u := range b.Users() {
		n = append(n, u.Name)
	}
	return n
}

func TestLoopbackUsers(t *testing.T) {
	b, err := New(Config{Logger: zerolog.Nop(), LoopbackUsers: []string{"local"}})
	must(t, err)
	must(t, b.AddUser("local", "pw", nil))
	u, _ := b.Authenticate("local", "pw")
	g, _ := b.Authenticate("guest", "guest")
	if !u.LoopbackOnly || g.LoopbackOnly {
		t.Fatal("loopback_users not applied")
	}
}

func TestPermissionSemantics(t *testing.T) {
	b, err := New(Config{Logger: zerolog.Nop()})
	must(t, err)
	must(t, b.AddUser("u", "pw", nil))
	if err := b.SetPermissions("u", "/", "(?=x)", "", ""); err == nil {
		t.Fatal("an expression RE2 cannot compile was accepted")
	}
	if err := b.SetPermissions("u", "nope", ".*", ".*", ".*"); !errors.Is(err, ErrNoVHost) {
		t.Fatal(err)
	}
	if err := b.SetPermissions("nobody", "/", ".*", ".*", ".*"); !errors.Is(err, ErrNoUser) {
		t.Fatal(err)
	}
	// configure: unanchored search; write: empty = "^$"; read: the default exchange is amq.default.
	must(t, b.SetPermissions("u", "/", `app\.`, "", `^amq\.default$`))
	u, _ := b.Authenticate("u", "pw")
	s, err := b.Open(u, "/", nil)
	must(t, err)
	defer s.Close(0)
	a := &s.Access
	for _, c := range []struct {
		perm       Perm
		kind, name string
		ok         bool
	}{
		{Configure, KindQueue, "my.app.q", true},
		{Configure, KindQueue, "other", false},
		{Write, KindExchange, "x", false},
		{Read, KindExchange, "", true},
		{Read, KindExchange, "amq.default", true},
	} {
		if err := a.Check(c.perm, c.kind, c.name); (err == nil) != c.ok {
			t.Errorf("%s %s %q: %v", c.perm, c.kind, c.name, err)
		}
	}
	wantErr(t, a.Check(Write, KindExchange, ""), wire.AccessRefused,
		"write access to exchange 'amq.default' in vhost '/' refused for user 'u'")
	wantErr(t, a.CheckAny(KindQueue, "other"), wire.AccessRefused,
		"configure access to queue 'other' in vhost '/' refused for user 'u'")
	must(t, a.CheckAny(KindExchange, "")) // read on amq.default

	// Topic permissions: none for an exchange allows everything; variables expand escaped.
	must(t, a.CheckTopic(Write, "amq.topic", "anything"))
	must(t, b.SetTopicPermissions("u", "/", "amq.topic", `^{username}\.{vhost}\.`, "^r$"))
	must(t, a.CheckTopic(Write, "amq.topic", "u./.x"))
	wantErr(t, a.CheckTopic(Write, "amq.topic", "v./.x"), wire.AccessRefused,
		"write access to topic 'v./.x' in exchange 'amq.topic' in vhost '/' refused for user 'u'")
	must(t, a.CheckTopic(Read, "amq.topic", "r"))
	must(t, a.CheckTopic(Read, "other.topic", "x"))
	if !a.HasTopicPermissions("amq.topic") || a.HasTopicPermissions("other.topic") {
		t.Fatal("HasTopicPermissions")
	}
	must(t, b.ClearTopicPermissions("u", "/", ""))
	must(t, a.CheckTopic(Write, "amq.topic", "v./.x"))

	// Changes apply to the next check.
	must(t, b.ClearPermissions("u", "/"))
	if err := a.Check(Configure, KindQueue, "my.app.q"); err == nil {
		t.Fatal("cleared permission still allows")
	}
}

func TestSessionsAndLimits(t *testing.T) {
	b, err := New(Config{Logger: zerolog.Nop()})
	must(t, err)
	must(t, b.AddVHost("v"))
	must(t, b.AddUser("u", "pw", nil))
	must(t, b.SetPermissions("u", "v", ".*", ".*", ".*"))
	u, _ := b.Authenticate("u", "pw")

	_, err = b.Open(u, "nope", nil)
	wantHard(t, err, wire.NotAllowed, "vhost nope not found")
	_, err = b.Open(u, "/", nil)
	wantHard(t, err, wire.NotAllowed, "access to vhost '/' refused for user 'u'")

	must(t, b.SetVHostLimits("v", VHostLimits{MaxConnections: 1, MaxQueues: 1}))
	var mu sync.Mutex
	var forced []string
	force := func(text string) { mu.Lock(); forced = append(forced, text); mu.Unlock() }
	s1, err := b.Open(u, "v", force)
	must(t, err)
	_, err = b.Open(u, "v", nil)
	wantHard(t, err, wire.NotAllowed, "access to vhost 'v' refused for user 'u': connection limit (1) is reached")
	if b.Connections("v") != 1 {
		t.Fatal("connections")
	}
	s1.Close(0)
	s1.Close(0)
	if b.Connections("v") != 0 {
		t.Fatal("closed session still counted")
	}

	must(t, b.SetVHostLimits("v", NoVHostLimits))
	must(t, b.SetUserLimits("u", UserLimits{MaxConnections: 2, MaxChannels: 2}))
	s1, _ = b.Open(u, "v", force)
	s2, err := b.Open(u, "v", force)
	must(t, err)
	_, err = b.Open(u, "v", nil)
	wantHard(t, err, wire.NotAllowed, "connection refused for user 'u': user connection limit (2) is reached")
	must(t, s1.OpenChannel())
	must(t, s2.OpenChannel())
	wantHard(t, s1.OpenChannel(), wire.NotAllowed,
		"number of channels opened for user 'u' has reached the maximum allowed user limit of (2)")
	s2.CloseChannel()
	must(t, s1.OpenChannel())
	s1.Close(2) // its two channels go with it
	must(t, s2.OpenChannel())

	// max-queues counts new queues only.
	must(t, b.SetVHostLimits("v", VHostLimits{MaxConnections: NoLimit, MaxQueues: 1}))
	v := b.VHost("v")
	_, err = v.DeclareQueue(nil, "q1", false, false, false, false, nil)
	must(t, err)
	_, err = v.DeclareQueue(nil, "q1", false, false, false, false, nil)
	must(t, err)
	_, err = v.DeclareQueue(nil, "q2", false, false, false, false, nil)
	wantErr(t, err, wire.PreconditionFailed, "cannot declare queue 'q2': queue limit in vhost 'v' (1) is reached")
	_, err = v.DeclareServerNamed(nil, NewQueueName(), false, false, false, nil)
	if err == nil {
		t.Fatal("server-named queue over the limit")
	}

	// Deleting the vhost forces its sessions closed and drops its permissions.
	must(t, b.DeleteVHost("v"))
	mu.Lock()
	got := slices.Clone(forced)
	mu.Unlock()
	if !slices.Equal(got, []string{"vhost 'v' is deleted"}) {
		t.Fatalf("forced: %q", got)
	}
	if len(b.Permissions()) != 1 { // guest on /
		t.Fatalf("permissions left: %+v", b.Permissions())
	}
	s2.Close(1)
	if b.Connections("v") != 0 {
		t.Fatal("sessions left")
	}
}

func TestUsersSurviveRestart(t *testing.T) {
	d := newDisk(t, Config{Logger: zerolog.Nop()})
	b := d.b
	must(t, b.AddVHost("apps"))
	must(t, b.AddUser("alice", "pw", []string{"monitoring"}))
	must(t, b.SetPermissions("alice", "apps", "^a", "^b", "^c"))
	must(t, b.SetTopicPermissions("alice", "apps", "amq.topic", "^w", "^r"))
	must(t, b.SetUserLimits("alice", UserLimits{MaxConnections: 5, MaxChannels: NoLimit}))
	must(t, b.SetVHostLimits("apps", VHostLimits{MaxConnections: NoLimit, MaxQueues: 7}))
	must(t, b.DeleteUser("guest"))
	wantPerms := b.Permissions()
	wantTopics := b.TopicPermissions()

	d.close()
	d.open()
	b = d.b
	if names := userNames(b); !slices.Equal(names, []string{"alice"}) {
		t.Fatalf("users after restart: %v (guest must not come back)", names)
	}
	u, err := b.Authenticate("alice", "pw")
	must(t, err)
	if !slices.Equal(u.Tags, []string{"monitoring"}) || b.Users()[0].Limits.MaxConnections != 5 {
		t.Fatalf("%+v %+v", u, b.Users()[0])
	}
	if !slices.Equal(b.Permissions(), wantPerms) || !slices.Equal(b.TopicPermissions(), wantTopics) {
		t.Fatalf("permissions %+v %+v", b.Permissions(), b.TopicPermissions())
	}
	if l := b.VHost("apps").Limits(); l.MaxQueues != 7 {
		t.Fatalf("vhost limits %+v", l)
	}

	must(t, b.DeleteVHost("apps"))
	d.close()
	d.open()
	if len(d.b.Permissions()) != 0 || len(d.b.TopicPermissions()) != 0 {
		t.Fatalf("permissions on a deleted vhost came back: %+v", d.b.Permissions())
	}
}

func TestBlankFolderGetsTheDefaultUserOnce(t *testing.T) {
	d := newDisk(t, Config{Logger: zerolog.Nop(), DefaultUser: "admin", DefaultPass: "secret"})
	if _, err := d.b.Authenticate("admin", "secret"); err != nil {
		t.Fatal(err)
	}
	if !d.b.Permitted(d.b.Users()[0].user(d.b), "/") {
		t.Fatal("default user has no permission on /")
	}
	d.close()
	d.cfg.DefaultUser, d.cfg.DefaultPass = "other", "other"
	d.open()
	if names := userNames(d.b); !slices.Equal(names, []string{"admin"}) {
		t.Fatalf("users: %v", names)
	}
}

// user returns the logged-in user for an info, for tests.
func (u UserInfo) user(b *Broker) *User {
	b.acl.mu.RLock()
	defer b.acl.mu.RUnlock()
	return b.acl.mu.users[u.Name].user
}

// wantHard is wantErr for connection exceptions.
func wantHard(t testing.TB, err error, code uint16, text string) {
	t.Helper()
	var ex *wire.Exception
	if !errors.As(err, &ex) || ex.Code != code || !ex.Hard || ex.Text != text {
		t.Fatalf("got %v, want hard %d %q", err, code, text)
	}
}
