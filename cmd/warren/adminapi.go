package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/store"
	"github.com/warrenmq/warren/vhost"
)

// adminBackend is what the users, vhosts and permissions subcommands change: the data
// folder of a stopped broker (folderAdmin) or a running broker's management HTTP API
// (httpAdmin), which RabbitMQ's management plugin serves too.
type adminBackend interface {
	addUser(u vhost.UserInfo, password string) error // password "" with u.PasswordHash nil: none
	users() ([]vhost.UserInfo, error)
	deleteUser(name string) error
	setTags(name string, tags []string) error
	setPassword(name, password string) error
	setUserLimits(name string, l vhost.UserLimits) error
	addVHost(name string) error
	vhosts() ([]vhost.VHostInfo, error)
	deleteVHost(name string) error
	setVHostLimits(name string, l vhost.VHostLimits) error
	setPermissions(user, vh, configure, write, read string) error
	clearPermissions(user, vh string) error
	permissions() ([]vhost.PermissionInfo, error)
	setTopicPermissions(user, vh, exchange, write, read string) error
	clearTopicPermissions(user, vh, exchange string) error
	topicPermissions() ([]vhost.TopicPermissionInfo, error)
}

// folderAdmin changes a data folder through a broker recovered from it.
type folderAdmin struct{ b *vhost.Broker }

// openFolder opens the data folder, recovers the broker from it and returns a function
// that closes both. A folder that does not exist yet is created, as the broker's first
// start would: its users start with the default user.
func openFolder(dir string) (*folderAdmin, func() error, error) {
	st, err := store.Open(dir, store.Options{Logger: zerolog.Nop()})
	if errors.Is(err, store.ErrLocked) {
		return nil, nil, fmt.Errorf("%w\nthe broker is running: use --url to change it through its management API, or stop it first", err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cannot open the data folder: %w", err)
	}
	b, err := vhost.New(vhost.Config{Logger: zerolog.Nop(), Store: st})
	if err != nil {
		st.Close()
		return nil, nil, fmt.Errorf("cannot read the data folder: %w", err)
	}
	return &folderAdmin{b: b}, func() error {
		b.Close()
		if err := st.Close(); err != nil {
			return fmt.Errorf("closing the data folder: %w", err)
		}
		return nil
	}, nil
}

func (f *folderAdmin) addUser(u vhost.UserInfo, password string) error {
	for _, old := range f.b.Users() {
		if old.Name == u.Name {
			return fmt.Errorf("user '%s' already exists", u.Name)
		}
	}
	if u.PasswordHash == nil && password != "" {
		return f.b.AddUser(u.Name, password, u.Tags)
	}
	return f.b.PutUser(u)
}
func (f *folderAdmin) users() ([]vhost.UserInfo, error)         { return f.b.Users(), nil }
func (f *folderAdmin) deleteUser(name string) error             { return f.b.DeleteUser(name) }
func (f *folderAdmin) setTags(name string, tags []string) error { return f.b.SetTags(name, tags) }
func (f *folderAdmin) setPassword(name, pw string) error        { return f.b.SetPassword(name, pw) }
func (f *folderAdmin) setUserLimits(name string, l vhost.UserLimits) error {
	return f.b.SetUserLimits(name, l)
}
func (f *folderAdmin) addVHost(name string) error         { return f.b.AddVHost(name) }
func (f *folderAdmin) vhosts() ([]vhost.VHostInfo, error) { return f.b.VHosts(), nil }
func (f *folderAdmin) deleteVHost(name string) error {
	if f.b.VHost(name) == nil {
		return fmt.Errorf("%w: '%s'", vhost.ErrNoVHost, name)
	}
	return f.b.DeleteVHost(name)
}
func (f *folderAdmin) setVHostLimits(name string, l vhost.VHostLimits) error {
	return f.b.SetVHostLimits(name, l)
}
func (f *folderAdmin) setPermissions(user, vh, c, w, r string) error {
	return f.b.SetPermissions(user, vh, c, w, r)
}
func (f *folderAdmin) clearPermissions(user, vh string) error { return f.b.ClearPermissions(user, vh) }
func (f *folderAdmin) permissions() ([]vhost.PermissionInfo, error) {
	return f.b.Permissions(), nil
}
func (f *folderAdmin) setTopicPermissions(user, vh, x, w, r string) error {
	return f.b.SetTopicPermissions(user, vh, x, w, r)
}
func (f *folderAdmin) clearTopicPermissions(user, vh, x string) error {
	return f.b.ClearTopicPermissions(user, vh, x)
}
func (f *folderAdmin) topicPermissions() ([]vhost.TopicPermissionInfo, error) {
	return f.b.TopicPermissions(), nil
}

// httpAdmin speaks RabbitMQ's management HTTP API (RW:docs/http-api-reference.md), as
// warren's management server (issue 8) and RabbitMQ's plugin serve it.
type httpAdmin struct {
	base       *url.URL // scheme://host:port, path prefix if any; no user info
	user, pass string
	client     *http.Client
}

func newHTTPAdmin(raw string) (*httpAdmin, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid --url %q: want http://user:password@host:15672", raw)
	}
	h := &httpAdmin{user: "guest", pass: "guest", client: &http.Client{Timeout: 30 * time.Second}}
	if u.User != nil {
		h.user = u.User.Username()
		h.pass, _ = u.User.Password()
	}
	u.User = nil
	u.Path = strings.TrimSuffix(u.Path, "/")
	h.base = u
	return h, nil
}

// call sends a request to /api/ + path segments (each escaped) and decodes a JSON answer
// into out when out is not nil (send, in mgmt_cli.go, with no query or extra header).
func (h *httpAdmin) call(method string, body, out any, segs ...string) error {
	return h.send(method, "", nil, body, out, segs...)
}

// apiUser is a user in the API; tags are a list (3.13+) or a comma-separated string (3.10).
type apiUser struct {
	Name             string                 `json:"name"`
	Tags             json.RawMessage        `json:"tags"`
	PasswordHash     string                 `json:"password_hash"`
	HashingAlgorithm string                 `json:"hashing_algorithm"`
	Limits           map[string]json.Number `json:"limits"`
}

func (u apiUser) info() vhost.UserInfo {
	var tags []string
	if json.Unmarshal(u.Tags, &tags) != nil {
		var s string
		_ = json.Unmarshal(u.Tags, &s)
		for _, t := range strings.Split(s, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
	}
	alg, _ := vhost.ParseHashAlg(u.HashingAlgorithm)
	hash, _ := vhost.DecodeHash(alg, u.PasswordHash)
	l := vhost.Unlimited
	if n, err := u.Limits["max-connections"].Int64(); err == nil {
		l.MaxConnections = n
	}
	if n, err := u.Limits["max-channels"].Int64(); err == nil {
		l.MaxChannels = n
	}
	return vhost.UserInfo{Name: u.Name, Tags: tags, HashAlg: alg, PasswordHash: hash, Limits: l}
}

func (h *httpAdmin) findUser(name string) (vhost.UserInfo, bool, error) {
	us, err := h.users()
	for _, u := range us {
		if u.Name == name {
			return u, true, nil
		}
	}
	return vhost.UserInfo{}, false, err
}

func (h *httpAdmin) addUser(u vhost.UserInfo, password string) error {
	if _, exists, err := h.findUser(u.Name); err != nil || exists {
		if err == nil {
			err = fmt.Errorf("user '%s' already exists", u.Name)
		}
		return err
	}
	body := map[string]any{"tags": strings.Join(u.Tags, ",")}
	switch {
	case u.PasswordHash != nil:
		body["password_hash"], body["hashing_algorithm"] = vhost.EncodeHash(u.PasswordHash), string(u.HashAlg)
	case password != "":
		body["password"] = password
	default:
		body["password_hash"] = ""
	}
	return h.call(http.MethodPut, body, nil, "users", u.Name)
}

func (h *httpAdmin) users() ([]vhost.UserInfo, error) {
	var us []apiUser
	if err := h.call(http.MethodGet, nil, &us, "users"); err != nil {
		return nil, err
	}
	out := make([]vhost.UserInfo, 0, len(us))
	for _, u := range us {
		out = append(out, u.info())
	}
	return out, nil
}

func (h *httpAdmin) deleteUser(name string) error {
	return h.call(http.MethodDelete, nil, nil, "users", name)
}

func (h *httpAdmin) setTags(name string, tags []string) error {
	// A PUT without a password keeps the user's password.
	if _, exists, err := h.findUser(name); err != nil || !exists {
		if err == nil {
			err = fmt.Errorf("%w: '%s'", vhost.ErrNoUser, name)
		}
		return err
	}
	return h.call(http.MethodPut, map[string]any{"tags": strings.Join(tags, ",")}, nil, "users", name)
}

func (h *httpAdmin) setPassword(name, pw string) error {
	u, exists, err := h.findUser(name)
	if err != nil || !exists {
		if err == nil {
			err = fmt.Errorf("%w: '%s'", vhost.ErrNoUser, name)
		}
		return err
	}
	return h.call(http.MethodPut, map[string]any{"tags": strings.Join(u.Tags, ","), "password": pw}, nil, "users", name)
}

// setLimits sets (n ≥ 0) or clears (n < 0) each named limit under /api/<kind>/<name>/.
func (h *httpAdmin) setLimits(kind, name string, limits map[string]int64) error {
	for k, n := range limits {
		var err error
		if n < 0 {
			err = h.call(http.MethodDelete, nil, nil, kind, name, k)
		} else {
			err = h.call(http.MethodPut, map[string]any{"value": n}, nil, kind, name, k)
		}
		if err != nil && !(n < 0 && strings.Contains(err.Error(), "404")) {
			return err
		}
	}
	return nil
}

func (h *httpAdmin) setUserLimits(name string, l vhost.UserLimits) error {
	return h.setLimits("user-limits", name, map[string]int64{"max-connections": l.MaxConnections, "max-channels": l.MaxChannels})
}

func (h *httpAdmin) addVHost(name string) error {
	return h.call(http.MethodPut, map[string]any{}, nil, "vhosts", name)
}

func (h *httpAdmin) vhosts() ([]vhost.VHostInfo, error) {
	var vs []struct {
		Name string `json:"name"`
	}
	if err := h.call(http.MethodGet, nil, &vs, "vhosts"); err != nil {
		return nil, err
	}
	out := make([]vhost.VHostInfo, 0, len(vs))
	for _, v := range vs {
		info := vhost.VHostInfo{Name: v.Name, Limits: vhost.NoVHostLimits, Queues: -1}
		var qs []json.RawMessage
		if h.call(http.MethodGet, nil, &qs, "queues", v.Name) == nil {
			info.Queues = len(qs)
		}
		var ls []struct {
			Value map[string]int64 `json:"value"`
		}
		if h.call(http.MethodGet, nil, &ls, "vhost-limits", v.Name) == nil && len(ls) > 0 {
			if n, ok := ls[0].Value["max-connections"]; ok {
				info.Limits.MaxConnections = n
			}
			if n, ok := ls[0].Value["max-queues"]; ok {
				info.Limits.MaxQueues = n
			}
		}
		out = append(out, info)
	}
	return out, nil
}

func (h *httpAdmin) deleteVHost(name string) error {
	return h.call(http.MethodDelete, nil, nil, "vhosts", name)
}

func (h *httpAdmin) setVHostLimits(name string, l vhost.VHostLimits) error {
	return h.setLimits("vhost-limits", name, map[string]int64{"max-connections": l.MaxConnections, "max-queues": l.MaxQueues})
}

func (h *httpAdmin) setPermissions(user, vh, c, w, r string) error {
	return h.call(http.MethodPut, map[string]string{"configure": c, "write": w, "read": r}, nil, "permissions", vh, user)
}

func (h *httpAdmin) clearPermissions(user, vh string) error {
	return h.call(http.MethodDelete, nil, nil, "permissions", vh, user)
}

func (h *httpAdmin) permissions() ([]vhost.PermissionInfo, error) {
	var ps []struct{ User, Vhost, Configure, Write, Read string }
	if err := h.call(http.MethodGet, nil, &ps, "permissions"); err != nil {
		return nil, err
	}
	out := make([]vhost.PermissionInfo, 0, len(ps))
	for _, p := range ps {
		out = append(out, vhost.PermissionInfo{User: p.User, VHost: p.Vhost, Configure: p.Configure, Write: p.Write, Read: p.Read})
	}
	return out, nil
}

func (h *httpAdmin) setTopicPermissions(user, vh, x, w, r string) error {
	return h.call(http.MethodPut, map[string]string{"exchange": x, "write": w, "read": r}, nil, "topic-permissions", vh, user)
}

func (h *httpAdmin) clearTopicPermissions(user, vh, x string) error {
	if x != "" {
		return errors.New("the management API clears all of a user's topic permissions in a vhost at once: leave out EXCHANGE")
	}
	return h.call(http.MethodDelete, nil, nil, "topic-permissions", vh, user)
}

func (h *httpAdmin) topicPermissions() ([]vhost.TopicPermissionInfo, error) {
	var ps []struct{ User, Vhost, Exchange, Write, Read string }
	if err := h.call(http.MethodGet, nil, &ps, "topic-permissions"); err != nil {
		return nil, err
	}
	out := make([]vhost.TopicPermissionInfo, 0, len(ps))
	for _, p := range ps {
		out = append(out, vhost.TopicPermissionInfo{User: p.User, VHost: p.Vhost, Exchange: p.Exchange, Write: p.Write, Read: p.Read})
	}
	return out, nil
}
