package handlers

import (
	"bytes"
	"html"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// The chat sidebar (/sidebar/, 聊天工具栏) is the second page of the web
// build: a phone page WeCom opens beside a chat. Its scripts and styles are
// the console's hashed assets (/console/assets/…); what is its own is the
// HTML, which names the WeCom JS-SDK script to load (SCRM_WECOM_JSSDK_URL:
// WeCom's in production, the simulator's in the demo and tests) and may be
// framed by scrm's own pages (the demo shows it beside the simulated chat).

const (
	sidebarPrefix = "/sidebar/"
	sidebarIndex  = "sidebar/index.html"
	// jssdkMarker is the placeholder in sidebar/index.html's meta tag that
	// the server replaces with the JS-SDK URL.
	jssdkMarker = "%SCRM_JSSDK_URL%"
)

// sidebarPage builds the sidebar's HTML for the JS-SDK at jssdk, with the
// content security policy that lets it load that script (and, for the
// simulator's stand-in, talk to its origin). nil when the build has no
// sidebar page.
func (cf *consoleFiles) sidebarPage(jssdk string) (*consoleFile, string) {
	src := cf.files[sidebarIndex]
	if src == nil {
		return nil, ""
	}
	origin := ""
	if u, err := url.Parse(jssdk); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		origin = u.Scheme + "://" + u.Host
	}
	body := bytes.ReplaceAll(src.body, []byte(jssdkMarker), []byte(html.EscapeString(jssdk)))
	if origin != "" {
		// The browser fetches the JS-SDK while the page's own scripts load,
		// not after they run: it is on the way to the card.
		body = bytes.Replace(body, []byte("</head>"), []byte(`<link rel="preload" as="script" href="`+html.EscapeString(jssdk)+`"></head>`), 1)
	}
	f := newConsoleFile(body, src.ctype, true)
	csp := "default-src 'self'; script-src 'self' " + origin + "; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https:; " +
		"font-src 'self' data:; connect-src 'self' " + origin + "; frame-ancestors 'self'; base-uri 'self'; form-action 'self'"
	return f, strings.ReplaceAll(csp, "  ", " ")
}

// sidebarRoutes mounts the sidebar: /sidebar redirects to /sidebar/, and
// every path under /sidebar/ is the page (it keeps its state in the query).
func (s *Server) sidebarRoutes() {
	if s.consoleFiles == nil {
		return
	}
	page, csp := s.consoleFiles.sidebarPage(s.opts.JSSDKURL)
	if page == nil {
		s.log.Error("sidebar disabled: no sidebar/index.html in the embedded files (run make ui)")
		return
	}
	s.app.Get("/sidebar/*", func(c *fiber.Ctx) error {
		if !strings.HasPrefix(string(c.Request().URI().Path()), sidebarPrefix) {
			q := string(c.Request().URI().QueryString())
			if q != "" {
				q = "?" + q
			}
			return c.Redirect(sidebarPrefix+q, fiber.StatusMovedPermanently)
		}
		// The demo's page and the console may frame the sidebar; nobody else.
		return sendEmbedded(c, page, &pageHeaders{csp: csp, frame: "SAMEORIGIN"})
	})
}
