package mgmt

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/warrenmq/warren/cmd/warren/mgmt/ui"
)

// The web UI's end-to-end tests: headless Chromium (Debian's chromium package) drives
// the UI served by a real in-process warren, and amqp091-go checks what the UI did.
//
//	go test -race -count=1 -run TestUI ./cmd/warren/mgmt/
//
// Without /usr/bin/chromium the browser tests skip, unless WARREN_REQUIRE_CHROMIUM=1
// (CI). On a failure a full-page screenshot goes to $WARREN_TEST_ARTIFACTS (else a
// temporary folder; the path is logged). WARREN_UI_SCREENSHOTS=dir also saves one PNG
// of every page the test visits, for looking at the UI.

const chromiumPath = "/usr/bin/chromium"

// TestUIFiles needs no browser: the page, its modules and the security headers.
func TestUIFiles(t *testing.T) {
	e := start(t)
	for _, tc := range []struct {
		name, path, ctype string
		want              string
	}{
		{"index at /", "/", "text/html; charset=utf-8", `<script type="module" src="static/app.js">`},
		{"index by name", "/index.html", "text/html; charset=utf-8", `<form id="login-form"`},
		{"module", "/static/app.js", "text/javascript; charset=utf-8", "import * as api"},
		{"style", "/static/app.css", "text/css; charset=utf-8", ":root"},
		{"icon", "/static/favicon.svg", "image/svg+xml", "<svg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.doAs("", "", "GET", tc.path, "")
			if r.code != 200 || r.hdr.Get("Content-Type") != tc.ctype || !strings.Contains(string(r.body), tc.want) {
				t.Fatalf("GET %s: %d %q, %d bytes; want 200 %q containing %q", tc.path, r.code, r.hdr.Get("Content-Type"), len(r.body), tc.ctype, tc.want)
			}
			if csp := r.hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if r.hdr.Get("X-Content-Type-Options") != "nosniff" || r.hdr.Get("ETag") == "" {
				t.Errorf("headers %v", r.hdr)
			}
			// A revalidation with the ETag is a 304 without a body.
			r2 := e.doWithHeader("GET", tc.path, "If-None-Match", r.hdr.Get("ETag"))
			if r2.code != http.StatusNotModified || len(r2.body) != 0 {
				t.Errorf("If-None-Match: %d, %d bytes; want 304 and none", r2.code, len(r2.body))
			}
		})
	}
	// Every embedded file has a content type of its own (uiTypes).
	err := fs.WalkDir(ui.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if _, ok := uiTypes[path.Ext(p)]; !ok {
				t.Errorf("%s: no content type in uiTypes", p)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Unknown files are the API's JSON 404; the API itself is unchanged.
	e.want(e.doAs("", "", "GET", "/static/nope.js", ""), 404, `{"error":"Object Not Found","reason":"Not Found"}`)
	e.want(e.doAs("", "", "GET", "/nope", ""), 404, `{"error":"Object Not Found","reason":"Not Found"}`)
	e.want(e.doAs("", "", "GET", "/api/overview", ""), 401, "")
	e.want(e.do("GET", "/api/whoami", ""), 200, `{"name":"guest","tags":["administrator"]}`)
}

// browser is one headless Chromium tab on the UI.
type browser struct {
	t         *testing.T
	ctx       context.Context
	base      string
	artifacts string // failure screenshots
	keep      string // a note when artifacts is a temporary folder
	shots     string // WARREN_UI_SCREENSHOTS: every page; "" = none

	mu     sync.Mutex
	errors []string // console errors and uncaught exceptions, guarded by mu
}

// stepTimeout bounds every browser step; the whole test stays well under a minute.
const stepTimeout = 15 * time.Second

func startBrowser(t *testing.T, base string) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("WARREN_REQUIRE_CHROMIUM") == "1" {
			t.Fatalf("WARREN_REQUIRE_CHROMIUM=1 but %s is missing (apt-get install chromium): %v", chromiumPath, err)
		}
		t.Skipf("%s not installed (Debian package chromium); set WARREN_REQUIRE_CHROMIUM=1 to fail instead", chromiumPath)
	}
	artifacts, keep := os.Getenv("WARREN_TEST_ARTIFACTS"), ""
	if artifacts == "" {
		artifacts, keep = t.TempDir(), " (removed after the test: set WARREN_TEST_ARTIFACTS to keep it)"
	} else if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx) // no WithLogf(t.Logf): chromedp may log after the test ends
	b := &browser{t: t, ctx: ctx, base: base, artifacts: artifacts, keep: keep, shots: os.Getenv("WARREN_UI_SCREENSHOTS")}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// Start the browser now, so that a broken install fails here. The first action
	// must run on ctx itself (a derived context would own the browser and end it when
	// cancelled), so a timer bounds it instead.
	watchdog := time.AfterFunc(30*time.Second, cancelTab)
	err := chromedp.Do(ctx, chromedp.Navigate("about:blank"))
	if !watchdog.Stop() || err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException {
				continue
			}
			// The API's error answers (a wrong password, a refused declare) are part
			// of the tests; Chromium logs each as a failed resource.
			if m.Source == "network" && strings.Contains(m.URL, "/api/") {
				continue
			}
			b.mu.Lock()
			b.errors = append(b.errors, fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
			b.mu.Unlock()
		}
	}()
	b.failShot(t, "TestUI")
	return b
}

// failShot saves a full-page screenshot when t has failed, at t's end.
func (b *browser) failShot(t *testing.T, name string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Logf("no failure screenshot: %v", err)
			return
		}
		path := filepath.Join(b.artifacts, "ui-"+regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(name, "_")+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Logf("writing %s: %v", path, err)
			return
		}
		t.Logf("failure screenshot: %s%s", path, b.keep)
	})
}

// run runs steps with a bounded time and fails t on an error.
func (b *browser) run(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v%s", what, err, b.errorsSoFar())
	}
}

// eval returns a JavaScript expression's value.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v%s", expr, err, b.errorsSoFar())
	}
	return v
}

// waitFor polls a JavaScript expression until it is truthy; what says what for.
func (b *browser) waitFor(t *testing.T, what, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(stepTimeout-time.Second))); err != nil {
		t.Fatalf("waiting for %s (%s): %v%s", what, expr, err, b.errorsSoFar())
	}
}

// text is the visible text of the first element matching a CSS selector ("" if none).
func (b *browser) text(t *testing.T, css string) string {
	t.Helper()
	return eval[string](t, b, fmt.Sprintf(`(document.querySelector(%q)?.innerText ?? '')`, css))
}

// tid is a CSS selector for a data-testid.
func tid(id string) string { return fmt.Sprintf(`[data-testid=%q]`, id) }

// visit opens a page from the navigation bar (or a hash) and waits for its first load.
func (b *browser) visit(t *testing.T, hash, page string) {
	t.Helper()
	if eval[string](t, b, `location.hash`) == hash {
		// Setting the same hash again changes nothing: go through another page so
		// that this one is drawn afresh.
		b.visit(t, "#/nowhere", "")
	}
	b.run(t, "go to "+hash, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = %q`, hash)))
	b.waitFor(t, page+" loaded", fmt.Sprintf(`(m => m.dataset.hash === %q && m.dataset.page === %q && !m.hasAttribute('aria-busy'))(document.getElementById('main'))`, hash, page))
	if msg := b.text(t, "#page-error"); msg != "" {
		t.Fatalf("%s: page error %q", hash, msg)
	}
	b.noErrors(t)
	b.accessible(t, hash)
	b.shot(t, page+"-"+hash)
}

// accessible checks what a page must have for keyboard and screen-reader users: a
// label on every form control, a name on every button and link, headers on every
// table, one h1, and ids used once.
func (b *browser) accessible(t *testing.T, where string) {
	t.Helper()
	problems := eval[[]string](t, b, `(() => {
		const out = [];
		const shown = (e) => !e.closest('[hidden]');
		const tag = (e) => e.outerHTML.slice(0, 90);
		for (const e of document.querySelectorAll('input, select, textarea')) {
			if (shown(e) && e.labels.length === 0 && !e.getAttribute('aria-label')) out.push('no label: ' + tag(e));
		}
		for (const e of document.querySelectorAll('button, a[href]')) {
			if (shown(e) && !e.textContent.trim() && !e.getAttribute('aria-label')) out.push('no name: ' + tag(e));
		}
		for (const e of document.querySelectorAll('table')) {
			if (!e.querySelector('thead th[scope=col]')) out.push('no column headers: ' + tag(e));
		}
		const h1 = [...document.querySelectorAll('h1')].filter(shown).length;
		if (h1 !== 1) out.push(h1 + ' h1 elements');
		const seen = new Set();
		for (const e of document.querySelectorAll('[id]')) {
			if (seen.has(e.id)) out.push('duplicate id ' + e.id);
			seen.add(e.id);
		}
		return out;
	})()`)
	if len(problems) > 0 {
		t.Errorf("%s: accessibility:\n%s", where, strings.Join(problems, "\n"))
	}
}

// shot saves the page for a person to look at (WARREN_UI_SCREENSHOTS).
func (b *browser) shot(t *testing.T, name string) {
	t.Helper()
	if b.shots == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	name = regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(name, "_")
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// errorsSoFar lists the page's errors for a failure message, as the likely cause of a
// step that timed out (a module that does not parse shows no login form).
func (b *browser) errorsSoFar() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errors) == 0 {
		return ""
	}
	return "\nJavaScript errors:\n" + strings.Join(b.errors, "\n")
}

// noErrors fails t if the page logged an error or threw.
func (b *browser) noErrors(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errors) > 0 {
		t.Fatalf("JavaScript errors:\n%s", strings.Join(b.errors, "\n"))
	}
}

// fill types into inputs and textareas found by data-testid, replacing their values.
func (b *browser) fill(t *testing.T, fields map[string]string) {
	t.Helper()
	for id, v := range fields {
		b.run(t, "fill "+id, chromedp.SetValue(chromedp.CSS(tid(id)), v))
	}
}

func (b *browser) click(t *testing.T, id string) {
	t.Helper()
	b.run(t, "click "+id, chromedp.Click(chromedp.CSS(tid(id)), chromedp.NodeVisible))
}

// open expands the <details> panel whose summary contains a form with testid form.
func (b *browser) open(t *testing.T, form string) {
	t.Helper()
	b.run(t, "open "+form, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`document.querySelector(%q).closest('details').querySelector('summary').click()`, tid(form))))
	b.waitFor(t, form+" visible", fmt.Sprintf(`document.querySelector(%q).offsetParent !== null`, tid(form)))
}

// status waits for a form's status line to say something and returns it.
func (b *browser) status(t *testing.T, id string) (text string, isError bool) {
	t.Helper()
	b.waitFor(t, id, fmt.Sprintf(`document.querySelector(%q).textContent !== ''`, tid(id)))
	text = b.text(t, tid(id))
	isError = eval[bool](t, b, fmt.Sprintf(`document.querySelector(%q).classList.contains('error')`, tid(id)))
	return text, isError
}

// wantStatus waits for a form's success message.
func (b *browser) wantStatus(t *testing.T, id, want string) {
	t.Helper()
	got, isErr := b.status(t, id)
	if isErr || !strings.Contains(got, want) {
		t.Fatalf("%s says %q (error %v), want %q", id, got, isErr, want)
	}
}

// rowSelector finds a table row by its data-key.
func rowSelector(table, key string) string {
	return fmt.Sprintf(`%s tr[data-key=%q]`, tid(table), key)
}

func (b *browser) login(t *testing.T, user, pass string) {
	t.Helper()
	b.run(t, "log in", chromedp.Navigate(b.base+"/"),
		chromedp.WaitVisible(chromedp.CSS(tid("login-form"))),
		chromedp.SetValue(chromedp.CSS(tid("login-user")), user),
		chromedp.SetValue(chromedp.CSS(tid("login-pass")), pass),
		chromedp.Click(chromedp.CSS(tid("login-submit"))))
}

// TestUI drives the whole UI once, in one browser tab, as a person would.
func TestUI(t *testing.T) {
	e := start(t)
	b := startBrowser(t, e.base)
	began := time.Now()
	defer func() { t.Logf("browser test took %v", time.Since(began).Round(time.Millisecond)) }()

	conn := e.dial("ui-test-client")
	ch := e.channel(conn)
	if _, err := ch.QueueDeclare("ui.consumed", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Consume("ui.consumed", "ui-consumer", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, func(t *testing.T) {
			b.failShot(t, t.Name())
			f(t)
			b.noErrors(t)
		}) {
			t.FailNow() // later steps build on earlier ones
		}
	}

	step("login refused", func(t *testing.T) {
		b.login(t, "guest", "wrong")
		msg, isErr := b.status(t, "login-status")
		if !isErr || !strings.Contains(msg, "Login failed") {
			t.Fatalf("login status %q (error %v), want a Login failed error", msg, isErr)
		}
		b.shot(t, "login-refused")
	})

	step("login", func(t *testing.T) {
		b.login(t, "guest", "guest")
		b.waitFor(t, "the header", `!document.getElementById('top').hidden`)
		if who := b.text(t, tid("whoami")); who != "guest" {
			t.Fatalf("whoami shows %q", who)
		}
		// The session survives a reload (sessionStorage), as RabbitMQ's UI does.
		b.run(t, "reload", chromedp.Reload())
		b.waitFor(t, "the header after reload", `!document.getElementById('top').hidden`)
	})

	step("every page loads", func(t *testing.T) {
		for _, p := range []struct{ hash, page, want string }{
			{"#/", "overview", tid("count-connections")},
			{"#/connections", "connections", `[data-testid=connections-table] tr[data-key]`},
			{"#/channels", "channels", `[data-testid=channels-table] tr[data-key]`},
			{"#/exchanges", "exchanges", rowSelector("exchanges-table", "//amq.topic")},
			{"#/exchanges/%2F/amq.default", "exchanges", tid("exchange-details")},
			{"#/exchanges/%2F/amq.direct", "exchanges", tid("exchange-details")},
			{"#/queues", "queues", rowSelector("queues-table", "//ui.consumed")},
			{"#/queues/%2F/ui.consumed", "queues", tid("consumers-table")},
		} {
			b.visit(t, p.hash, p.page)
			b.waitFor(t, p.want, fmt.Sprintf(`document.querySelector(%q) !== null`, p.want))
		}
		b.visit(t, "#/connections", "connections")
		if got := b.text(t, tid("connections-table")); !strings.Contains(got, "ui-test-client") || !strings.Contains(got, "guest") {
			t.Errorf("connections table %q lacks the client's connection_name and user", got)
		}
		b.visit(t, "#/queues/%2F/ui.consumed", "queues")
		if got := b.text(t, tid("consumers-table")); !strings.Contains(got, "ui-consumer") {
			t.Errorf("consumers table %q lacks ui-consumer", got)
		}
		b.visit(t, "#/", "overview")
		if got := b.text(t, tid("count-queues")); got != "1" {
			t.Errorf("overview counts %q queues, want 1", got)
		}
		if got := b.text(t, tid("count-consumers")); got != "1" {
			t.Errorf("overview counts %q consumers, want 1", got)
		}
		if got := b.text(t, tid("overview-rates")); !strings.Contains(got, "Publish") {
			t.Errorf("overview rates %q lack Publish", got)
		}
		if got := b.text(t, tid("node-info")); !strings.Contains(got, "warren@test") {
			t.Errorf("node info %q lacks the node name", got)
		}
		b.visit(t, "#/nowhere", "")
	})

	step("close a connection", func(t *testing.T) {
		doomed := e.dial("ui-doomed")
		closed := doomed.NotifyClose(make(chan *amqp091.Error, 1))
		b.visit(t, "#/connections", "connections")
		row := `[...document.querySelectorAll('[data-testid=connections-table] tr[data-key]')].find(r => r.innerText.includes('ui-doomed'))`
		b.waitFor(t, "the connection's row", row+` !== undefined`)
		b.run(t, "close it", chromedp.Evaluate[chromedp.Void](row+`.querySelector('[data-testid=close-connection]').click()`))
		b.run(t, "confirm", chromedp.Evaluate[chromedp.Void](row+`.querySelector('[data-testid=close-connection-confirm]').click()`))
		select {
		case err := <-closed:
			if err == nil || err.Code != amqp091.ConnectionForced {
				t.Fatalf("closed with %v, want 320 CONNECTION_FORCED", err)
			}
		case <-time.After(stepTimeout):
			t.Fatal("the connection is still open")
		}
		b.waitFor(t, "the row gone", row+` === undefined`)
		if got := b.text(t, tid("connections-table")); !strings.Contains(got, "ui-test-client") {
			t.Fatalf("the other connection is gone too: %q", got)
		}
	})

	step("declare queue", func(t *testing.T) {
		b.visit(t, "#/queues", "queues")
		// A refused declare shows the API's reason and declares nothing.
		b.fill(t, map[string]string{"queue-name": "ui.bad", "queue-args": `x-max-length = "many"`})
		b.click(t, "queue-declare-submit")
		if msg, isErr := b.status(t, "queue-declare-status"); !isErr || !strings.Contains(msg, "x-max-length") {
			t.Fatalf("declare with a bad argument says %q (error %v), want the API's error", msg, isErr)
		}
		b.shot(t, "declare-refused")
		b.fill(t, map[string]string{"queue-name": "ui.q1", "queue-args": "x-max-length = 100\nx-queue-mode = lazy"})
		b.click(t, "queue-declare-submit")
		b.wantStatus(t, "queue-declare-status", "Queue ui.q1 declared.")
		b.waitFor(t, "ui.q1 in the list", fmt.Sprintf(`document.querySelector(%q) !== null`, rowSelector("queues-table", "//ui.q1")))
		q, err := e.channel(conn).QueueDeclarePassive("ui.q1", false, false, false, false, nil)
		if err != nil {
			t.Fatalf("ui.q1 over AMQP: %v", err)
		}
		if q.Messages != 0 {
			t.Fatalf("ui.q1 has %d messages", q.Messages)
		}
		if _, err := e.channel(conn).QueueDeclarePassive("ui.bad", false, false, false, false, nil); err == nil {
			t.Fatal("ui.bad exists after a refused declare")
		}
		b.visit(t, "#/queues/%2F/ui.q1", "queues")
		if got := b.text(t, tid("queue-arguments")); !strings.Contains(got, "x-max-length") || !strings.Contains(got, "100") {
			t.Errorf("queue arguments %q", got)
		}
	})

	step("publish from the UI", func(t *testing.T) {
		b.visit(t, "#/queues/%2F/ui.q1", "queues")
		b.open(t, "qpublish-form")
		// A property the API refuses: its reason, and nothing published.
		b.fill(t, map[string]string{"qpublish-payload": "refused", "qpublish-properties": "colour = red"})
		b.click(t, "qpublish-submit")
		if msg, isErr := b.status(t, "qpublish-status"); !isErr || !strings.Contains(msg, "bad_property,colour") {
			t.Fatalf("publish with a bad property says %q (error %v), want the API's error", msg, isErr)
		}
		b.fill(t, map[string]string{
			"qpublish-payload":    "hello from the UI",
			"qpublish-headers":    "x-test = 1\nx-who = browser",
			"qpublish-properties": "content_type = text/plain\nmessage_id = 42",
		})
		b.run(t, "persistent", chromedp.SetValue(chromedp.CSS(tid("qpublish-delivery-mode")), "2"))
		b.click(t, "qpublish-submit")
		b.wantStatus(t, "qpublish-status", "Message published.")
		b.waitFor(t, "one ready message", `document.querySelector('[data-testid=count-ready]')?.textContent === '1'`)
		d, ok, err := e.channel(conn).Get("ui.q1", true)
		if err != nil || !ok {
			t.Fatalf("basic.get: %v, %v", ok, err)
		}
		if string(d.Body) != "hello from the UI" || d.ContentType != "text/plain" || d.MessageId != "42" ||
			d.DeliveryMode != 2 || d.Headers["x-who"] != "browser" || fmt.Sprint(d.Headers["x-test"]) != "1" {
			t.Fatalf("got %q type %q id %q mode %d headers %v", d.Body, d.ContentType, d.MessageId, d.DeliveryMode, d.Headers)
		}
	})

	var held amqp091.Delivery
	pubCh := e.channel(conn)
	step("peek at messages published over AMQP", func(t *testing.T) {
		msgs := []amqp091.Publishing{
			{ContentType: "application/json", MessageId: "m-1", CorrelationId: "c-1", Priority: 3,
				Headers: amqp091.Table{"trace": "abc", "n": int32(7)}, Body: []byte(`{"order":1}`)},
			{ContentType: "application/json", MessageId: "m-2", Body: []byte(`{"order":2}`)},
			{Type: "blob", Body: []byte{0xff, 0xfe, 0x00, 0x01}},
		}
		for _, m := range msgs {
			if err := pubCh.Publish("", "ui.q1", false, false, m); err != nil {
				t.Fatal(err)
			}
		}
		// Hold the first one unacked: peek lists it first, as unacked.
		var ok bool
		var err error
		held, ok, err = pubCh.Get("ui.q1", false)
		if err != nil || !ok {
			t.Fatalf("basic.get: %v %v", ok, err)
		}
		b.visit(t, "#/queues/%2F/ui.q1", "queues")
		if r, u := b.text(t, tid("count-ready")), b.text(t, tid("count-unacked")); r != "2" || u != "1" {
			t.Errorf("queue page counts %s ready and %s unacked, want 2 and 1", r, u)
		}
		b.click(t, "peek-button")
		b.waitFor(t, "three peeked messages", `document.querySelectorAll('[data-testid=peek-message]').length === 3`)
		// Each message is one line until opened: its summary shows the payload's start.
		first := `[data-testid=peek-message][data-position="0"] `
		b.run(t, "open message 0", chromedp.Click(chromedp.CSS(first+"summary")))
		b.waitFor(t, "message 0 open", `document.querySelector('[data-testid=peek-message][data-position="0"]').open`)
		for sel, want := range map[string]string{
			first + tid("message-state"):                    "unacked",
			first + tid("message-routing-key"):              "ui.q1",
			first + tid("message-headers"):                  "trace",
			first + tid("message-payload"):                  `"order": 1`, // indented JSON
			first + tid("message-properties"):               "application/json",
			`[data-position="1"] ` + tid("message-state"):   "ready",
			`[data-position="1"] ` + tid("message-preview"): `{"order":2}`,
			`[data-position="2"] ` + tid("message-preview"): "base64: //4AAQ==",
			tid("peek-status"):                              "1 unacked and 2 ready",
		} {
			if got := b.text(t, sel); !strings.Contains(got, want) {
				t.Errorf("%s shows %q, want %q", sel, got, want)
			}
		}
		b.shot(t, "peek")
		for _, want := range []string{"abc", "n", "7"} {
			if got := b.text(t, first+tid("message-headers")); !strings.Contains(got, want) {
				t.Errorf("headers %q lack %q", got, want)
			}
		}
		for _, want := range []string{"m-1", "c-1", "priority", "3"} {
			if got := b.text(t, first+tid("message-properties")); !strings.Contains(got, want) {
				t.Errorf("properties %q lack %q", got, want)
			}
		}
		// Two at a time: the next page starts at position 2.
		b.fill(t, map[string]string{"peek-count": "2"})
		b.click(t, "peek-button")
		b.waitFor(t, "two peeked messages", `document.querySelectorAll('[data-testid=peek-message]').length === 2`)
		b.click(t, "peek-next")
		b.waitFor(t, "the second page", `(m => m.length === 1 && m[0].dataset.position === '2')(document.querySelectorAll('[data-testid=peek-message]'))`)
		b.click(t, "peek-prev")
		b.waitFor(t, "the first page again", `(m => m.length === 2 && m[0].dataset.position === '0')(document.querySelectorAll('[data-testid=peek-message]'))`)

		// Peeking took nothing: the queue still has two ready messages.
		q, err := e.channel(conn).QueueDeclarePassive("ui.q1", false, false, false, false, nil)
		if err != nil || q.Messages != 2 {
			t.Fatalf("after peek: %d ready, %v; want 2", q.Messages, err)
		}
	})

	step("sort the queue list", func(t *testing.T) {
		b.visit(t, "#/queues", "queues")
		order := func() string {
			return eval[string](t, b, `[...document.querySelectorAll('[data-testid=queues-table] tbody tr')].map(r => r.dataset.key).join(' ')`)
		}
		sortBy := func(label string) {
			b.run(t, "sort by "+label, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
				`[...document.querySelectorAll('[data-testid=queues-table-sort]')].find(b => b.textContent.startsWith(%q)).click()`, label)))
		}
		sortBy("Total") // largest first
		if got := order(); got != "//ui.q1 //ui.consumed" {
			t.Errorf("by total: %q", got)
		}
		sortBy("Total")
		if got := order(); got != "//ui.consumed //ui.q1" {
			t.Errorf("by total, again: %q", got)
		}
		if got := eval[string](t, b, `document.querySelector('[data-testid=queues-table] th[aria-sort]').getAttribute('aria-sort')`); got != "ascending" {
			t.Errorf("aria-sort %q", got)
		}
		// The order survives the 5-second redraw: a redraw from the page's own data.
		b.run(t, "redraw", chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=queues-filter]').dispatchEvent(new Event('input'))`))
		if got := order(); got != "//ui.consumed //ui.q1" {
			t.Errorf("after a redraw: %q", got)
		}
		b.visit(t, "#/queues/%2F/ui.q1", "queues")
	})

	step("get", func(t *testing.T) {
		b.open(t, "get-form")
		b.click(t, "get-button")
		b.wantStatus(t, "get-status", "Got 1 message.")
		if got := b.text(t, tid("get-messages")); !strings.Contains(got, `"order": 2`) {
			t.Fatalf("get shows %q", got)
		}
		q, err := e.channel(conn).QueueDeclarePassive("ui.q1", false, false, false, false, nil)
		if err != nil || q.Messages != 2 {
			t.Fatalf("after get with requeue: %d ready, %v; want 2", q.Messages, err)
		}
		// Ack without requeue takes the message off the queue.
		b.run(t, "ack mode", chromedp.SetValue(chromedp.CSS(tid("get-ackmode")), "ack_requeue_false"))
		b.click(t, "get-button")
		b.waitFor(t, "the second get", `document.querySelector('[data-testid=get-status]').textContent === 'Got 1 message.' && !document.querySelector('[data-testid=get-button]').disabled`)
		b.waitFor(t, "one ready message left", `document.querySelector('[data-testid=count-ready]')?.textContent === '1'`)
		q, err = e.channel(conn).QueueDeclarePassive("ui.q1", false, false, false, false, nil)
		if err != nil || q.Messages != 1 {
			t.Fatalf("after get with ack: %d ready, %v; want 1", q.Messages, err)
		}
	})

	step("purge", func(t *testing.T) {
		if err := held.Ack(false); err != nil {
			t.Fatal(err)
		}
		// Peek again every 5 seconds, and after each change made on the page.
		b.click(t, "peek-live")
		b.waitFor(t, "one peeked message", `document.querySelectorAll('[data-testid=peek-message]').length === 1`)
		b.click(t, "queue-purge")
		b.click(t, "queue-purge-confirm")
		b.wantStatus(t, "queue-action-status", "Queue purged.")
		b.waitFor(t, "zero messages", `document.querySelector('[data-testid=count-total]')?.textContent === '0'`)
		q, err := e.channel(conn).QueueDeclarePassive("ui.q1", false, false, false, false, nil)
		if err != nil || q.Messages != 0 {
			t.Fatalf("after purge: %d messages, %v", q.Messages, err)
		}
		b.waitFor(t, "an empty peek without a click", `document.querySelector('[data-testid=peek-empty]') !== null`)
	})

	step("declare exchange and bind", func(t *testing.T) {
		b.visit(t, "#/exchanges", "exchanges")
		b.fill(t, map[string]string{"exchange-name": "ui.x"})
		b.run(t, "topic", chromedp.SetValue(chromedp.CSS(tid("exchange-type")), "topic"))
		b.click(t, "exchange-declare-submit")
		b.wantStatus(t, "exchange-declare-status", "Exchange ui.x declared.")
		b.waitFor(t, "ui.x in the list", fmt.Sprintf(`document.querySelector(%q) !== null`, rowSelector("exchanges-table", "//ui.x")))
		if err := e.channel(conn).ExchangeDeclarePassive("ui.x", "topic", true, false, false, false, nil); err != nil {
			t.Fatalf("ui.x over AMQP: %v", err)
		}

		b.run(t, "open ui.x", chromedp.Click(chromedp.CSS(rowSelector("exchanges-table", "//ui.x")+" a")))
		b.waitFor(t, "exchange page", `document.querySelector('[data-testid=exchange-title]')?.textContent === 'ui.x' && !document.getElementById('main').hasAttribute('aria-busy')`)
		b.open(t, "xbind-form")
		b.waitFor(t, "ui.q1 among the suggested queues", `[...document.querySelectorAll('#xbind-names option')].some(o => o.value === 'ui.q1')`)
		b.fill(t, map[string]string{"xbind-name": "ui.q1", "xbind-routing-key": "orders.#"})
		b.click(t, "xbind-submit")
		b.wantStatus(t, "xbind-status", "Binding added.")
		b.waitFor(t, "the binding", `document.querySelector('[data-testid=bindings-from-table]')?.innerText.includes('orders.#')`)

		b.open(t, "xpublish-form")
		b.fill(t, map[string]string{"xpublish-routing-key": "orders.eu.new", "xpublish-payload": "routed"})
		b.click(t, "xpublish-submit")
		b.wantStatus(t, "xpublish-status", "Message published.")
		d, ok, err := e.channel(conn).Get("ui.q1", true)
		if err != nil || !ok || string(d.Body) != "routed" || d.Exchange != "ui.x" || d.RoutingKey != "orders.eu.new" {
			t.Fatalf("basic.get after a publish to ui.x: %v %v %q %q %q", ok, err, d.Body, d.Exchange, d.RoutingKey)
		}
		b.fill(t, map[string]string{"xpublish-routing-key": "nowhere"})
		b.click(t, "xpublish-submit")
		b.waitFor(t, "unroutable", `document.querySelector('[data-testid=xpublish-status]').textContent.includes('not routed')`)
		b.shot(t, "exchange-bound")

		// The queue page lists the binding from ui.x; unbind it there.
		b.visit(t, "#/queues/%2F/ui.q1", "queues")
		b.waitFor(t, "ui.x binding on the queue page", `document.querySelector('[data-testid=queue-bindings-table]')?.innerText.includes('ui.x')`)
		b.click(t, "unbind")
		b.click(t, "unbind-confirm")
		b.waitFor(t, "only the default binding", `!document.querySelector('[data-testid=queue-bindings-table]')?.innerText.includes('ui.x')`)

		// And bind again from the queue page.
		b.open(t, "qbind-form")
		b.fill(t, map[string]string{"qbind-name": "ui.x", "qbind-routing-key": "audit.*"})
		b.click(t, "qbind-submit")
		b.wantStatus(t, "qbind-status", "Binding added.")
		r := e.do("GET", "/api/bindings/%2F/e/ui.x/q/ui.q1", "")
		if r.code != 200 || !strings.Contains(string(r.body), `"routing_key":"audit.*"`) || strings.Contains(string(r.body), "orders.#") {
			t.Fatalf("bindings ui.x → ui.q1: %d %s", r.code, r.body)
		}
	})

	step("delete queue", func(t *testing.T) {
		b.click(t, "queue-delete")
		b.click(t, "queue-delete-confirm")
		b.waitFor(t, "the queue list without ui.q1", fmt.Sprintf(`location.hash === '#/queues' && !document.getElementById('main').hasAttribute('aria-busy') && document.querySelector(%q) === null`, rowSelector("queues-table", "//ui.q1")))
		if _, err := e.channel(conn).QueueDeclarePassive("ui.q1", false, false, false, false, nil); err == nil {
			t.Fatal("ui.q1 still exists")
		}
	})

	step("vhost selector", func(t *testing.T) {
		e.want(e.do("PUT", "/api/vhosts/ui-v2", ""), 201, "")
		e.want(e.do("PUT", "/api/queues/ui-v2/v2.only", `{"durable":false}`), 201, "")
		b.run(t, "reload", chromedp.Reload()) // the vhost list is read at login and on reload
		b.waitFor(t, "ui-v2 in the selector", `[...document.querySelectorAll('#vhost-select option')].some(o => o.value === 'ui-v2')`)
		selectVHost := func(v string) {
			b.run(t, "select "+v, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
				`(s => { s.value = %q; s.dispatchEvent(new Event('change')); })(document.getElementById('vhost-select'))`, v)))
		}
		b.visit(t, "#/queues", "queues")
		selectVHost("ui-v2")
		b.waitFor(t, "only ui-v2's queues", fmt.Sprintf(`document.querySelector(%q) !== null && document.querySelector(%q) === null`,
			rowSelector("queues-table", "ui-v2/v2.only"), rowSelector("queues-table", "//ui.consumed")))
		if v := b.text(t, `[data-testid=queue-declare-form] select`); !strings.Contains(v, "ui-v2") {
			t.Errorf("declare form's vhost %q", v)
		}
		b.visit(t, "#/exchanges", "exchanges")
		b.waitFor(t, "ui-v2's exchanges", fmt.Sprintf(`document.querySelector(%q) !== null && document.querySelector(%q) === null`,
			rowSelector("exchanges-table", "ui-v2/amq.topic"), rowSelector("exchanges-table", "//amq.topic")))
		selectVHost("")
		b.waitFor(t, "every vhost", fmt.Sprintf(`document.querySelector(%q) !== null && document.querySelector(%q) !== null`,
			rowSelector("exchanges-table", "ui-v2/amq.topic"), rowSelector("exchanges-table", "//amq.topic")))
	})

	step("log out", func(t *testing.T) {
		b.click(t, "logout")
		b.waitFor(t, "the login form", `!document.getElementById('login-view').hidden`)
		if s := eval[string](t, b, `sessionStorage.getItem('warren.auth') ?? ''`); s != "" {
			t.Fatalf("credentials left in sessionStorage: %q", s)
		}
	})

	// A "management" user sees its own vhost only, and no node details (monitoring):
	// the pages degrade without an error.
	step("management user", func(t *testing.T) {
		e.want(e.do("PUT", "/api/users/ui-manager", `{"password":"pw","tags":"management"}`), 201, "")
		e.want(e.do("PUT", "/api/permissions/ui-v2/ui-manager", `{"configure":".*","write":".*","read":".*"}`), 201, "")
		b.login(t, "ui-manager", "pw")
		b.waitFor(t, "the header", `!document.getElementById('top').hidden`)
		b.visit(t, "#/", "overview")
		if got := b.text(t, tid("node-info")); strings.Contains(got, "Uptime") {
			t.Errorf("node info for a management user %q shows the monitoring-only uptime", got)
		}
		b.visit(t, "#/queues", "queues")
		b.waitFor(t, "ui-v2's queue only", fmt.Sprintf(`document.querySelector(%q) !== null && document.querySelector(%q) === null`,
			rowSelector("queues-table", "ui-v2/v2.only"), rowSelector("queues-table", "//ui.consumed")))
		b.visit(t, "#/queues/ui-v2/v2.only", "queues")
		b.visit(t, "#/connections", "connections")
		b.visit(t, "#/channels", "channels")
		// A queue of a vhost it may not use: the API's refusal, shown on the page.
		b.run(t, "go to a refused queue", chromedp.Evaluate[chromedp.Void](`location.hash = '#/queues/%2F/ui.consumed'`))
		b.waitFor(t, "the refusal", `!document.getElementById('page-error').hidden`)
		if got := b.text(t, "#page-error"); !strings.Contains(got, "not_authorised") {
			t.Errorf("page error %q", got)
		}
		b.click(t, "logout")
	})
}
