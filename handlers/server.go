// Package handlers is scrm's HTTP edge on Fiber: WeCom and Official Account
// callbacks (verify, decrypt, persist, acknowledge), the REST API, health and
// metrics. Handlers stay thin: parse, call the core, render. Callbacks are
// acknowledged once their event is durable; everything else happens later,
// off the stored log, in package bot.
package handlers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/transfer"
	"github.com/scrmhq/scrm/wecom"
)

// Store is what the edge reads and writes.
type Store interface {
	EventLog
	Stats(ctx context.Context) (store.Stats, error)
	Ping(ctx context.Context) error
}

// Pinger reports whether a dependency is reachable (for /readyz).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Options configures the edge.
type Options struct {
	// WeCom is the crypto of the self-built app; nil disables /wecom/callback.
	WeCom *wecom.Crypto
	// OA is the Official Account's token and, in safe mode, its crypto.
	// OAToken empty disables /oa/callback.
	OAToken string
	OA      *wecom.Crypto
	// APIToken is the admin bearer token of /api/v1; empty disables the API.
	APIToken string
	// MaxSkew is how far a callback's timestamp may be from the server clock.
	MaxSkew time.Duration
	// MaxBody is the largest request body accepted, in bytes: callbacks and
	// the API alike; POST /api/v1/imports alone takes up to MaxImportBody.
	MaxBody int
	// Writers is the number of concurrent group-commit writers (1 suits
	// SQLite's single writer; more suit MongoDB).
	Writers int
	// Core is the one door into the core: the actions every change of the
	// REST API goes through, and its reads. nil (a receiver that only logs
	// events, like the load generator's) leaves the customer API answering
	// 501.
	Core *bot.Core
	// Sheets is the spreadsheet door (imports and exports); nil answers 501.
	Sheets *transfer.Sheets
	// ConsoleFiles are the built web console's files (package web),
	// served under /console/; nil serves no console.
	ConsoleFiles fs.FS
	// JSSDKURL is the WeCom JS-SDK script the chat sidebar loads
	// (SCRM_WECOM_JSSDK_URL); "" leaves the page without one, and it says
	// it must be opened inside WeCom.
	JSSDKURL string
	// SessionIdle ends a console session unused this long
	// (SCRM_SESSION_IDLE); 0 means bot.DefaultSessionIdle.
	SessionIdle time.Duration
	// PublicURL is scrm's public base URL (SCRM_PUBLIC_URL), where WeCom
	// sends a browser back after signing in; empty: the request's own.
	PublicURL string
	// WeComLogin enables signing in with WeCom; nil answers /auth/wecom/*
	// with 404.
	WeComLogin *WeComLogin
	// Welcome, when set, is handed every stored add_external_contact at
	// once (bot.Welcomer's lane), so its welcome does not wait for the
	// pipeline.
	Welcome FastLane
	// Replies drafts reply suggestions for the sidebar; nil answers
	// POST /api/v1/customers/{id}/replies with 501.
	Replies ReplySuggester
	// JSAPI signs pages for the WeCom JS-SDK (the chat sidebar); nil
	// answers GET /api/v1/jsapi/signature with 501.
	JSAPI JSSigner
	// Console answers the web console's reads (workbench, reports); nil
	// answers them with 501.
	Console *bot.Console
	// Settings answers the admin's settings page and set-up checks; nil
	// builds one that knows only the channels this edge serves.
	Settings *bot.Settings
	// Location is the business time zone (SCRM_TIMEZONE) for dates in filters.
	Location *time.Location
	Now      func() time.Time
	Logger   *slog.Logger
	Registry *prometheus.Registry
}

// Server is the HTTP edge.
type Server struct {
	app          *fiber.App
	opts         Options
	store        Store
	coord        Coordinator
	ready        []Pinger
	ingest       *ingester
	setup        *bot.SetupLog // callback marks for the set-up checks
	metrics      *metrics
	consoleFiles *consoleFiles
	log          *slog.Logger
	// listener is what Serve listens on (*silentConns), for Shutdown.
	listener atomic.Value
}

// New builds the edge over st and coord. ready lists further dependencies
// /readyz must reach (the store is always checked).
func New(st Store, coord Coordinator, opts Options, ready ...Pinger) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.MaxSkew == 0 {
		opts.MaxSkew = 5 * time.Minute
	}
	if opts.MaxBody == 0 {
		opts.MaxBody = 1 << 20
	}
	s := &Server{opts: opts, store: st, coord: coord, ready: ready, log: opts.Logger}
	s.setup = bot.NewSetupLog(coord)
	if s.opts.Settings == nil {
		s.opts.Settings = s.defaultSettings()
	}
	if opts.ConsoleFiles != nil {
		cf, err := loadConsole(opts.ConsoleFiles)
		if err != nil {
			// The embedded files are part of the binary: a build without
			// them is a broken build, and serving blank pages hides it.
			s.log.Error("console disabled", "err", err)
		}
		s.consoleFiles = cf
	}
	s.metrics = newMetrics(opts.Registry)
	s.ingest = newIngester(st, coord, opts.Writers, opts.Logger, s.metrics)
	s.app = fiber.New(fiber.Config{
		DisableStartupMessage: true,
		// fasthttp refuses a larger body with 413 from its headers, before
		// reading it; bodyLimit raises the limit for imports alone.
		BodyLimit: opts.MaxBody,
		// A slow or stalled client gives up its connection after
		// ReadTimeout; one that never sends a byte is closed at shutdown
		// (conns.go).
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  time.Minute,
		ErrorHandler: s.handleError,
	})
	importLimit := max(MaxImportBody, opts.MaxBody)
	s.app.Server().HeaderReceived = func(h *fasthttp.RequestHeader) fasthttp.RequestConfig { return bodyLimit(h, importLimit) }
	s.routes()
	return s
}

// MaxImportBody is the largest body POST /api/v1/imports accepts: a
// spreadsheet upload. Every other request gets Options.MaxBody.
const MaxImportBody = 32 << 20

// importPath is the one route whose bodies may exceed Options.MaxBody.
const importPath = "/api/v1/imports"

// bodyLimit sets each request's body limit from its header, before fasthttp
// reads the body: a server-wide limit would let every route buffer an
// import-sized body, and a check in the handler runs only after the whole
// body is in memory. Paths are matched the way Fiber routes them (any case,
// trailing slash); a spelling that misses here only gets the smaller limit.
func bodyLimit(h *fasthttp.RequestHeader, importLimit int) fasthttp.RequestConfig {
	if !h.IsPost() {
		return fasthttp.RequestConfig{}
	}
	path, _, _ := strings.Cut(string(h.RequestURI()), "?")
	if strings.EqualFold(strings.TrimSuffix(path, "/"), importPath) {
		return fasthttp.RequestConfig{MaxRequestBodySize: importLimit}
	}
	return fasthttp.RequestConfig{}
}

// App exposes the Fiber app so other packages' routes (the demo) can mount.
func (s *Server) App() *fiber.App { return s.app }

func (s *Server) routes() {
	s.app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	s.app.Get("/readyz", s.readyz)
	s.consoleFileRoutes()
	s.sidebarRoutes() // sidebar.go
	s.app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(s.opts.Registry, promhttp.HandlerOpts{})))

	s.app.Get("/wecom/callback", s.wecomVerifyURL)
	s.app.Post("/wecom/callback", s.wecomCallback)
	s.app.Get("/oa/callback", s.oaVerifyURL)
	s.app.Post("/oa/callback", s.oaCallback)

	api := s.app.Group("/api/v1", withDeadline, s.requireAPIToken)
	api.Get("/stats", s.stats)
	api.Get("/openapi.json", serveOpenAPI)
	api.Get("/me", s.me)
	api.Get("/jsapi/signature", s.jsapiSignature)
	if s.opts.Core == nil {
		// An edge without the core (the load generator's receiver) serves
		// callbacks only; every customer route says so once, here.
		s.log.Warn("no core given; the customer API answers 501")
		api.All("/*", func(*fiber.Ctx) error {
			return errorf(fiber.StatusNotImplemented, "this server has no customer API", nil)
		})
		return
	}
	s.authRoutes()
	s.transferRoutes(api)
	s.consoleRoutes(api)
	s.settingsRoutes(api)
	s.crmRoutes(api)
	s.handoverRoutes(api)
}

// Serve listens on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	tl := trackSilentConns(ln)
	s.listener.Store(tl)
	return s.app.Listener(tl)
}

// Shutdown stops accepting connections, waits for in-flight requests, then
// flushes the ingest queue so every acknowledged event is stored.
func (s *Server) Shutdown(ctx context.Context) error {
	if ln, ok := s.listener.Load().(*silentConns); ok {
		// Before the graceful shutdown, which would wait for them.
		ln.stop()
	}
	err := s.app.ShutdownWithContext(ctx)
	s.ingest.Close()
	return err
}

// Error is an error with a status and a text safe to show the client; the
// wrapped error is logged, never sent.
type Error struct {
	Status int
	Public string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Public, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Public)
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(status int, public string, err error) *Error {
	return &Error{Status: status, Public: public, Err: err}
}

// handleError is the one place errors become statuses: the edge's own
// *Error, the core's refusals (*bot.ActionError, *bot.HandoverRejection)
// with their client-safe reason, and the error kinds store.ErrInvalid →
// 400, bot.ErrForbidden → 403, store.ErrNotFound → 404, store.ErrConflict
// → 409.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	var he *Error
	var fe *fiber.Error
	var ae *bot.ActionError
	var rej *bot.HandoverRejection
	switch {
	case errors.As(err, &he):
	case errors.As(err, &fe):
		he = &Error{Status: fe.Code, Public: fe.Message}
	case errors.As(err, &rej) && rej.Conflict:
		he = &Error{Status: fiber.StatusConflict, Public: rej.Reason, Err: err}
	case errors.As(err, &rej):
		he = &Error{Status: fiber.StatusUnprocessableEntity, Public: rej.Reason, Err: err}
	case errors.As(err, &ae):
		he = &Error{Status: errorStatus(ae.Err), Public: ae.Reason, Err: err}
	case errorStatus(err) != fiber.StatusInternalServerError:
		he = &Error{Status: errorStatus(err), Public: strings.ToLower(http.StatusText(errorStatus(err))), Err: err}
	default:
		he = &Error{Status: fiber.StatusInternalServerError, Public: "internal error", Err: err}
	}
	if he.Status >= 500 {
		s.log.Error("request failed", "method", c.Method(), "path", c.Path(), "status", he.Status, "err", he.Err)
	}
	return c.Status(he.Status).SendString(he.Public)
}

// errorStatus is the status of an error kind.
func errorStatus(err error) int {
	switch {
	case errors.Is(err, store.ErrInvalid):
		return fiber.StatusBadRequest
	case errors.Is(err, bot.ErrForbidden):
		return fiber.StatusForbidden
	case errors.Is(err, bot.ErrNotSignedIn):
		return fiber.StatusUnauthorized
	case errors.Is(err, store.ErrNotFound):
		return fiber.StatusNotFound
	case errors.Is(err, store.ErrConflict):
		return fiber.StatusConflict
	}
	return fiber.StatusInternalServerError
}

func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return errorf(fiber.StatusServiceUnavailable, "store unreachable", err)
	}
	for _, p := range s.ready {
		if err := p.Ping(ctx); err != nil {
			return errorf(fiber.StatusServiceUnavailable, "dependency unreachable", err)
		}
	}
	return c.SendString("ready")
}
