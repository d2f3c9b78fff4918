package mgmt

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"sync"
	"time"

	"github.com/warrenmq/warren/cmd/warren/mgmt/ui"
)

// The web UI (package ui): index.html at /, the other files at /static/{file}, on the
// API's listener. RabbitMQ serves its UI at / on 15672 too; the API stays under /api/.

// asset is one file of the UI, read at the first request for any of them; immutable.
type asset struct {
	body  []byte
	ctype string
	etag  string // strong validator: a hash of body
}

// uiSecurity is sent with every UI file. The UI loads nothing from elsewhere and has no
// inline script or style, so the policy can be strict: an injected <script> or a
// message body rendered as HTML by mistake does not run. frame-ancestors 'none' keeps
// the UI out of other sites' frames (clickjacking).
var uiSecurity = map[string]string{
	"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options": "nosniff",
	"X-Frame-Options":        "DENY",
	"Referrer-Policy":        "no-referrer",
}

// uiTypes are the UI files' content types, fixed here rather than taken from
// mime.TypeByExtension, which reads the system's tables (/etc/mime.types, the Windows
// registry): a module script served as text/plain is refused by the browser (the HTML
// standard's strict MIME type check for module scripts).
var uiTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// uiRoutes registers the UI's files; they need no authentication (the page asks for a
// login and sends it with every API call). The files are read and hashed at the first
// request for one of them, not when the server is built: that takes 0.1-0.2 ms of the
// broker's start, and most brokers never serve the UI.
func (s *Server) uiRoutes() {
	loadAssets := sync.OnceValue(readAssets)
	serve := func(w http.ResponseWriter, r *http.Request, a *asset) {
		h := w.Header()
		for k, v := range uiSecurity {
			h.Set(k, v)
		}
		h.Set("Content-Type", a.ctype)
		h.Set("ETag", a.etag)
		// Revalidate every time: a new warren binary brings new files under the same
		// names, and a 304 costs one round trip on a local listener.
		h.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	}
	index := func(w http.ResponseWriter, r *http.Request) { serve(w, r, loadAssets()["index.html"]) }
	s.mux.handle("GET /", http.HandlerFunc(index))
	s.mux.handle("GET /index.html", http.HandlerFunc(index))
	s.mux.handle("GET /static/{file}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := loadAssets()[r.PathValue("file")]
		if a == nil {
			writeError(w, errNotFound)
			return
		}
		serve(w, r, a)
	}))
}

// readAssets reads the embedded UI files, by path.
func readAssets() map[string]*asset {
	assets := map[string]*asset{}
	err := fs.WalkDir(ui.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(ui.Files(), p)
		if err != nil {
			return err
		}
		ctype, ok := uiTypes[path.Ext(p)]
		if !ok {
			ctype = "application/octet-stream"
		}
		sum := sha256.Sum256(body)
		assets[p] = &asset{body: body, ctype: ctype, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic("mgmt: reading the embedded UI: " + err.Error()) // embedded at build time
	}
	return assets
}
