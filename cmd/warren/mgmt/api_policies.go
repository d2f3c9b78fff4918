package mgmt

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/warrenmq/warren/vhost"
)

// Policies (rabbit_mgmt_wm_policies, rabbit_mgmt_wm_policy, 3.10.8; vhost/policy.go for
// what a policy does). Listing needs a management user with access to the vhost
// (is_authorized_vhost); reading, setting or deleting one needs an administrator, or a
// policymaker with access to the vhost (is_authorized_policies), else 401 "User not
// authorised to access object".

func (s *Server) policyRoutes() {
	s.handle("GET /api/policies", levelManagement, listPolicies)
	s.handle("GET /api/policies/{vhost}", levelManagement, listPolicies)
	s.handle("GET /api/policies/{vhost}/{name}", levelManagement, getPolicy)
	s.handle("PUT /api/policies/{vhost}/{name}", levelManagement, putPolicy)
	s.handle("DELETE /api/policies/{vhost}/{name}", levelManagement, deletePolicy)
}

// policyJSON renders a policy as rabbit_policy:list/1 gives it.
func policyJSON(p *vhost.Policy) obj {
	o := obj{"vhost": p.VHost, "name": p.Name, "pattern": p.Pattern, "apply-to": p.ApplyTo, "definition": p.Definition}
	if p.Priority == float64(int64(p.Priority)) {
		o["priority"] = int64(p.Priority)
	} else {
		o["priority"] = p.Priority
	}
	return o
}

// listPolicies is GET /api/policies[/{vhost}]: sorted by priority, lowest first
// (reply_list with the default sort "priority"), then by vhost and name.
func listPolicies(c *call) error {
	vs, err := c.scope()
	if err != nil {
		return err
	}
	var ps []*vhost.Policy
	for _, v := range vs {
		ps = append(ps, v.Policies()...)
	}
	sortPolicies(ps)
	out := make([]obj, 0, len(ps))
	for _, p := range ps {
		out = append(out, policyJSON(p))
	}
	return c.json(out)
}

func sortPolicies(ps []*vhost.Policy) {
	slices.SortStableFunc(ps, func(a, b *vhost.Policy) int {
		if c := cmp.Compare(a.Priority, b.Priority); c != 0 {
			return c
		}
		if c := strings.Compare(a.VHost, b.VHost); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// policyVHost authorises a single-policy request and resolves its vhost; nil (without an
// error) when the vhost does not exist.
func (c *call) policyVHost() (*vhost.VHost, error) {
	name := c.r.PathValue("vhost")
	v := c.s.cfg.Broker.VHost(name)
	if !levelAdmin.allows(c.user) {
		// rabbit_mgmt_util:user_matches_vhost/2: a missing vhost matches.
		if !hasTag(c.user, "policymaker") || v != nil && !c.s.cfg.Broker.Permitted(c.user, name) {
			return nil, notAuthorised("User not authorised to access object")
		}
	}
	return v, nil
}

func getPolicy(c *call) error {
	v, err := c.policyVHost()
	if err != nil {
		return err
	}
	if v == nil {
		return errNotFound
	}
	p := v.Policy(c.r.PathValue("name"))
	if p == nil {
		return errNotFound
	}
	return c.json(policyJSON(p))
}

// putPolicy is PUT /api/policies/{vhost}/{name}: 201 when created, 204 when replaced, 400
// with RabbitMQ's texts when refused.
func putPolicy(c *call) error {
	v, err := c.policyVHost()
	if err != nil {
		return err
	}
	var body map[string]any
	if err := c.decode(&body); err != nil {
		return err
	}
	if v == nil {
		return &apiError{http.StatusNotFound, "not_found", "vhost_not_found"}
	}
	// rabbit_mgmt_util:with_decode/5 with the keys [pattern, definition].
	var missing []string
	for _, k := range []string{"pattern", "definition"} {
		if _, ok := body[k]; !ok {
			missing = append(missing, "{key_missing,"+k+"}")
		}
	}
	if len(missing) > 0 {
		return badRequest("[%s]", strings.Join(missing, ","))
	}
	in := vhost.PolicyInput{Pattern: body["pattern"], Definition: body["definition"]}
	in.Priority, in.HasPriority = body["priority"]
	in.ApplyTo, in.HasApplyTo = body["apply-to"]
	created, err := v.SetPolicy(c.r.PathValue("name"), in)
	var pe *vhost.PolicyError
	switch {
	case errors.As(err, &pe):
		return badRequest("%s", escapeHTMLTags(pe.Error()))
	case err != nil:
		return amqpError(err)
	case created:
		return c.status(http.StatusCreated)
	}
	return c.status(http.StatusNoContent)
}

func deletePolicy(c *call) error {
	v, err := c.policyVHost()
	if err != nil {
		return err
	}
	if v == nil {
		return errNotFound
	}
	found, err := v.DeletePolicy(c.r.PathValue("name"))
	switch {
	case err != nil:
		return amqpError(err)
	case !found:
		return errNotFound
	}
	return c.status(http.StatusNoContent)
}

// escapeHTMLTags is rabbit_mgmt_format:escape_html_tags/1, which RabbitMQ applies to a
// refused policy's text.
func escapeHTMLTags(s string) string {
	return strings.NewReplacer("<", "&lt;", ">", "&gt;", "&", "&amp;").Replace(s)
}
