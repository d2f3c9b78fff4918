package mgmt

import (
	"strings"
	"testing"
)

// Answers checked against RabbitMQ 3.10.8 with its management plugin.
func TestPolicies(t *testing.T) {
	e := start(t)
	const def = `{"pattern":"^pq","definition":{"max-length":2},"priority":1,"apply-to":"queues"}`
	e.want(e.do("GET", "/api/policies", ""), 200, "[]")
	e.want(e.do("GET", "/api/policies/%2F", ""), 200, "[]")
	e.want(e.do("GET", "/api/policies/%2F/p1", ""), 404, `{"error":"Object Not Found","reason":"Not Found"}`)
	e.want(e.do("GET", "/api/policies/nosuch", ""), 404, `{"error":"Object Not Found","reason":"Not Found"}`)
	e.want(e.do("PUT", "/api/policies/nosuch/p1", def), 404, `{"error":"not_found","reason":"vhost_not_found"}`)
	e.want(e.do("PUT", "/api/policies/%2F/p1", def), 201, "")
	e.want(e.do("PUT", "/api/policies/%2F/p1", strings.Replace(def, `"max-length":2`, `"max-length":3`, 1)), 204, "")
	e.want(e.do("GET", "/api/policies/%2F/p1", ""), 200,
		`{"apply-to":"queues","definition":{"max-length":3},"name":"p1","pattern":"^pq","priority":1,"vhost":"/"}`)
	e.want(e.do("PUT", "/api/policies/%2F/p0", `{"pattern":"^zz","definition":{"expires":5},"priority":-1}`), 201, "")
	e.want(e.do("GET", "/api/policies", ""), 200,
		`[{"apply-to":"all","definition":{"expires":5},"name":"p0","pattern":"^zz","priority":-1,"vhost":"/"},`+
			`{"apply-to":"queues","definition":{"max-length":3},"name":"p1","pattern":"^pq","priority":1,"vhost":"/"}]`)

	for _, tc := range []struct{ body, reason string }{
		{`{}`, `[{key_missing,pattern},{key_missing,definition}]`},
		{`{"pattern":"x"}`, `[{key_missing,definition}]`},
		{`notjson`, `not_json`},
		{`{"pattern":"x","definition":{"foo":1,"bar":"z"}}`,
			`Validation failed\n\n[{&lt;&lt;\"bar\"&gt;&gt;,&lt;&lt;\"z\"&gt;&gt;},{&lt;&lt;\"foo\"&gt;&gt;,1}] are not recognised policy settings\n`},
		{`{"pattern":"x","definition":{"max-length":1},"priority":"a"}`,
			`Validation failed\n\npriority should be a number, actually was &lt;&lt;\"a\"&gt;&gt;\n`},
	} {
		e.want(e.do("PUT", "/api/policies/%2F/bad", tc.body), 400, `{"error":"bad_request","reason":"`+tc.reason+`"}`)
	}

	// The queue and exchange objects name the policy that applies.
	e.want(e.do("PUT", "/api/queues/%2F/pq1", `{"durable":true}`), 201, "")
	e.want(e.do("PUT", "/api/queues/%2F/other", `{}`), 201, "")
	var q map[string]any
	e.do("GET", "/api/queues/%2F/pq1", "").json(t, &q)
	if q["policy"] != "p1" || q["operator_policy"] != nil || q["effective_policy_definition"].(map[string]any)["max-length"] != float64(3) {
		t.Fatalf("queue: policy %v, effective %v", q["policy"], q["effective_policy_definition"])
	}
	q = nil
	e.do("GET", "/api/queues/%2F/other", "").json(t, &q)
	if q["policy"] != nil || len(q["effective_policy_definition"].(map[string]any)) != 0 {
		t.Fatalf("queue without policy: %v %v", q["policy"], q["effective_policy_definition"])
	}
	e.want(e.do("PUT", "/api/exchanges/%2F/zzx", `{"type":"direct"}`), 201, "")
	var x map[string]any
	e.do("GET", "/api/exchanges/%2F/zzx", "").json(t, &x)
	if x["policy"] != "p0" {
		t.Fatalf("exchange policy %v", x["policy"])
	}
	var ad map[string]any
	e.do("GET", "/api/exchanges/%2F/amq.direct", "").json(t, &ad)
	if _, ok := ad["policy"]; ok {
		t.Fatalf("exchange without policy has the key: %v", x)
	}

	e.want(e.do("DELETE", "/api/policies/%2F/p1", ""), 204, "")
	e.want(e.do("DELETE", "/api/policies/%2F/p1", ""), 404, `{"error":"Object Not Found","reason":"Not Found"}`)
	e.want(e.do("DELETE", "/api/policies/nosuch/p1", ""), 404, `{"error":"Object Not Found","reason":"Not Found"}`)
}

// rabbit_mgmt_util:is_authorized_policies/2 and is_authorized_vhost/2, as a 3.10.8 node
// answers users tagged management and policymaker with permissions on "/" only.
func TestPolicyAuthorization(t *testing.T) {
	e := start(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.b.Core.AddVHost("v2"))
	for _, u := range []struct{ name, tag string }{{"mgr", "management"}, {"pm", "policymaker"}} {
		must(e.b.Core.AddUser(u.name, "pw", []string{u.tag}))
		must(e.b.Core.SetPermissions(u.name, "/", ".*", ".*", ".*"))
	}
	const def = `{"pattern":"^zz","definition":{"max-length":1}}`
	e.want(e.do("PUT", "/api/policies/%2F/p", def), 201, "")
	e.want(e.do("PUT", "/api/policies/v2/p", def), 201, "")
	denied := `{"error":"not_authorised","reason":"User not authorised to access object"}`
	noVHost := `{"error":"not_authorised","reason":"User not authorised to access virtual host"}`

	var list []map[string]any
	e.doAs("mgr", "pw", "GET", "/api/policies", "").json(t, &list)
	if len(list) != 1 || list[0]["vhost"] != "/" {
		t.Fatalf("management user's list: %v", list)
	}
	e.want(e.doAs("mgr", "pw", "GET", "/api/policies/v2", ""), 401, noVHost)
	e.want(e.doAs("mgr", "pw", "GET", "/api/policies/%2F/p", ""), 401, denied)
	e.want(e.doAs("mgr", "pw", "PUT", "/api/policies/%2F/new", def), 401, denied)

	e.want(e.doAs("pm", "pw", "GET", "/api/policies/%2F/p", ""), 200, "")
	e.want(e.doAs("pm", "pw", "PUT", "/api/policies/%2F/new", def), 201, "")
	e.want(e.doAs("pm", "pw", "DELETE", "/api/policies/%2F/new", ""), 204, "")
	e.want(e.doAs("pm", "pw", "GET", "/api/policies/v2/p", ""), 401, denied)
	e.want(e.doAs("pm", "pw", "PUT", "/api/policies/v2/new", def), 401, denied)
	e.want(e.doAs("pm", "pw", "DELETE", "/api/policies/%2F/nosuch", ""), 404, `{"error":"Object Not Found","reason":"Not Found"}`)
}

func TestDefinitionsPolicies(t *testing.T) {
	e := start(t)
	body := `{"vhosts":[{"name":"/"}],"policies":[` +
		`{"vhost":"/","name":"ttl","pattern":"^t\\.","apply-to":"queues","definition":{"message-ttl":60000},"priority":2},` +
		`{"vhost":"/","name":"bare","pattern":".*","definition":{"max-length":9}}]}`
	e.want(e.do("POST", "/api/definitions", body), 204, "")
	var d map[string]any
	e.do("GET", "/api/definitions", "").json(t, &d)
	ps, _ := d["policies"].([]any)
	if len(ps) != 2 {
		t.Fatalf("exported policies %v", d["policies"])
	}
	bare := ps[0].(map[string]any)
	if bare["name"] != "bare" || bare["apply-to"] != "all" || bare["priority"] != float64(0) || bare["vhost"] != "/" {
		t.Fatalf("defaults: %v", bare)
	}
	e.do("GET", "/api/definitions/%2F", "").json(t, &d)
	if ps, _ := d["policies"].([]any); len(ps) != 2 {
		t.Fatalf("vhost export: %v", d["policies"])
	}
	// A RabbitMQ 3.x export's mirroring and federation keys are dropped; other keys stay.
	ha := `{"policies":[{"vhost":"/","name":"ha","pattern":".*","definition":{"ha-mode":"all","ha-sync-mode":"automatic"}},` +
		`{"vhost":"/","name":"mixed","pattern":"^m","definition":{"ha-mode":"all","federation-upstream-set":"all","message-ttl":5}}]}`
	e.want(e.do("POST", "/api/definitions", ha), 204, "")
	e.want(e.do("GET", "/api/policies/%2F/ha", ""), 404, "")
	e.want(e.do("GET", "/api/policies/%2F/mixed", ""), 200,
		`{"apply-to":"all","definition":{"message-ttl":5},"name":"mixed","pattern":"^m","priority":0,"vhost":"/"}`)
	bad := `{"policies":[{"vhost":"/","name":"b","pattern":"x","definition":{"max-length":-1}}]}`
	e.want(e.do("POST", "/api/definitions", bad), 400,
		`{"error":"bad_request","reason":"Validation failed\n\n-1 is not a valid maximum length\n (//b)"}`)
}
