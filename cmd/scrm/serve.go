package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
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
	"github.com/scrmhq/scrm/wecom"
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
	api     *wecom.APIClient // nil when no channel has API credentials
	addr    net.Addr
	cancel  context.CancelFunc
	workers chan struct{}
	served  chan error
}

// extensions are what a caller such as the demo adds to an app.
type extensions struct {
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
	opts := handlers.Options{
		APIToken: cfg.APIToken,
		MaxSkew:  cfg.CallbackMaxSkew,
		MaxBody:  cfg.CallbackMaxBody,
		Writers:  1,
		Location: cfg.Location(),
		Logger:   log,
		Registry: prometheus.NewRegistry(),
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
	a.server = handlers.New(a.store, a.coord, opts, a.coord)

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
	var profiles bot.Profiles
	if a.api != nil {
		profiles = wecomProfiles{c: a.api, wecom: cfg.WeComAPIEnabled(), official: cfg.OAAppID != "" && cfg.OAAppSecret != ""}
	}
	ownerID := newOwnerID()
	llm, err := newLLM(cfg, log)
	if err != nil {
		return nil, a.fail(err)
	}
	// Roles come from the staff directory the API uses too, so the bot and
	// the API see one set of roles; members it lacks fall back to ext's.
	fallback := ext.directory
	if fallback == nil {
		fallback = bot.StaticDirectory{}
	}
	dir := bot.StaffDirectory{Staff: a.store, Fallback: fallback}
	// background lists the loops that run beside the pipeline; stop waits
	// for all of them before the store closes.
	var background []func(context.Context)

	procs := []bot.Processor{bot.NewCustomers(a.store, profiles)}
	if cfg.WeComAPIEnabled() {
		tags := bot.NewTagSync(a.store, a.api, bot.TagSyncOptions{Logger: log})
		if err := tags.Start(ctx); err != nil {
			return nil, a.fail(err)
		}
		procs = append(procs, tags)
		for _, r := range tags.Runners(a.store, bot.RunnerOptions{Owner: ownerID, Workers: 5, Logger: log}) {
			background = append(background, r.Run)
		}
		// Roles and teams from WeCom's address book: at start, daily, on
		// POST /api/v1/staff/sync and after change_contact events. A failed
		// start leaves the stored roles in place, so it only warns.
		staffSync := bot.NewStaffSync(a.store, a.api, bot.StaffSyncOptions{Now: now, Logger: log})
		if err := staffSync.Start(ctx); err != nil {
			log.Warn("staff sync not scheduled", "err", err)
		}
		procs = append(procs, staffSync)
		background = append(background, staffSync.Runner(a.store, bot.RunnerOptions{Owner: ownerID, Now: now, Logger: log}).Run)
		// Customer groups (客户群): change_external_chat events and a sync at start.
		groups := bot.NewGroups(a.store, a.api, bot.GroupsOptions{Now: now, Logger: log})
		if err := groups.Start(ctx); err != nil {
			return nil, a.fail(err)
		}
		procs = append(procs, groups)
		background = append(background, groups.Runner(a.store, bot.RunnerOptions{Owner: ownerID, Now: now, Logger: log}).Run)
		// Customer handovers (在职/离职继承): a job carries each out in WeCom;
		// the processor wakes it when WeCom's callbacks say it settled.
		handover := bot.NewHandover(a.store, a.api, bot.HandoverOptions{Now: now, Logger: log})
		procs = append(procs, handover)
		background = append(background, handover.Runner(a.store, bot.RunnerOptions{Owner: ownerID, Now: now, Logger: log}).Run)
	}
	// Reminders: cadences and churn alerts from contact events; with the
	// WeCom API also the card buttons and the scheduler that pushes them.
	reminders, _ := a.store.(bot.SchedulerStore)
	var remindersDir bot.Directory
	if cs, ok := a.store.(bot.CadenceStore); ok {
		cadence, err := bot.NewCadence(cs, bot.CadenceOptions{DigestAt: cfg.DigestAt, Location: cfg.Location(), Now: now})
		if err != nil {
			return nil, a.fail(fmt.Errorf("SCRM_DIGEST_AT: %w", err))
		}
		procs = append(procs, cadence)
	}
	if cfg.WeComAPIEnabled() {
		cmds := bot.NewCommands(a.store, dir, messenger{a.api}, cfg.Location())
		cmds.SetDormantDays(cfg.DormantDays)
		if llm != nil {
			cmds.SetAsker(bot.NewAsker(a.store, llm, bot.AskerOptions{Location: cfg.Location(), Logger: log}))
		}
		procs = append(procs, cmds)
		// Customer inbox: 微信客服 pulls, automatic answers, forwards to
		// owners, claims and "回 张三" replies.
		inboxProcs, inbox, err := newInbox(cfg, a, dir, llm, ownerID, log)
		if err != nil {
			return nil, a.fail(err)
		}
		cmds.SetInbox(inbox)
		procs = append(procs, inboxProcs...)
		if reminders != nil {
			procs = append(procs, bot.NewCardActions(reminders, dir, cmds, messenger{a.api}, cfg.Location(), now))
			remindersDir = dir
		}
	}
	analysis, analysisQueue, err := newAnalysis(cfg, a.store, llm, now, log)
	if err != nil {
		return nil, a.fail(err)
	}
	procs = append(procs, analysis)

	wctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.workers = make(chan struct{})
	owner := ownerID
	pipeline := bot.NewPipeline(a.store, bot.PipelineOptions{
		Owner:    owner,
		Wake:     a.coord.Subscribe(wctx, handlers.TopicEvents),
		Logger:   log,
		Registry: opts.Registry,
	}, procs...)
	var scheduler *bot.Scheduler
	if remindersDir != nil {
		scheduler, err = bot.NewScheduler(reminders, remindersDir, messenger{a.api}, bot.SchedulerOptions{
			Owner: owner, Lease: cfg.ReminderLease, DigestAt: cfg.DigestAt, DormantDays: cfg.DormantDays,
			Location: cfg.Location(), Logger: log,
			Now: now, Wake: ext.wakeReminders,
		})
		if err != nil {
			cancel()
			return nil, a.fail(fmt.Errorf("SCRM_DIGEST_AT: %w", err))
		}
	}
	analysisJobs := bot.NewJobRunner(analysisQueue, bot.AnalysisJobKind, analysis.HandleJob,
		bot.RunnerOptions{Owner: owner, Workers: 4, Now: now, Logger: log})
	background = append(background, pipeline.Run, analysisJobs.Run)
	if scheduler != nil {
		background = append(background, scheduler.Run)
	}
	if cfg.ArchiveEnabled() { // chat archive (会话内容存档), see cmd/scrm/archive.go
		archive, err := newArchiveLoop(cfg, a, owner, log)
		if err != nil {
			cancel()
			return nil, a.fail(err)
		}
		background = append(background, archive)
	}
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

// stop shuts down in the order the architecture doc gives.
func (a *app) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var errs []error
	if err := a.server.Shutdown(ctx); err != nil { // stop HTTP, flush acknowledged events
		errs = append(errs, fmt.Errorf("stop http: %w", err))
	}
	a.cancel() // drain workers: in-flight events finish, new claims stop
	select {
	case <-a.workers:
	case <-ctx.Done():
		errs = append(errs, errors.New("workers did not stop in time; their leases will expire"))
	}
	if err := a.coord.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close coordinator: %w", err))
	}
	if err := a.store.Close(); err != nil { // the store last
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	a.log.Info("scrm stopped")
	return errors.Join(errs...)
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

// newAnalysis builds the conversation analysis from cfg: over the LLM when
// one is configured, with NoFallback so that an unavailable LLM fails the job
// and the runner retries it later (an outage delays analyses, loses none);
// over the embedded offline models otherwise.
func newAnalysis(cfg config.Config, st store.Store, llm *nlp.LLM, now func() time.Time, log *slog.Logger) (*bot.Analysis, bot.JobQueue, error) {
	ast, ok := st.(bot.AnalysisStore)
	jobs, ok2 := st.(bot.JobQueue)
	if !ok || !ok2 {
		return nil, nil, errors.New("store: backend lacks reminders, tags or jobs, which the analysis needs")
	}
	opts := nlp.AnalyzerOptions{Location: cfg.Location(), Now: now, Logger: log, NoFallback: llm != nil}
	a := bot.NewAnalysis(ast, nlp.NewAnalyzer(llm, opts), bot.AnalysisOptions{
		Quiet: cfg.AnalysisQuiet, Apply: cfg.AnalysisApply, Location: cfg.Location(), Now: now, Logger: log,
	})
	return a, jobs, nil
}

// newInbox builds the customer inbox: the 微信客服 pull, the automatic
// answers (FAQ knowledge base, business hours) and the inbox, in the order
// the pipeline must run them (an answer is recorded before the owner is told
// about it).
func newInbox(cfg config.Config, a *app, dir bot.Directory, model *nlp.LLM, owner string, log *slog.Logger) ([]bot.Processor, *bot.Inbox, error) {
	st, ok := a.store.(bot.InboxStore)
	if !ok {
		return nil, nil, errors.New("store: backend lacks the staff directory the inbox needs")
	}
	var faq bot.FAQSource
	var llm bot.FAQModel
	if cfg.FAQFile != "" {
		f, err := bot.LoadFAQFile(cfg.FAQFile, log)
		if err != nil {
			return nil, nil, fmt.Errorf("SCRM_FAQ_FILE: %w", err)
		}
		faq = f
		if model != nil {
			llm = model
		}
	}
	// Both coordinators hold leases; without one, concurrent pulls of an
	// account are still harmless (dedup keys), only wasteful.
	lk, _ := a.coord.(bot.Leaser)
	send := customerSender{c: a.api, oa: cfg.OAAppID != "" && cfg.OAAppSecret != ""}
	kf := bot.NewKFSync(a.store, kfSource{a.api}, lk, bot.KFOptions{Owner: owner, Logger: log})
	answers := bot.NewAnswerer(a.store, faq, send, cfg.Hours(), llm, bot.AnswererOptions{OffHoursMessage: cfg.OffHoursMessage, Logger: log})
	inbox := bot.NewInbox(st, messenger{a.api}, send, dir, bot.InboxOptions{Location: cfg.Location(), Logger: log})
	return []bot.Processor{kf, answers, inbox}, inbox, nil
}
