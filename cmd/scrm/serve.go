package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/coord"
	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/nlp"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/mongo"
	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/transfer"
	"github.com/scrmhq/scrm/web"
	"github.com/scrmhq/scrm/wecom"
)

// Both backends implement everything the core and the edge need; the
// compiler checks it here, so no package below asserts a store at run time.
var (
	_ bot.ActionStore      = (*sqlite.DB)(nil)
	_ bot.ActionStore      = (*mongo.DB)(nil)
	_ bot.CommandStore     = (*sqlite.DB)(nil)
	_ bot.CommandStore     = (*mongo.DB)(nil)
	_ transfer.ImportStore = (*sqlite.DB)(nil)
	_ transfer.ImportStore = (*mongo.DB)(nil)
	_ bot.ActionStore      = store.Store(nil)
)

func newServeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Serve callbacks, the API and the bot",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			log := newLogger(cfg.LogLevel)
			slog.SetDefault(log)
			a, err := startApp(cmd.Context(), cfg, log, extensions{})
			if err != nil {
				return err
			}
			<-cmd.Context().Done()
			log.Info("shutting down")
			return a.stop()
		},
	}
}

// coordinator is what the app needs of coord.Local or coord.Redis.
type coordinator interface {
	handlers.Coordinator
	wecom.TokenCache
	bot.Leaser
	Subscribe(ctx context.Context, topic string) <-chan struct{}
	Ping(ctx context.Context) error
	Close() error
}

// app is one running scrm instance: the store, the coordinator, the HTTP edge
// and the background workers, built in dependency order and stopped in the
// reverse: HTTP first, then workers, then Redis, the store last.
type app struct {
	cfg     config.Config
	log     *slog.Logger
	store   store.Store
	coord   coordinator
	server  *handlers.Server
	core    *core
	api     *wecom.APIClient // nil when no channel has API credentials
	welcome *bot.Welcomer    // the welcome fast lane; nil without the WeCom API
	llm     *nlp.LLM         // the one LLM client (one daily budget); nil without one
	faq     *bot.FAQFile     // SCRM_FAQ_FILE; nil without one
	addr    net.Addr
	cancel  context.CancelFunc
	workers chan struct{}
	served  chan error
}

// extensions are what a caller such as the demo adds to an app.
type extensions struct {
	// welcomeDone, when set, is told how each welcome code ended (tests).
	welcomeDone func(code, outcome string)
	// mount adds routes before the server starts listening.
	mount func(app *fiber.App, a *app)
	// directory resolves staff roles; without it everyone is sales.
	directory bot.Directory
	// now is the clock of everything that decides when a reminder is due
	// or pushed (cadence, analysis, scheduler, card buttons); default
	// time.Now. Tests move it to a due time rather than wait for it.
	now func() time.Time
	// wakeReminders, when set, makes the scheduler look for due reminders
	// at once, so a test can run a push round at a moment of its clock.
	wakeReminders <-chan struct{}
	// archive, when set, is the chat archive (会话内容存档) scrm pulls
	// staff and customer chats from instead of the finance SDK (the demo's
	// simulated one), every archivePoll (default 30 s).
	archive     wecom.ArchiveSource
	archivePoll time.Duration
}

func startApp(ctx context.Context, cfg config.Config, log *slog.Logger, ext extensions) (*app, error) {
	a := &app{cfg: cfg, log: log}
	var err error
	now := ext.now
	if now == nil {
		now = time.Now
	}
	if a.store, err = openStore(ctx, cfg); err != nil {
		return nil, err
	}
	if a.coord, err = openCoord(ctx, cfg); err != nil {
		a.store.Close()
		return nil, err
	}
	if a.llm, err = newLLM(cfg, log); err != nil {
		return nil, a.fail(err)
	}
	if cfg.FAQFile != "" {
		if a.faq, err = bot.LoadFAQFile(cfg.FAQFile, log); err != nil {
			return nil, a.fail(fmt.Errorf("SCRM_FAQ_FILE: %w", err))
		}
	}
	core := bot.NewCore(a.store, now)
	opts := handlers.Options{
		APIToken: cfg.APIToken,
		MaxSkew:  cfg.CallbackMaxSkew,
		MaxBody:  cfg.CallbackMaxBody,
		Writers:  1,
		Location: cfg.Location(),
		Logger:   log,
		Registry: prometheus.NewRegistry(),
		// The one door into the core: the API's changes are its actions.
		Core:        core,
		Replies:     newReplySuggester(core, a),
		Sheets:      transfer.NewSheets(a.store),
		SessionIdle: cfg.SessionIdle,
		PublicURL:   cfg.PublicBase(),
		// The console's reads count waits in business hours, as 今天 does.
		Console: bot.NewConsole(a.store, bot.ConsoleOptions{Hours: cfg.Hours(), Location: cfg.Location(),
			DormantDays: cfg.DormantDays, Now: now}),
		// The console is in the binary, so serve and demo both have it.
		ConsoleFiles: web.Console(),
		JSSDKURL:     cfg.WeComJSSDKURL,
	}
	opts.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.MongoURI != "" {
		opts.Writers = 4 // MongoDB takes concurrent writes; SQLite has one writer.
	}
	if cfg.WeComEnabled() {
		if opts.WeCom, err = wecom.NewCrypto(cfg.WeComToken, cfg.WeComAESKey, cfg.WeComCorpID); err != nil {
			return nil, a.fail(fmt.Errorf("SCRM_WECOM_AES_KEY: %w", err))
		}
	}
	if cfg.OAEnabled() {
		opts.OAToken = cfg.OAToken
		if cfg.OAAESKey != "" {
			if opts.OA, err = wecom.NewCrypto(cfg.OAToken, cfg.OAAESKey, cfg.OAAppID); err != nil {
				return nil, a.fail(fmt.Errorf("SCRM_OA_AES_KEY: %w", err))
			}
		}
	}
	if cfg.WeComAPIEnabled() || cfg.OAAppSecret != "" {
		a.api, err = wecom.NewAPIClient(wecom.APIConfig{
			CorpID: cfg.WeComCorpID, AgentID: cfg.WeComAgentID, AppSecret: cfg.WeComSecret,
			ContactSecret: cfg.WeComContactSecret, WeComBase: cfg.WeComAPIBase,
			OAAppID: cfg.OAAppID, OAAppSecret: cfg.OAAppSecret, OABase: cfg.OAAPIBase,
		}, a.coord, log)
		if err != nil {
			return nil, a.fail(fmt.Errorf("wecom client: %w", err))
		}
	}
	if a.api != nil && cfg.WeComLoginEnabled() {
		opts.JSAPI = a.api
	}
	if cfg.WeComLoginEnabled() {
		opts.WeComLogin = &handlers.WeComLogin{CorpID: cfg.WeComCorpID, AgentID: cfg.WeComAgentID,
			OAuthBase: strings.TrimRight(cfg.WeComOAuthBase, "/"), LoginBase: strings.TrimRight(cfg.WeComLoginBase, "/"), Users: a.api}
	}
	if cfg.WeComAPIEnabled() {
		// Channels follow into WeCom, and welcomes leave from the edge's
		// fast lane (bot/welcome.go).
		opts.Core.SetChannelAPI(a.api)
		opts.Core.SetCampaigns(a.api, campaignOptions(cfg, a, log))
		a.welcome = bot.NewWelcomer(a.store, a.api, bot.WelcomeOptions{Default: cfg.WelcomeText, Now: now, Logger: log,
			OnDone: ext.welcomeDone})
		opts.Welcome = a.welcome
	}
	if a.llm, err = newLLM(cfg, log); err != nil {
		return nil, a.fail(err)
	}
	if cfg.FAQFile != "" {
		if a.faq, err = bot.LoadFAQFile(cfg.FAQFile, log); err != nil {
			return nil, a.fail(fmt.Errorf("SCRM_FAQ_FILE: %w", err))
		}
	}
	opts.Settings = newSettings(cfg, a, now)
	a.server = handlers.New(a.store, a.coord, opts, a.coord)
	c, err := buildCore(ctx, a, ext, now, log)
	if err != nil {
		return nil, a.fail(err)
	}
	a.core = c

	wctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.workers = make(chan struct{})
	pipeline := bot.NewPipeline(a.store, bot.PipelineOptions{
		Owner:    c.owner,
		Wake:     a.coord.Subscribe(wctx, handlers.TopicEvents),
		Logger:   log,
		Registry: opts.Registry,
	}, c.processors...)
	background := append([]func(context.Context){pipeline.Run}, c.background...)
	go func() {
		defer close(a.workers)
		var wg sync.WaitGroup
		for _, run := range background {
			wg.Add(1)
			go func() { defer wg.Done(); run(wctx) }()
		}
		wg.Wait()
	}()

	if ext.mount != nil {
		ext.mount(a.server.App(), a)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		cancel()
		<-a.workers
		return nil, a.fail(fmt.Errorf("SCRM_ADDR: listen on %s: %w", cfg.Addr, err))
	}
	a.addr = ln.Addr()
	a.served = make(chan error, 1)
	go func() { a.served <- a.server.Serve(ln) }()
	log.Info("scrm serving", "addr", a.addr.String(), "store", storeKind(cfg), "redis", cfg.RedisURL != "",
		"wecom", cfg.WeComEnabled(), "oa", cfg.OAEnabled(), "llm", cfg.LLMEnabled(), "version", version)
	return a, nil
}

// fail closes what was opened before a start-up error.
func (a *app) fail(err error) error {
	a.coord.Close()
	a.store.Close()
	return err
}

// stopBudget bounds a whole shutdown: orchestrators send SIGKILL 10 s after
// SIGTERM, and a stop must not wait on a backlog or an unreachable store or
// Redis. Work cut short keeps its lease and runs again after the restart.
const stopBudget = 9 * time.Second

// stop shuts down in the order the architecture doc gives, each step within
// what is left of stopBudget.
func (a *app) stop() error {
	deadline := time.Now().Add(stopBudget)
	var errs []error
	// Stop HTTP and flush acknowledged events: up to 3 s.
	if err := within(time.Until(deadline)/3, func(ctx context.Context) error { return a.server.Shutdown(ctx) }); err != nil {
		errs = append(errs, fmt.Errorf("stop http: %w", err))
	}
	a.cancel() // drain workers: running events get their grace, new claims stop
	select {
	case <-a.workers:
	case <-time.After(time.Until(deadline) - time.Second):
		errs = append(errs, errors.New("workers did not stop in time; their leases will expire"))
	}
	if err := within(max(time.Until(deadline)/2, 100*time.Millisecond), func(context.Context) error { return a.coord.Close() }); err != nil {
		errs = append(errs, fmt.Errorf("close coordinator: %w", err))
	}
	// The store last.
	if err := within(max(time.Until(deadline), 100*time.Millisecond), func(context.Context) error { return a.store.Close() }); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	a.log.Info("scrm stopped")
	return errors.Join(errs...)
}

// within runs fn with a context of d and returns its error, or a timeout
// error once d has passed and fn has not returned (fn goes on in the
// background; the process is about to exit).
func within(d time.Duration, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("gave up after %v: %w", d.Round(time.Millisecond), ctx.Err())
	}
}

// newSettings builds the admin's settings reads and set-up checks over
// what a was started with.
func newSettings(cfg config.Config, a *app, now func() time.Time) *bot.Settings {
	o := bot.SettingsOptions{
		BusinessHours: cfg.BusinessHours, Hours: cfg.Hours(), Location: cfg.Location(),
		OffHoursMessage: cfg.OffHoursMessage, TokenBudget: int64(cfg.LLMDailyTokens), DormantDays: cfg.DormantDays,
		WeComCallback: cfg.WeComEnabled(), WeComAPI: cfg.WeComAPIEnabled(),
		OACallback: cfg.OAEnabled(), OAAPI: cfg.OAAppID != "" && cfg.OAAppSecret != "",
		Setup: bot.NewSetupLog(a.coord), PublicURL: cfg.PublicBase(), Now: now,
	}
	// Typed nils would make non-nil interfaces.
	if a.faq != nil {
		o.FAQ = a.faq
	}
	if a.llm != nil {
		o.LLM = a.llm
	}
	if a.api != nil {
		o.Tokens = a.api
	}
	return bot.NewSettings(o)
}

// newReplySuggester drafts the sidebar's replies with the app's FAQ and LLM
// (either may be absent: offline, or no FAQ answers).
func newReplySuggester(core *bot.Core, a *app) *bot.ReplySuggester {
	var kb bot.FAQSource
	if a.faq != nil {
		kb = a.faq
	}
	var model bot.FAQModel
	if a.llm != nil {
		model = a.llm
	}
	return bot.NewReplySuggester(core, kb, model, bot.SuggestOptions{Logger: a.log})
}

// newLLM builds the one LLM client every feature shares (so they share one
// daily token budget), or nil when none is configured.
func newLLM(cfg config.Config, log *slog.Logger) (*nlp.LLM, error) {
	if !cfg.LLMEnabled() {
		return nil, nil
	}
	llm, err := nlp.NewLLM(nlp.LLMConfig{
		BaseURL: cfg.LLMBaseURL, APIKey: cfg.LLMAPIKey, Model: cfg.LLMModel,
		DailyTokenBudget: int64(cfg.LLMDailyTokens), Location: cfg.Location(), Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("SCRM_LLM_MODEL: %w", err)
	}
	return llm, nil
}

// newOwnerID names one app instance in leases: unique per start (two apps in
// one process are two owners), readable in logs.
func newOwnerID() string {
	host, _ := os.Hostname()
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

func storeKind(cfg config.Config) string {
	if cfg.MongoURI != "" {
		return "mongodb"
	}
	return "sqlite"
}

func openStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	if cfg.MongoURI != "" {
		st, err := mongo.Open(ctx, cfg.MongoURI, cfg.MongoDB)
		if err != nil {
			return nil, fmt.Errorf("SCRM_MONGO_URI: %w", err)
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, cfg.DataDir, sqlite.WithSynchronous(cfg.SQLiteSynchronous))
	if err != nil {
		return nil, fmt.Errorf("SCRM_DATA_DIR: %w", err)
	}
	return st, nil
}

func openCoord(ctx context.Context, cfg config.Config) (coordinator, error) {
	if cfg.RedisURL == "" {
		return coord.NewLocal(), nil
	}
	r, err := coord.OpenRedis(ctx, cfg.RedisURL, cfg.RedisPrefix)
	if err != nil {
		return nil, fmt.Errorf("SCRM_REDIS_URL: %w", err)
	}
	return r, nil
}
