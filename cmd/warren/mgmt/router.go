package mgmt

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// router matches "METHOD /literal/{wildcard}/…" patterns segment by segment on the
// escaped path, and unescapes each segment on its own. net/http.ServeMux cannot serve
// this API: RabbitMQ's default vhost "/" travels as the segment "%2F", which ServeMux
// unescapes to "/" and then takes for a trailing slash that no single wildcard matches
// (Go 1.26: routingNode.matchPath), so every /api/…/%2F/… path would be a 404.
//
// Among the patterns matching a path, the one with the most literal segments wins
// (/api/users/without-permissions before /api/users/{user}). Wildcard values are set with
// Request.SetPathValue and the pattern in Request.Pattern, as ServeMux does.
type router struct {
	routes []route // immutable once the server serves
}

type route struct {
	pattern  string
	method   string
	segs     []string // literal segments, or "{name}" wildcards; "" is a trailing slash
	literals int
	h        http.Handler
}

// handle registers h for pattern ("GET /api/queues/{vhost}").
func (rt *router) handle(pattern string, h http.Handler) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok || !strings.HasPrefix(path, "/") {
		panic("mgmt: bad pattern " + pattern)
	}
	r := route{pattern: pattern, method: method, segs: strings.Split(path[1:], "/"), h: h}
	for _, s := range r.segs {
		if !isWildcard(s) {
			r.literals++
		}
	}
	rt.routes = append(rt.routes, r)
}

func isWildcard(s string) bool { return len(s) > 2 && s[0] == '{' && s[len(s)-1] == '}' }

// splitPath splits an escaped path into unescaped segments; false if one does not
// unescape.
func splitPath(escaped string) ([]string, bool) {
	if !strings.HasPrefix(escaped, "/") {
		return nil, false
	}
	segs := strings.Split(escaped[1:], "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, false
		}
		segs[i] = u
	}
	return segs, true
}

func (r *route) match(segs []string) bool {
	if len(segs) != len(r.segs) {
		return false
	}
	for i, s := range r.segs {
		if !isWildcard(s) && s != segs[i] {
			return false
		}
	}
	return true
}

// lookup finds the route for a request; when only the method differs, allowed lists the
// methods that would match (for 405).
func (rt *router) lookup(req *http.Request) (best *route, segs []string, allowed []string) {
	segs, ok := splitPath(req.URL.EscapedPath())
	if !ok {
		return nil, nil, nil
	}
	method := req.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	for i := range rt.routes {
		r := &rt.routes[i]
		if !r.match(segs) {
			continue
		}
		if r.method != method {
			if !slices.Contains(allowed, r.method) {
				allowed = append(allowed, r.method)
			}
			continue
		}
		if best == nil || r.literals > best.literals {
			best = r
		}
	}
	return best, segs, allowed
}

// ServeHTTP dispatches a request. No route: RabbitMQ's JSON 404. A route for another
// method: 405 with an Allow header and no body, as RabbitMQ (cowboy_rest) answers.
func (rt *router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r, segs, allowed := rt.lookup(req)
	if r == nil {
		if len(allowed) > 0 {
			slices.Sort(allowed)
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		writeError(w, errNotFound)
		return
	}
	for i, s := range r.segs {
		if isWildcard(s) {
			req.SetPathValue(s[1:len(s)-1], segs[i])
		}
	}
	req.Pattern = r.pattern
	r.h.ServeHTTP(w, req)
}
