package vhost

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/warrenmq/warren/store"
)

// Policies (RW:docs/policies.md; RS:deps/rabbit/src/rabbit_policy.erl and rabbit_policies.erl,
// 3.10.8): a vhost's named rules that set optional arguments on the queues and exchanges
// whose names match a regular expression. At most one policy applies to an entity: among
// those whose apply-to covers it, whose pattern matches its name and whose keys its type
// supports, the one with the highest priority (rabbit_policy:match/2). RabbitMQ leaves the
// choice between equal priorities to its table order; warren takes the smallest name.
// apply-to is "queues", "exchanges" or "all" as in 3.10, or, as RabbitMQ 3.12+ also accepts,
// "classic_queues" or "quorum_queues" (an unknown value gets 3.10's text, which names the
// first three only).
//
// Keys acted on: message-ttl, dead-letter-exchange, dead-letter-routing-key, max-length,
// max-length-bytes, overflow, expires, delivery-limit (quorum queues) and alternate-exchange
// (exchanges). queue-mode, queue-version and dead-letter-strategy are validated and
// ignored (warren's queues have one mode and one version; RabbitMQ 3.12+ ignores
// queue-mode too). Any other key is refused with RabbitMQ's "not recognised" error, so that
// a policy never silently does nothing (this includes 3.x's ha-* keys, which RabbitMQ 4
// refuses as well; a definitions import drops such keys with a warning instead, in package
// mgmt).
//
// When a queue argument and its policy set the same thing, classic queues take the smaller
// of expires, message-ttl, max-length and max-length-bytes and the argument's
// dead-letter-exchange, dead-letter-routing-key and overflow
// (rabbit_amqqueue_process:process_args_policy/1: res_min, res_arg); quorum queues take the
// smaller max-length, max-length-bytes, message-ttl and delivery-limit, the policy's
// overflow (reject-publish-dlx, which they lack, becomes drop-head: overflow/3) and
// expires, and the argument's dead-letter settings
// (rabbit_quorum_queue:ra_machine_config/1, dead_letter_handler/2). An exchange's
// alternate-exchange argument wins over its policy's (rabbit_policy:get_arg/3).
//
// A change reaches live queues at once, as RabbitMQ's policy_changed does: a lower
// max-length drops (or dead-letters) the excess at the head under drop-head, a new expires
// restarts the idle countdown, a new dead-letter exchange takes the next dead letter, a new
// alternate-exchange the next unroutable publish. A new message-ttl applies to messages
// enqueued from then on: like RabbitMQ's classic queues, warren fixes a message's expiry
// when it is enqueued (checked on a 3.10.8 node).
//
// Policies are stored (store.KindPolicy, key nameKey(vhost, name), value recordV1 + the
// policy as JSON) and recovered with the vhost. Locks: policies.mu serialises changes and
// is taken before VHost.mu; VHost.mu guards the list and which policy each entity has;
// Queue.mu guards the options a policy changes (Queue.opts).

// Policy is one policy of a vhost. Treat it as read-only: a change replaces it.
type Policy struct {
	VHost    string
	Name     string
	Pattern  string
	ApplyTo  string  // "queues", "exchanges", "all", "classic_queues" or "quorum_queues"
	Priority float64 // RabbitMQ accepts any number
	// Definition holds the validated keys: string values, or int64 for the numeric ones.
	Definition map[string]any

	re *policyPattern
}

// PolicyInput is a policy as a client sends it (PUT /api/policies/{vhost}/{name}): values as
// decoded from JSON (numbers as json.Number, float64 or int64). SetPolicy validates it
// with RabbitMQ's rules and texts.
type PolicyInput struct {
	Pattern     any
	Definition  any
	Priority    any // 0 when !HasPriority
	HasPriority bool
	ApplyTo     any // "all" when !HasApplyTo
	HasApplyTo  bool
}

// PolicyError is a refused policy: RabbitMQ's "Validation failed" text, one reason a line
// (rabbit_runtime_parameters:format_error/1), with Erlang terms printed as ~p prints them.
type PolicyError struct {
	Reasons []string
}

func (e *PolicyError) Error() string {
	return "Validation failed\n\n" + strings.Join(e.Reasons, "\n") + "\n"
}

// policies is a vhost's policy store.
type policies struct {
	mu sync.Mutex // serialises changes; taken before VHost.mu
	// list is in matching order (byPrecedence). Written with both mu and VHost.mu held
	// (write), so either lock is enough to read it; a change installs a new array.
	list []*Policy
	gone bool // guarded by mu: the vhost was deleted, its policies with it
}

// goneLocked is the error of a policy change to a deleted vhost, which must not store a
// record that a vhost of the same name created later would inherit. pol.mu is held.
func (v *VHost) goneLocked() error {
	if v.pol.gone {
		return errNoVHost(v.name)
	}
	return nil
}

// byPrecedence orders policies as matching tries them: higher priority first, then name.
func byPrecedence(a, b *Policy) int {
	if a.Priority != b.Priority {
		if a.Priority > b.Priority {
			return -1
		}
		return 1
	}
	return strings.Compare(a.Name, b.Name)
}

// policyKeys are the definition keys warren accepts, with rabbit_policies:validate_policy0/2's
// check and text.
var policyKeys = map[string]struct {
	ok   func(v any) bool
	text string
}{
	"alternate-exchange":      {isString, "is not a valid alternate exchange name"},
	"dead-letter-exchange":    {isString, "is not a valid dead letter exchange name"},
	"dead-letter-routing-key": {isString, "is not a valid dead letter routing key"},
	"dead-letter-strategy":    {oneOf("at-most-once", "at-least-once"), "is not a valid dead letter strategy"},
	"message-ttl":             {intAtLeast(0), "is not a valid message TTL"},
	"expires":                 {intAtLeast(1), "is not a valid queue expiry"},
	"max-length":              {intAtLeast(0), "is not a valid maximum length"},
	"max-length-bytes":        {intAtLeast(0), "is not a valid maximum length in bytes"},
	"queue-mode":              {oneOf("default", "lazy"), "is not a valid queue-mode value"},
	"queue-version":           {func(v any) bool { n, ok := v.(int64); return ok && (n == 1 || n == 2) }, "is not a valid queue-version value"},
	"overflow":                {oneOf("drop-head", "reject-publish", "reject-publish-dlx"), "is not a valid overflow value"},
	"delivery-limit":          {intAtLeast(0), "is not a valid delivery limit"},
}

// classicUnsupported and quorumUnsupported are the keys that keep a policy from applying to
// a queue of that type (rabbit_classic_queue:capabilities/0 and rabbit_quorum_queue's,
// unsupported_policies; rabbit_policy:is_applicable/2), among those warren accepts.
var (
	classicUnsupported = []string{"delivery-limit", "dead-letter-strategy"}
	quorumUnsupported  = []string{"queue-mode"}
)

func isString(v any) bool { _, ok := v.(string); return ok }

func oneOf(vals ...string) func(any) bool {
	return func(v any) bool { s, ok := v.(string); return ok && slices.Contains(vals, s) }
}

func intAtLeast(lo int64) func(any) bool {
	return func(v any) bool { n, ok := v.(int64); return ok && n >= lo }
}

// jsonValue normalises a decoded JSON value: json.Number becomes int64 when it is an
// integer (Erlang's JSON decoder gives an integer for 5 and a float for 5.0 or 5e0) and
// float64 otherwise; objects and arrays are normalised inside.
func jsonValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n
			}
		}
		f, _ := strconv.ParseFloat(s, 64)
		return f
	case int:
		return int64(x)
	case float64:
		return x
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = jsonValue(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = jsonValue(e)
		}
		return a
	}
	return v
}

// newPolicy validates in as rabbit_policy:validate/5 does (rabbit_parameter_validation:
// proplist/3 over priority, pattern, apply-to and definition, reporting every failing one,
// the last checked first).
func newPolicy(vhost, name string, in PolicyInput) (*Policy, error) {
	p := &Policy{VHost: vhost, Name: name, ApplyTo: "all"}
	var reasons []string
	// definition
	def, ok := jsonValue(in.Definition).(map[string]any)
	switch {
	case !ok:
		reasons = append(reasons, "definition must be a dictionary: "+jsonTerm(jsonValue(in.Definition)))
	case len(def) == 0:
		reasons = append(reasons, "no policy provided")
	default:
		if r := validateDefinition(def); r != "" {
			reasons = append(reasons, r)
		} else {
			p.Definition = def
		}
	}
	// apply-to
	if in.HasApplyTo {
		s, _ := in.ApplyTo.(string)
		switch s {
		case "all", "exchanges", "queues", "classic_queues", "quorum_queues":
			p.ApplyTo = s
		default:
			if in.ApplyTo == nil {
				s = "null"
			} else if _, isStr := in.ApplyTo.(string); !isStr {
				s = jsonTerm(jsonValue(in.ApplyTo))
			}
			reasons = append(reasons, "apply-to '"+s+"' unrecognised; should be 'queues', 'exchanges' or 'all'")
		}
	}
	// pattern
	if s, ok := in.Pattern.(string); ok {
		re, err := compilePattern(s)
		if err != nil {
			reasons = append(reasons, "pattern should be regular expression but is invalid: "+err.Error())
		}
		p.Pattern, p.re = s, re
	} else {
		reasons = append(reasons, "pattern should be a binary but was "+jsonTerm(jsonValue(in.Pattern)))
	}
	// priority
	if in.HasPriority {
		switch n := jsonValue(in.Priority).(type) {
		case int64:
			p.Priority = float64(n)
		case float64:
			p.Priority = n
		default:
			reasons = append(reasons, "priority should be a number, actually was "+jsonTerm(n))
		}
	}
	if len(reasons) > 0 {
		return nil, &PolicyError{Reasons: reasons}
	}
	return p, nil
}

// validateDefinition checks a definition's keys in key order, as rabbit_policies folds over
// them, stopping at the first bad value; then any key left over is "not recognised"
// (rabbit_policy:validation0/2). "" when it is fine.
func validateDefinition(def map[string]any) string {
	keys := make([]string, 0, len(def))
	for k := range def {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var unknown []string
	for _, k := range keys {
		c, known := policyKeys[k]
		if !known {
			unknown = append(unknown, "{"+jsonTerm(k)+","+jsonTerm(def[k])+"}")
			continue
		}
		if !c.ok(def[k]) {
			return jsonTerm(def[k]) + " " + c.text
		}
	}
	if len(unknown) > 0 {
		return "[" + strings.Join(unknown, ",") + "] are not recognised policy settings"
	}
	return ""
}

// ErlangTerm prints a value decoded from JSON (with or without json.Number) as RabbitMQ's
// error texts print the Erlang term it became (~p): strings as binaries, null as the atom,
// objects as maps. The management API's validation messages use it too.
func ErlangTerm(v any) string { return jsonTerm(jsonValue(v)) }

// jsonTerm prints a JSON value as Erlang's ~p prints its decoded term: strings as binaries
// (<<"abc">>), null as the atom null, objects as maps with sorted keys.
func jsonTerm(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return erlFloat(x)
	case string:
		return erlBinary(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = jsonTerm(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = erlBinary(k) + " => " + jsonTerm(x[k])
		}
		return "#{" + strings.Join(parts, ",") + "}"
	}
	return fmt.Sprint(v)
}

// erlBinary prints a binary: <<"text">> when every byte is printable ASCII, else its bytes.
func erlBinary(s string) string {
	var b strings.Builder
	b.WriteString(`<<"`)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c >= 32 && c < 127:
			b.WriteByte(c)
		default:
			parts := make([]string, len(s))
			for j := 0; j < len(s); j++ {
				parts[j] = strconv.Itoa(int(s[j]))
			}
			return "<<" + strings.Join(parts, ",") + ">>"
		}
	}
	b.WriteString(`">>`)
	return b.String()
}

// policyPattern is a policy's regular expression. RabbitMQ uses PCRE (re:run/3); Go's
// regexp is RE2, which has no lookaround. The form policies use it for, a leading
// lookahead after the anchor ("^(?!amq\.).*", RabbitMQ's own examples), is supported by
// splitting it off: "^(?!A)B" matches what "^B" matches unless "^A" matches. As in
// PCRE, a top-level alternation after it ends the anchored branch: "^(?!A)B|C" is
// "^(?!A)B" or "C" anywhere in the name.
type policyPattern struct {
	re     *regexp.Regexp
	ahead  *regexp.Regexp // the lookahead, anchored; nil if none
	negate bool           // (?!…) rather than (?=…)
	others *regexp.Regexp // the branches after the lookahead's, unanchored; nil if none
}

func (p *policyPattern) match(name string) bool {
	if p.others != nil && p.others.MatchString(name) {
		return true
	}
	if p.ahead != nil && p.ahead.MatchString(name) == p.negate {
		return false
	}
	return p.re.MatchString(name)
}

// patternError is a pattern Go cannot compile, printed like re:compile/1's {Message, Offset}.
type patternError struct {
	msg string
	off int
}

func (e *patternError) Error() string {
	return "{" + strconv.Quote(e.msg) + "," + strconv.Itoa(e.off) + "}"
}

func compilePattern(s string) (*policyPattern, error) {
	if rest, ok := strings.CutPrefix(s, "^(?"); ok && len(rest) > 0 && (rest[0] == '!' || rest[0] == '=') {
		if end := groupEnd(rest[1:]); end >= 0 {
			ahead, err := regexp.Compile("^(?:" + rest[1:1+end] + ")")
			if err != nil {
				return nil, regexpError(err, s)
			}
			first, others := rest[2+end:], ""
			i := topLevelBar(first)
			if i >= 0 {
				first, others = first[:i], first[i+1:]
			}
			re, err := regexp.Compile("^(?:" + closeQuote(first) + ")")
			if err != nil {
				return nil, regexpError(err, s)
			}
			p := &policyPattern{re: re, ahead: ahead, negate: rest[0] == '!'}
			if i >= 0 {
				if p.others, err = regexp.Compile(others); err != nil {
					return nil, regexpError(err, s)
				}
			}
			return p, nil
		}
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, regexpError(err, s)
	}
	return &policyPattern{re: re}, nil
}

// closeQuote ends s with \E if s ends in quoted text (\Q with no \E after it), which
// would otherwise quote what is appended to s.
func closeQuote(s string) string {
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		if s[i+1] != 'Q' {
			i++
			continue
		}
		end := strings.Index(s[i+2:], `\E`)
		if end < 0 {
			return s + `\E`
		}
		i += 2 + end + 1
	}
	return s
}

// groupEnd returns the index of the ")" closing a group whose body starts at s[0], -1 if
// there is none.
func groupEnd(s string) int { return topLevel(s, ')') }

// topLevelBar returns the index of the first "|" of s outside groups and classes, -1 if
// there is none.
func topLevelBar(s string) int { return topLevel(s, '|') }

// topLevel returns the index of the first c in s outside character classes, quoted text
// (\Q…\E) and the groups s opens, -1 if there is none (or s closes a group it did not
// open first).
func topLevel(s string, c byte) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b == '\\' && i+1 < len(s) && s[i+1] == 'Q': // quoted up to \E, or to the end: no c after it
			end := strings.Index(s[i+2:], `\E`)
			if end < 0 {
				return -1
			}
			i += 2 + end + 1
		case b == '\\':
			i++
		case b == '[':
			end := classEnd(s[i+1:])
			if end < 0 {
				return -1
			}
			i += 1 + end
		case depth == 0 && b == c:
			return i
		case b == '(':
			depth++
		case b == ')':
			if depth == 0 {
				return -1
			}
			depth--
		}
	}
	return -1
}

// classEnd returns the index of the "]" closing a character class whose body starts at
// s[0], -1 if there is none. A "]" first in the class (or after "^") is a member.
func classEnd(s string) int {
	i := 0
	if i < len(s) && s[i] == '^' {
		i++
	}
	if i < len(s) && s[i] == ']' {
		i++
	}
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case ']':
			return i
		}
	}
	return -1
}

// regexpError words Go's error as PCRE would where they agree ("missing )", with the
// pattern's length as the offset, as PCRE reports for it), and keeps Go's wording otherwise.
func regexpError(err error, s string) error {
	msg := err.Error()
	if e, ok := err.(*syntax.Error); ok {
		msg = string(e.Code)
		switch e.Code {
		case "missing closing )":
			msg = "missing )"
		case "unexpected )":
			msg = "unmatched parentheses"
		case "missing closing ]":
			msg = "missing terminating ] for character class"
		}
	}
	return &patternError{msg: msg, off: len(s)}
}

// appliesTo reports whether p may apply to an exchange (q == nil) or to q.
func (p *Policy) appliesTo(name string, quorum, isQueue bool) bool {
	switch p.ApplyTo {
	case "queues":
		if !isQueue {
			return false
		}
	case "classic_queues", "quorum_queues":
		if !isQueue || quorum != (p.ApplyTo == "quorum_queues") {
			return false
		}
	case "exchanges":
		if isQueue {
			return false
		}
	}
	if isQueue {
		unsupported := classicUnsupported
		if quorum {
			unsupported = quorumUnsupported
		}
		for _, k := range unsupported {
			if _, ok := p.Definition[k]; ok {
				return false
			}
		}
	}
	return p.re.match(name)
}

// matchLocked returns the policy for an entity of v, nil if none. VHost.mu is held.
func (v *VHost) matchLocked(name string, quorum, isQueue bool) *Policy {
	return matchIn(v.pol.list, name, quorum, isQueue)
}

// matchIn returns the first policy of list (in matching order) for an entity, nil if none.
func matchIn(list []*Policy, name string, quorum, isQueue bool) *Policy {
	for _, p := range list {
		if p.appliesTo(name, quorum, isQueue) {
			return p
		}
	}
	return nil
}

// withPolicy merges a queue's argument options a with its policy p (see the top of the
// file for the rules and their sources).
func withPolicy(a queueOpts, p *Policy) queueOpts {
	o := a
	if p == nil {
		return o
	}
	d := p.Definition
	if n, ok := d["expires"].(int64); ok && (a.quorum || a.expires <= 0 || n < a.expires) {
		o.expires = n
	}
	if n, ok := d["message-ttl"].(int64); ok && (a.ttl < 0 || n < a.ttl) {
		o.ttl = n
	}
	if n, ok := d["max-length"].(int64); ok && (a.maxLen < 0 || n < a.maxLen) {
		o.maxLen = n
	}
	if n, ok := d["max-length-bytes"].(int64); ok && (a.maxBytes < 0 || n < a.maxBytes) {
		o.maxBytes = n
	}
	if s, ok := d["overflow"].(string); ok && (a.quorum || !a.hasOverflow) {
		o.overflow = overflows[s]
		if a.quorum && o.overflow == rejectPublishDLX {
			// Quorum queues do not support it: rabbit_quorum_queue:overflow/3 logs a
			// warning and uses its default, drop-head.
			o.overflow = dropHead
		}
	}
	if s, ok := d["dead-letter-exchange"].(string); ok && !a.hasDLX {
		o.dlx, o.hasDLX = s, true
	}
	if s, ok := d["dead-letter-routing-key"].(string); ok && !a.hasRK {
		o.dlrk, o.hasRK = s, true
	}
	if n, ok := d["delivery-limit"].(int64); ok && a.quorum && (a.delivLim < 0 || n < a.delivLim) {
		o.delivLim = n
	}
	return o
}

// alternateFor returns x's effective alternate exchange under policy p.
func (x *Exchange) alternateFor(p *Policy) string {
	if x.hasArgAE || p == nil {
		return x.argAE
	}
	s, _ := p.Definition["alternate-exchange"].(string)
	return s
}

// argOpts parses q's arguments again (they are immutable and were valid at declare): the
// options before any policy.
func (q *Queue) argOpts() queueOpts {
	o, err := validateQueueArgs(q.vhost.name, q.name, q.args)
	if err != nil {
		return noQueueOpts() // as recover does for arguments a later version refuses
	}
	return o
}

// applyPolicy gives q the options of policy p, and acts on them at once
// (rabbit_amqqueue_process:process_args_policy/1): excess over a lower length limit is
// dropped or dead-lettered (drop-head), the idle countdown of a new expires starts now,
// messages whose expiry passed go.
func (q *Queue) applyPolicy(p *Policy) {
	o := withPolicy(q.argOpts(), p)
	q.mu.Lock()
	if q.mu.deleted {
		q.mu.Unlock()
		return
	}
	// Field by field: maxPrio, single, quorum and ackWait are read without the lock.
	c := &q.opts
	expiresChanged := c.expires != o.expires
	c.expires, c.ttl = o.expires, o.ttl
	c.dlx, c.hasDLX, c.dlrk, c.hasRK = o.dlx, o.hasDLX, o.dlrk, o.hasRK
	c.maxLen, c.maxBytes, c.overflow, c.delivLim = o.maxLen, o.maxBytes, o.overflow, o.delivLim
	if expiresChanged {
		if q.mu.idleTimer != nil {
			q.mu.idleTimer.Stop()
			q.mu.idleTimer = nil
		}
		q.touchLocked()
	}
	q.dropHeadLocked()
	q.dropExpiredLocked(0)
	if q.mu.runs > 0 {
		q.wantPageLocked() // a TTL now wants the paged-out head
	}
	q.armLocked()
	q.unlockFlush()
}

type queueChange struct {
	q *Queue
	p *Policy
}

// rematchLocked gives every exchange and queue of v its policy under the current list and
// returns the queues whose policy changed; their options change in applyChanges, after
// VHost.mu is released (dead-lettering needs it). VHost.mu is held for writing.
func (v *VHost) rematchLocked() []queueChange {
	for _, x := range v.mu.exchanges {
		x.policy = v.matchLocked(x.name, false, false)
		if x.name != "" {
			// The default exchange shows its policy but takes no alternate exchange from it
			// (a 3.10.8 node does not route its unroutable messages there).
			x.alternate = x.alternateFor(x.policy)
		}
	}
	var changes []queueChange
	for _, q := range v.mu.queues {
		if p := v.matchLocked(q.name, q.opts.quorum, true); p != q.policy {
			q.policy = p
			changes = append(changes, queueChange{q, p})
		}
	}
	return changes
}

// rematchTo installs list (in matching order) as v's policies and gives every exchange
// and queue its policy under it, returning the queues whose policy changed, as
// rematchLocked. The matching (a regular expression per entity and policy: tens of
// milliseconds for tens of thousands of queues) runs under the read lock, so publishes go
// on meanwhile; the write lock covers only installing the list and the changed policies.
// pol.mu is held; it returns with VHost.mu held for writing, for the caller to stage the
// store change and unlockCommit.
func (v *VHost) rematchTo(list []*Policy) []queueChange {
	type xchange struct {
		x *Exchange
		p *Policy
	}
	var xs []xchange
	var qs []queueChange
	v.mu.RLock()
	added := v.mu.added
	for _, x := range v.mu.exchanges {
		if p := matchIn(list, x.name, false, false); p != x.policy {
			xs = append(xs, xchange{x, p})
		}
	}
	for _, q := range v.mu.queues {
		if p := matchIn(list, q.name, q.opts.quorum, true); p != q.policy {
			qs = append(qs, queueChange{q, p})
		}
	}
	v.mu.RUnlock()
	v.mu.Lock()
	v.pol.list = list
	if v.mu.added != added {
		// Declared in between, matched against the old list: match everything again.
		return v.rematchLocked()
	}
	// Only pol.mu's holder changes policies, so those read above are still current;
	// an entity deleted in between is skipped.
	for _, c := range xs {
		if v.mu.exchanges[c.x.name] == c.x {
			c.x.policy = c.p
			if c.x.name != "" {
				c.x.alternate = c.x.alternateFor(c.p) // as rematchLocked
			}
		}
	}
	changes := qs[:0]
	for _, c := range qs {
		if v.mu.queues[c.q.name] == c.q {
			c.q.policy = c.p
			changes = append(changes, c)
		}
	}
	return changes
}

func applyChanges(changes []queueChange) {
	for _, c := range changes {
		c.q.applyPolicy(c.p)
	}
}

// SetPolicy creates or replaces policy name (rabbitmqctl set_policy, PUT
// /api/policies/{vhost}/{name}) and applies it to v's queues and exchanges at once.
// created reports whether it is new. A refused policy is a *PolicyError.
func (v *VHost) SetPolicy(name string, in PolicyInput) (created bool, err error) {
	p, err := newPolicy(v.name, name, in)
	if err != nil {
		return false, err
	}
	v.pol.mu.Lock()
	defer v.pol.mu.Unlock()
	if err := v.goneLocked(); err != nil {
		return false, err
	}
	list := slices.Clone(v.pol.list) // a new array: readers under VHost.mu keep the old one
	i := slices.IndexFunc(list, func(o *Policy) bool { return o.Name == name })
	if i >= 0 {
		list = slices.Delete(list, i, i+1)
	}
	list = append(list, p)
	slices.SortFunc(list, byPrecedence)
	changes := v.rematchTo(list)
	if v.pst != nil {
		v.batchLocked().PutEntity(store.KindPolicy, nameKey(v.name, name), encodePolicy(p))
	}
	err = v.unlockCommit(nil)
	applyChanges(changes)
	return i < 0, err
}

// DeletePolicy removes policy name (rabbitmqctl clear_policy); the entities it applied to
// get their next matching policy, or none. found=false if there was no such policy.
func (v *VHost) DeletePolicy(name string) (found bool, err error) {
	v.pol.mu.Lock()
	defer v.pol.mu.Unlock()
	if err := v.goneLocked(); err != nil {
		return false, err
	}
	i := slices.IndexFunc(v.pol.list, func(o *Policy) bool { return o.Name == name })
	if i < 0 {
		return false, nil
	}
	changes := v.rematchTo(slices.Delete(slices.Clone(v.pol.list), i, i+1))
	if v.pst != nil {
		v.batchLocked().DeleteEntity(store.KindPolicy, nameKey(v.name, name))
	}
	err = v.unlockCommit(nil)
	applyChanges(changes)
	return true, err
}

// dropPoliciesLocked deletes v's stored policies, for DeleteVHost. pol.mu and VHost.mu
// are held, and pol.gone is set, so no policy is stored after it.
func (v *VHost) dropPoliciesLocked() {
	if v.pst == nil {
		return
	}
	for _, p := range v.pol.list {
		v.batchLocked().DeleteEntity(store.KindPolicy, nameKey(v.name, p.Name))
	}
}

// Policies returns v's policies, ordered as RabbitMQ lists them (by priority, lowest first;
// then by name).
func (v *VHost) Policies() []*Policy {
	v.mu.RLock()
	out := slices.Clone(v.pol.list)
	v.mu.RUnlock()
	slices.Reverse(out)
	slices.SortStableFunc(out, func(a, b *Policy) int {
		if a.Priority != b.Priority {
			if a.Priority < b.Priority {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// Policy returns v's policy name, nil if there is none.
func (v *VHost) Policy(name string) *Policy {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for _, p := range v.pol.list {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// QueuePolicy returns the policy applied to queue name, nil if none (or no such queue).
func (v *VHost) QueuePolicy(name string) *Policy {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if q := v.mu.queues[name]; q != nil {
		return q.policy
	}
	return nil
}

// ExchangePolicy returns the policy applied to exchange name, nil if none.
func (v *VHost) ExchangePolicy(name string) *Policy {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if x := v.mu.exchanges[name]; x != nil {
		return x.policy
	}
	return nil
}

// policyRecord is a policy's stored form (after recordV1).
type policyRecord struct {
	Pattern    string         `json:"pattern"`
	ApplyTo    string         `json:"apply-to"`
	Priority   float64        `json:"priority"`
	Definition map[string]any `json:"definition"`
}

func encodePolicy(p *Policy) []byte {
	b, _ := json.Marshal(policyRecord{Pattern: p.Pattern, ApplyTo: p.ApplyTo, Priority: p.Priority, Definition: p.Definition})
	return append([]byte{recordV1}, b...)
}

func decodePolicy(vhost, name string, val []byte) (*Policy, error) {
	if len(val) < 1 || val[0] != recordV1 {
		return nil, fmt.Errorf("%w: policy %q record version", errRecord, name)
	}
	var r policyRecord
	dec := json.NewDecoder(bytes.NewReader(val[1:]))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: policy %q: %v", errRecord, name, err)
	}
	defs := make(map[string]any, len(r.Definition))
	for k, val := range r.Definition {
		defs[k] = val
	}
	return newPolicy(vhost, name, PolicyInput{Pattern: r.Pattern, Definition: defs, Priority: r.Priority, HasPriority: true, ApplyTo: r.ApplyTo, HasApplyTo: true})
}

// recoverPolicies loads the stored policies after recover and applies them. A policy of a
// vhost that is gone is deleted.
func (b *Broker) recoverPolicies() error {
	if b.pst == nil {
		return nil
	}
	st := b.pst.st
	var stale []string
	err := st.Entities(store.KindPolicy, func(key string, val []byte) error {
		vh, name, err := splitNameKey(key)
		if err != nil {
			return err
		}
		v := b.mu.vhosts[vh]
		if v == nil {
			stale = append(stale, key)
			return nil
		}
		p, err := decodePolicy(vh, name, val)
		if err != nil {
			// Accepted when it was set; a later version may check more.
			b.log.Warn().Err(err).Str("vhost", vh).Str("policy", name).Msg("recovered policy this version refuses; ignoring it")
			return nil
		}
		v.pol.list = append(v.pol.list, p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("recover policies: %w", err)
	}
	for _, key := range stale {
		if err := st.DeleteEntity(store.KindPolicy, key); err != nil {
			return fmt.Errorf("recover policies: %w", err)
		}
	}
	for _, v := range b.mu.vhosts {
		if len(v.pol.list) == 0 {
			continue
		}
		v.mu.Lock()
		slices.SortFunc(v.pol.list, byPrecedence)
		changes := v.rematchLocked()
		v.mu.Unlock()
		applyChanges(changes)
	}
	return nil
}
