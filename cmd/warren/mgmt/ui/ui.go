// Package ui holds the files of warren's web management UI (issue 8): one HTML page,
// a style sheet and vanilla JavaScript modules, embedded in the binary and served by
// package mgmt at / next to the API, as RabbitMQ serves its UI on 15672. There is no
// build step: the files in static/ are what the browser gets.
//
// The UI talks to the management API only, with HTTP basic auth (credentials kept in
// the tab's sessionStorage), so whatever the API refuses the UI cannot do either.
package ui

import (
	"embed"
	"io/fs"
)

//go:embed static
var files embed.FS

// Files returns the UI's files, index.html at the root.
func Files() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic("ui: " + err.Error()) // static is embedded above; cannot fail
	}
	return sub
}
