package conformance

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenmq/warren/conformance/warrentest"
	"github.com/warrenmq/warren/vhost"
)

// The permission matrix (issue 7): for each operation, a user with and one without the
// permission it needs, over the real client, with RabbitMQ's 403 and text.
//
// Against RabbitMQ set AMQP_URL (guest on a loopback node) and RABBITMQCTL to a command
// that runs rabbitmqctl on that node, e.g. for conformance/rabbitmq.sh start 5696 /tmp/rmq5696:
//
//	RABBITMQCTL="env HOME=/tmp/rmq5696 /usr/lib/rabbitmq/bin/rabbitmqctl -n warren-ref-5696@localhost"
//
// Without RABBITMQCTL the matrix is skipped there (RabbitMQ's default setup has only guest,
// with every permission on "/").

// aclAdmin creates users, vhosts and permissions on the broker under test.
type aclAdmin interface {
	addVHost(t *testing.T, name string)
	deleteVHost(t *testing.T, name string)
	addUser(t *testing.T, name, pass string)
	deleteUser(t *testing.T, name string)
	setPermissions(t *testing.T, user, vhost, configure, write, read string)
	setTopicPermissions(t *testing.T, user, vhost, exchange, write, read string)
	setTags(t *testing.T, user string, tags ...string)
	setVHostLimit(t *testing.T, vhost, limit string, n int)
	setUserLimit(t *testing.T, user, limit string, n int)
	rabbit() bool
}

type warrenAdmin struct{ b *vhost.Broker }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (w warrenAdmin) addVHost(t *testing.T, name string)    { must(t, w.b.AddVHost(name)) }
func (w warrenAdmin) deleteVHost(t *testing.T, name string) { must(t, w.b.DeleteVHost(name)) }
func (w warrenAdmin) addUser(t *testing.T, name, pass string) {
	must(t, w.b.AddUser(name, pass, nil))
}
func (w warrenAdmin) deleteUser(t *testing.T, name string) { must(t, w.b.DeleteUser(name)) }
func (w warrenAdmin) setPermissions(t *testing.T, user, vh, c, wr, r string) {
	must(t, w.b.SetPermissions(user, vh, c, wr, r))
}
func (w warrenAdmin) setTopicPermissions(t *testing.T, user, vh, x, wr, r string) {
	must(t, w.b.SetTopicPermissions(user, vh, x, wr, r))
}
func (w warrenAdmin) setTags(t *testing.T, user string, tags ...string) {
	must(t, w.b.SetTags(user, tags))
}
func (w warrenAdmin) setVHostLimit(t *testing.T, vh, limit string, n int) {
	l := w.b.VHost(vh).Limits()
	switch limit {
	case "max-connections":
		l.MaxConnections = int64(n)
	case "max-queues":
		l.MaxQueues = int64(n)
	}
	must(t, w.b.SetVHostLimits(vh, l))
}
func (w warrenAdmin) setUserLimit(t *testing.T, user, limit string, n int) {
	l := vhost.Unlimited
	for _, u := range w.b.Users() {
		if u.Name == user {
			l = u.Limits
		}
	}
	switch limit {
	case "max-connections":
		l.MaxConnections = int64(n)
	case "max-channels":
		l.MaxChannels = int64(n)
	}
	must(t, w.b.SetUserLimits(user, l))
}
func (warrenAdmin) rabbit() bool { return false }

// rabbitAdmin runs rabbitmqctl.
type rabbitAdmin struct{ ctl []string }

func (r rabbitAdmin) run(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(r.ctl[0], append(r.ctl[1:], args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rabbitmqctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
func (r rabbitAdmin) addVHost(t *testing.T, name string)    { r.run(t, "add_vhost", name) }
func (r rabbitAdmin) deleteVHost(t *testing.T, name string) { r.run(t, "delete_vhost", name) }
func (r rabbitAdmin) addUser(t *testing.T, name, pass string) {
	r.run(t, "add_user", name, pass)
}
func (r rabbitAdmin) deleteUser(t *testing.T, name string) { r.run(t, "delete_user", name) }
func (r rabbitAdmin) setPermissions(t *testing.T, user, vh, c, w, rd string) {
	r.run(t, "set_permissions", "-p", vh, user, c, w, rd)
}
func (r rabbitAdmin) setTopicPermissions(t *testing.T, user, vh, x, w, rd string) {
	r.run(t, "set_topic_permissions", "-p", vh, user, x, w, rd)
}
func (r rabbitAdmin) setTags(t *testing.T, user string, tags ...string) {
	r.run(t, append([]string{"set_user_tags", user}, tags...)...)
}
func (r rabbitAdmin) setVHostLimit(t *testing.T, vh, limit string, n int) {
	r.run(t, "set_vhost_limits", "-p", vh, fmt.Sprintf(`{"%s": %d}`, limit, n))
}
func (r rabbitAdmin) setUserLimit(t *testing.T, user, limit string, n int) {
	r.run(t, "set_user_limits", user, fmt.Sprintf(`{"%s": %d}`, limit, n))
}
func (rabbitAdmin) rabbit() bool { return true }

// aclBroker returns the broker's guest URL and an admin for it, or skips.
func aclBroker(t *testing.T) (string, aclAdmin) {
	if u := os.Getenv("AMQP_URL"); u != "" {
		ctl := strings.Fields(os.Getenv("RABBITMQCTL"))
		if len(ctl) == 0 {
			t.Skip("AMQP_URL without RABBITMQCTL: cannot create users on that broker")
		}
		return u, rabbitAdmin{ctl: ctl}
	}
	b := warrentest.StartWith(t, warrentest.Options{})
	return b.URL, warrenAdmin{b: b.Core}
}

// userURL is base with another user and vhost.
func userURL(base, user, pass, vh string) string {
	u, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	u.User = url.UserPassword(user, pass)
	u.Path = "/" + vh
	u.RawPath = "/" + url.PathEscape(vh)
	return u.String()
}

func dialT(t *testing.T, u string) *amqp.Connection {
	t.Helper()
	c, err := amqp.DialConfig(u, amqp.Config{Heartbeat: 10 * time.Second, Locale: "en_US"})
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func chanT(t *testing.T, c *amqp.Connection) *amqp.Channel {
	t.Helper()
	ch, err := c.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	return ch
}

// refusedChan is a channel whose closing is watched from its start, so that an
// asynchronous refusal (basic.publish) is seen even after the client marked it closed.
type refusedChan struct {
	*amqp.Channel
	closed chan *amqp.Error
}

func watchChan(t *testing.T, c *amqp.Connection) refusedChan {
	ch := chanT(t, c)
	return refusedChan{ch, ch.NotifyClose(make(chan *amqp.Error, 1))}
}

// wantRefused checks that err (or, when the method has no reply, the channel's close) is
// 403 with a text matching want (a regular expression, anchored).
func wantRefused(t *testing.T, ch refusedChan, err error, want string) {
	t.Helper()
	if err == nil || errors.Is(err, amqp.ErrClosed) {
		select {
		case e := <-ch.closed:
			if e != nil {
				err = e
			}
		case <-time.After(5 * time.Second):
		}
	}
	var e *amqp.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want 403 %s", err, want)
	}
	re := regexp.MustCompile("^ACCESS_REFUSED - " + want + "$")
	if e.Code != amqp.AccessRefused || !re.MatchString(e.Reason) {
		t.Fatalf("got %d %q, want 403 ACCESS_REFUSED - %s", e.Code, e.Reason, want)
	}
}

func TestPermissionMatrix(t *testing.T) {
	base, adm := aclBroker(t)
	const vh = "warren-perm"
	adm.addVHost(t, vh)
	t.Cleanup(func() { adm.deleteVHost(t, vh) })
	users := []string{"perm-admin", "perm-c", "perm-w", "perm-r", "perm-t", "perm-none"}
	for _, u := range users {
		adm.addUser(t, u, "pw-"+u)
		t.Cleanup(func() { adm.deleteUser(t, u) })
	}
	const all, ok = ".*", `^ok\.`
	adm.setPermissions(t, "perm-admin", vh, all, all, all)
	adm.setPermissions(t, "perm-c", vh, ok, all, all)
	adm.setPermissions(t, "perm-w", vh, all, ok, all)
	adm.setPermissions(t, "perm-r", vh, all, all, ok)
	adm.setPermissions(t, "perm-t", vh, all, all, all)
	adm.setTopicPermissions(t, "perm-t", vh, "amq.topic", ok, ok)
	as := func(u string) *amqp.Connection { return dialT(t, userURL(base, u, "pw-"+u, vh)) }

	// Fixtures, made by the admin: exchanges and queues on both sides of each regex.
	admin := chanT(t, as("perm-admin"))
	for _, x := range []string{"ok.x", "no.x", "ok.xd", "no.xd"} {
		must(t, admin.ExchangeDeclare(x, "direct", false, false, false, false, nil))
	}
	for _, q := range []string{"ok.q", "no.q", "ok.qd", "no.qd"} {
		_, err := admin.QueueDeclare(q, false, false, false, false, nil)
		must(t, err)
	}
	// RabbitMQ 3.12+ names the permission ("write access to ..."), as warren does;
	// 3.10 and 3.11 do not ("access to ..."): against RabbitMQ both are accepted.
	word := func(perm string) string {
		if adm.rabbit() {
			return "(?:" + perm + " )?"
		}
		return perm + " "
	}
	refused := func(perm, kind, name, user string) string {
		return word(perm) + regexp.QuoteMeta(fmt.Sprintf("access to %s '%s' in vhost '%s' refused for user '%s'", kind, name, vh, user))
	}

	type op func(ch *amqp.Channel, name string) error
	cases := []struct {
		name, user, perm, kind string
		okName, noName         string
		do                     op
	}{
		{"exchange.declare", "perm-c", "configure", "exchange", "ok.x1", "no.x1", func(ch *amqp.Channel, n string) error {
			return ch.ExchangeDeclare(n, "fanout", false, false, false, false, nil)
		}},
		{"exchange.delete", "perm-c", "configure", "exchange", "ok.xd", "no.xd", func(ch *amqp.Channel, n string) error {
			return ch.ExchangeDelete(n, true, false) // if-unused: nothing is bound to them
		}},
		{"queue.declare", "perm-c", "configure", "queue", "ok.q1", "no.q1", func(ch *amqp.Channel, n string) error {
			_, err := ch.QueueDeclare(n, false, true, false, false, nil)
			return err
		}},
		{"queue.delete", "perm-c", "configure", "queue", "ok.qd", "no.qd", func(ch *amqp.Channel, n string) error {
			_, err := ch.QueueDelete(n, true, false, false)
			return err
		}},
		{"basic.publish", "perm-w", "write", "exchange", "ok.x", "no.x", func(ch *amqp.Channel, n string) error {
			if err := ch.Publish(n, "k", false, false, amqp.Publishing{Body: []byte("m")}); err != nil {
				return err
			}
			_, err := ch.QueueDeclarePassive("ok.q", false, false, false, false, nil) // a round trip
			return err
		}},
		{"queue.bind/write-on-queue", "perm-w", "write", "queue", "ok.q", "no.q", func(ch *amqp.Channel, n string) error {
			return ch.QueueBind(n, "k", "ok.x", false, nil)
		}},
		{"queue.unbind/write-on-queue", "perm-w", "write", "queue", "ok.q", "no.q", func(ch *amqp.Channel, n string) error {
			return ch.QueueUnbind(n, "k", "ok.x", nil)
		}},
		{"queue.bind/read-on-exchange", "perm-r", "read", "exchange", "ok.x", "no.x", func(ch *amqp.Channel, n string) error {
			return ch.QueueBind("ok.q", "k", n, false, nil)
		}},
		{"exchange.bind/write-on-destination", "perm-w", "write", "exchange", "ok.x", "no.x", func(ch *amqp.Channel, n string) error {
			return ch.ExchangeBind(n, "k", "ok.x", false, nil)
		}},
		{"exchange.bind/read-on-source", "perm-r", "read", "exchange", "ok.x", "no.x", func(ch *amqp.Channel, n string) error {
			return ch.ExchangeBind("ok.x", "k", n, false, nil)
		}},
		{"basic.consume", "perm-r", "read", "queue", "ok.q", "no.q", func(ch *amqp.Channel, n string) error {
			_, err := ch.Consume(n, "", false, false, false, false, nil)
			return err
		}},
		{"basic.get", "perm-r", "read", "queue", "ok.q", "no.q", func(ch *amqp.Channel, n string) error {
			_, _, err := ch.Get(n, false)
			return err
		}},
		{"queue.purge", "perm-r", "read", "queue", "ok.q", "no.q", func(ch *amqp.Channel, n string) error {
			_, err := ch.QueuePurge(n, false)
			return err
		}},
		{"queue.declare/dead-letter-exchange-write", "perm-w", "write", "exchange", "ok.x", "no.x", func(ch *amqp.Channel, n string) error {
			_, err := ch.QueueDeclare("", false, true, true, false, amqp.Table{"x-dead-letter-exchange": n})
			return err
		}},
		{"exchange.declare/alternate-exchange-write", "perm-w", "write", "exchange", "ok.x", "no.x", func(ch *amqp.Channel, n string) error {
			return ch.ExchangeDeclare("ok.ae-"+n, "fanout", false, true, false, false, amqp.Table{"alternate-exchange": n})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := as(tc.user)
			must(t, tc.do(chanT(t, c), tc.okName))
			ch := watchChan(t, c)
			wantRefused(t, ch, tc.do(ch.Channel, tc.noName), refused(tc.perm, tc.kind, tc.noName, tc.user))
		})
	}

	t.Run("basic.publish/default-exchange-is-amq.default", func(t *testing.T) {
		ch := watchChan(t, as("perm-w"))
		err := ch.Publish("", "ok.q", false, false, amqp.Publishing{Body: []byte("m")})
		wantRefused(t, ch, err, refused("write", "exchange", "amq.default", "perm-w"))
	})
	t.Run("queue.declare/server-named-checks-configure-on-amq.gen", func(t *testing.T) {
		ch := watchChan(t, as("perm-c"))
		_, err := ch.QueueDeclare("", false, true, true, false, nil)
		wantRefused(t, ch, err, word("configure")+regexp.QuoteMeta("access to queue 'amq.gen-")+`[A-Za-z0-9_-]{22}`+
			regexp.QuoteMeta(fmt.Sprintf("' in vhost '%s' refused for user 'perm-c'", vh)))
	})
	t.Run("topic/publish-write", func(t *testing.T) {
		c := as("perm-t")
		ch := watchChan(t, c)
		must(t, ch.Publish("amq.topic", "ok.k", false, false, amqp.Publishing{Body: []byte("m")}))
		_, err := ch.QueueDeclarePassive("ok.q", false, false, false, false, nil)
		must(t, err)
		// Topic permissions apply to topic exchanges only.
		must(t, ch.Publish("ok.x", "no.k", false, false, amqp.Publishing{Body: []byte("m")}))
		_, err = ch.QueueDeclarePassive("ok.q", false, false, false, false, nil)
		must(t, err)
		err = ch.Publish("amq.topic", "no.k", false, false, amqp.Publishing{Body: []byte("m")})
		wantRefused(t, ch, err, word("write")+regexp.QuoteMeta(fmt.Sprintf("access to topic 'no.k' in exchange 'amq.topic' in vhost '%s' refused for user 'perm-t'", vh)))
	})
	t.Run("topic/bind-read", func(t *testing.T) {
		c := as("perm-t")
		must(t, chanT(t, c).QueueBind("ok.q", "ok.k", "amq.topic", false, nil))
		ch := watchChan(t, c)
		err := ch.QueueBind("ok.q", "no.k", "amq.topic", false, nil)
		wantRefused(t, ch, err, word("read")+regexp.QuoteMeta(fmt.Sprintf("access to topic 'no.k' in exchange 'amq.topic' in vhost '%s' refused for user 'perm-t'", vh)))
	})
	t.Run("connection.open/no-permission-530", func(t *testing.T) {
		_, err := amqp.Dial(userURL(base, "perm-none", "pw-perm-none", vh))
		var e *amqp.Error
		want := fmt.Sprintf("NOT_ALLOWED - access to vhost '%s' refused for user 'perm-none'", vh)
		if !errors.As(err, &e) || e.Code != amqp.NotAllowed || e.Reason != want {
			t.Fatalf("got %v, want 530 %s", err, want)
		}
	})
	t.Run("validated-user-id/impersonator-tag", func(t *testing.T) {
		// RW:docs/validated-user-id.md: a user tagged impersonator may publish with
		// another user_id; others get 406.
		pub := func(t *testing.T) error {
			ch := watchChan(t, as("perm-admin"))
			must(t, ch.Publish("", "ok.q", false, false, amqp.Publishing{UserId: "someone-else", Body: []byte("m")}))
			_, err := ch.QueueDeclarePassive("ok.q", false, false, false, false, nil)
			if errors.Is(err, amqp.ErrClosed) {
				err = <-ch.closed
			}
			return err
		}
		err := pub(t)
		want := "PRECONDITION_FAILED - user_id property set to 'someone-else' but authenticated user was 'perm-admin'"
		if e := (*amqp.Error)(nil); !errors.As(err, &e) || e.Code != amqp.PreconditionFailed || e.Reason != want {
			t.Fatalf("without the tag: %v, want 406 %s", err, want)
		}
		adm.setTags(t, "perm-admin", "impersonator")
		defer adm.setTags(t, "perm-admin")
		must(t, pub(t))
	})
	t.Run("passive-declares-need-some-permission", func(t *testing.T) {
		if adm.rabbit() {
			t.Skip("RabbitMQ 3.10 checks no permission on passive declares (4.x does: rabbitmq-server#16085)")
		}
		adm.setPermissions(t, "perm-none", vh, ok, ok, ok)
		c := as("perm-none")
		_, err := chanT(t, c).QueueDeclarePassive("ok.q", false, false, false, false, nil)
		must(t, err)
		ch := watchChan(t, c)
		_, err = ch.QueueDeclarePassive("no.q", false, false, false, false, nil)
		wantRefused(t, ch, err, refused("configure", "queue", "no.q", "perm-none"))
		ch = watchChan(t, c)
		err = ch.ExchangeDeclarePassive("no.x", "direct", false, false, false, false, nil)
		wantRefused(t, ch, err, refused("configure", "exchange", "no.x", "perm-none"))
	})
}
