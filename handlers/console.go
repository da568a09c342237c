package handlers

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// The console (/console/) is a single-page app whose built files the binary
// embeds (package web). Every file is read and gzipped once at start, so a
// request costs a map lookup: the first screen after sign-in must render in
// well under 1.5 s and the first load stay under 600 KB on the wire.

const (
	consolePrefix = "/console/"
	// Hashed asset names change with their content, so browsers may keep
	// them for a year; index.html names the current ones and is
	// revalidated on every load.
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
	// The console loads nothing from elsewhere. Element Plus sets inline
	// styles, so style-src allows them; scripts are only the bundle's.
	consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https:; " +
		"font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)

// consoleFile is one embedded file, ready to send.
type consoleFile struct {
	body  []byte
	gz    []byte // nil when gzip would not make it smaller
	ctype string
	etag  string
	cache string
}

// consoleFiles holds the console's files by path relative to /console/.
type consoleFiles struct {
	files map[string]*consoleFile
	index *consoleFile
}

// loadConsole reads and compresses every file of fsys. It fails when
// fsys has no index.html: a binary built without the console must say so at
// start rather than serve blank pages.
func loadConsole(fsys fs.FS) (*consoleFiles, error) {
	cf := &consoleFiles{files: map[string]*consoleFile{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		f := newConsoleFile(body, contentType(p), compressible(contentType(p)))
		if strings.HasPrefix(p, "assets/") {
			f.cache = cacheImmutable
		}
		cf.files[p] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console: read files: %w", err)
	}
	if cf.index = cf.files["index.html"]; cf.index == nil {
		return nil, fmt.Errorf("console: no index.html in the embedded files (run make ui)")
	}
	return cf, nil
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	case ".json", ".map":
		return "application/json; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// newConsoleFile is body served as ctype, revalidated on each use: its
// ETag, and its gzip form when compress is set and that is smaller.
func newConsoleFile(body []byte, ctype string, compress bool) *consoleFile {
	f := &consoleFile{body: body, ctype: ctype, cache: cacheRevalidate}
	sum := sha256.Sum256(body)
	f.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	if compress {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(body)
		_ = zw.Close()
		if buf.Len() < len(body) {
			f.gz = buf.Bytes()
		}
	}
	return f
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.HasPrefix(ctype, "application/json") || ctype == "image/svg+xml"
}

// consoleFileRoutes mounts the console: /console redirects to /console/, a
// known file is sent as is, a missing asset is 404, and every other path
// under /console/ is a page of the app (history routing) and gets
// index.html.
func (s *Server) consoleFileRoutes() {
	if s.consoleFiles == nil {
		return
	}
	// Fiber's "/console/*" also matches /console itself (routing is not
	// strict), so the redirect is decided inside.
	s.app.Get("/console/*", s.serveConsoleFile)
}

func (s *Server) serveConsoleFile(c *fiber.Ctx) error {
	if !strings.HasPrefix(string(c.Request().URI().Path()), consolePrefix) {
		return c.Redirect(consolePrefix, fiber.StatusMovedPermanently)
	}
	rel := strings.TrimPrefix(path.Clean("/"+c.Params("*")), "/")
	f := s.consoleFiles.files[rel]
	if f == nil {
		if strings.HasPrefix(rel, "assets/") || path.Ext(rel) != "" && path.Ext(rel) != ".html" {
			// A missing script must not come back as HTML: the browser
			// would report a MIME error instead of a missing file.
			return errorf(fiber.StatusNotFound, "not found", nil)
		}
		f = s.consoleFiles.index
	}
	if f == s.consoleFiles.index {
		return sendEmbedded(c, f, &pageHeaders{csp: consoleCSP, frame: "DENY"})
	}
	return sendEmbedded(c, f, nil)
}

// pageHeaders are what an HTML page is sent with besides its file's own.
type pageHeaders struct {
	csp   string // Content-Security-Policy
	frame string // X-Frame-Options
}

// sendEmbedded sends an embedded file: its type, caching and ETag (304 when
// the browser has it), gzipped when the browser takes it, and for a page
// its security headers.
func sendEmbedded(c *fiber.Ctx, f *consoleFile, page *pageHeaders) error {
	h := &c.Response().Header
	h.Set(fiber.HeaderContentType, f.ctype)
	h.Set(fiber.HeaderCacheControl, f.cache)
	h.Set(fiber.HeaderETag, f.etag)
	h.Set(fiber.HeaderVary, fiber.HeaderAcceptEncoding)
	h.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	if page != nil {
		h.Set(fiber.HeaderContentSecurityPolicy, page.csp)
		h.Set(fiber.HeaderReferrerPolicy, "same-origin")
		h.Set(fiber.HeaderXFrameOptions, page.frame)
	}
	if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" && strings.Contains(inm, f.etag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	if f.gz != nil && acceptsGzip(c.Get(fiber.HeaderAcceptEncoding)) {
		h.Set(fiber.HeaderContentEncoding, "gzip")
		return c.Send(f.gz)
	}
	return c.Send(f.body)
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip (and
// does not refuse it with q=0).
func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.TrimSpace(name) != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
