// Package web is the browser side of scrm: the manager and admin console
// (Vue 3, Element Plus and ECharts, built with Vite from web/src). The built
// files in web/dist are committed and embedded, so `go run ./cmd/scrm`
// needs no Node; `make ui` rebuilds them and CI fails when they differ from
// a fresh build.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Console returns the built console, rooted at its index.html. The files are
// served under /console/; asset names carry a content hash.
func Console() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		// fs.Sub fails only for an invalid path name, and "dist" is valid.
		panic(err)
	}
	return sub
}
