// Package web holds the browser UI (React + TypeScript, built with Vite) and
// embeds its production build so the API binary can serve it.
//
// Build the UI with `make web` (or `cd web && npm ci && npm run build`) before
// `go build`; until then dist/ holds only README.txt and HasIndex reports false.
package web

import (
	"embed"
	"io/fs"
)

// Dist is the Vite build output, including the committed dist/README.txt
// placeholder that lets this package compile before the UI is built.
//
//go:embed all:dist
var Dist embed.FS

// Assets returns the built UI rooted at dist/ (index.html, assets/…).
func Assets() (fs.FS, error) {
	return fs.Sub(Dist, "dist")
}

// HasIndex reports whether fsys holds a built UI, i.e. a regular index.html at
// its root. When it does not, the server should answer with a clear message
// (the UI was not built) instead of serving the placeholder.
func HasIndex(fsys fs.FS) bool {
	if fsys == nil {
		return false
	}
	info, err := fs.Stat(fsys, "index.html")
	return err == nil && info.Mode().IsRegular()
}
