package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/spf13/cobra"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/demo"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

func newDemoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run scrm with a simulated WeCom and Official Account and a demo page (no setup, no network)",
		Long: `demo starts scrm with the embedded store, a simulated WeCom corp and Official Account,
and a sample company (a manager, three salespeople, about thirty customers), then serves a page at
/demo where you write as a customer and as staff and watch scrm work. Nothing leaves this machine.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Getenv = os.Getenv
			o.Out = cmd.OutOrStdout()
			r, err := startDemo(cmd.Context(), o)
			if err != nil {
				return err
			}
			<-cmd.Context().Done()
			fmt.Fprintln(o.Out, "\n正在退出 scrm 演示…")
			return r.stop()
		},
	}
	cmd.Flags().StringVar(&o.Addr, "addr", ":8080", "address to serve on")
	cmd.Flags().StringVar(&o.DataDir, "data-dir", filepath.Join("data", "demo"), "directory for the demo's store (emptied at start unless --keep)")
	cmd.Flags().BoolVar(&o.Keep, "keep", false, "keep the data of the previous demo run instead of starting fresh")
	return cmd
}

// demoOptions are the demo's flags plus what tests replace.
type demoOptions struct {
	Addr    string
	DataDir string
	Keep    bool
	Getenv  func(string) string // reads SCRM_LOG_LEVEL, SCRM_TIMEZONE and SCRM_LLM_*; nil reads nothing
	Out     io.Writer           // the banner; nil discards it
	Logger  *slog.Logger        // nil: JSON to stderr at SCRM_LOG_LEVEL (default warn)
}

// demoRun is a running demo: the simulator, scrm, and the page.
type demoRun struct {
	app    *app
	sim    *wecomtest.Simulator
	demo   *demo.Demo
	URL    string          // the page, e.g. http://localhost:8080/demo
	Base   string          // scrm's base URL as the simulator's driver reaches it
	Seeded <-chan struct{} // closed when the sample history has been played
	cancel context.CancelFunc
}

// demoMarker marks a directory the demo created, so --data-dir never wipes
// a directory that holds anything else.
const demoMarker = ".scrm-demo"

// startDemo starts the simulator and scrm with the demo mounted, and plays
// the sample history in the background. It returns once scrm listens.
func startDemo(ctx context.Context, o demoOptions) (*demoRun, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if err := prepareDemoDir(o.DataDir, o.Keep); err != nil {
		return nil, err
	}
	sim := wecomtest.NewUnstartedSimulator(wecomtest.SimConfig{})
	var err error
	if err = sim.Start("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("demo: start the simulator: %w", err)
	}
	// Login links and WeCom's sign-in redirects need scrm's address
	// before it listens: pick the port now when the flag leaves it open.
	if o.Addr, err = fixDemoPort(o.Addr); err != nil {
		sim.Close()
		return nil, err
	}
	cfg, err := demoConfig(o, sim.URL, getenv)
	if err != nil {
		sim.Close()
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = newLogger(cfg.LogLevel)
	}
	var (
		d       *demo.Demo
		demoErr error
	)
	a, err := startApp(ctx, cfg, log, extensions{
		mount: func(fa *fiber.App, a *app) {
			for _, s := range demo.StaffRecords() {
				if err := a.store.UpsertStaff(ctx, s); err != nil {
					demoErr = fmt.Errorf("demo: seed staff: %w", err)
					return
				}
			}
			core := bot.NewCore(a.store, time.Now)
			// The demo's channels are made through the core's actions,
			// following into the simulated WeCom as the console's do.
			core.SetChannelAPI(a.api)
			admin := bot.Actor{Viewer: bot.Viewer{StaffID: bot.AdminActorID, Role: bot.RoleAdmin}, Source: bot.SourceAPI}
			d, demoErr = demo.New(demo.Options{Store: a.store, Sim: sim, Location: cfg.Location(), Logger: log, Channels: core,
				LoginLink: func(ctx context.Context, staffID, next string) (string, error) {
					secret, _, err := core.IssueLoginLink(ctx, admin, staffID, next)
					return "/auth/link?t=" + url.QueryEscape(secret), err
				},
				Archive: sim.ChatArchive(), Core: core})
			if demoErr == nil {
				d.Mount(fa)
			}
		},
		directory: demo.Directory(),
		// The company's WeCom chats reach scrm as a deployment's chat
		// archive would bring them; polled often, so the history is in
		// moments after start.
		archive: sim.ChatArchive(), archivePoll: 50 * time.Millisecond,
	})
	if err != nil {
		sim.Close()
		return nil, err
	}
	if demoErr != nil {
		_ = a.stop()
		sim.Close()
		return nil, demoErr
	}
	r := &demoRun{app: a, sim: sim, demo: d}
	host, port := demoHosts(a.addr)
	r.Base = "http://" + net.JoinHostPort(host.dial, port)
	r.URL = "http://" + net.JoinHostPort(host.show, port) + "/demo"

	// A kept store already holds the history; playing it again would
	// duplicate the contact events, whose dedup keys carry their time.
	skip := false
	if o.Keep {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := a.store.Stats(sctx)
		cancel()
		skip = err == nil && st.Events > 0
	}
	sctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	seeded, err := d.Start(sctx, r.Base, skip)
	if err != nil {
		done := make(chan struct{})
		close(done)
		r.Seeded = done // nothing was started
		_ = r.stop()
		return nil, err
	}
	// Once the staff and their history exist, each of them gets this
	// morning's digest, so the page shows what needs them from the start.
	digests := make(chan struct{})
	r.Seeded = digests
	go func() {
		defer close(digests)
		<-seeded
		r.sendDigests(sctx, cfg)
	}()
	if o.Out != nil {
		printDemoBanner(o.Out, r, cfg)
	}
	return r, nil
}

// stop ends the seeding, stops scrm in its order, then the simulator.
func (r *demoRun) stop() error {
	r.cancel()
	<-r.Seeded
	err := r.app.stop()
	if cerr := r.sim.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("stop simulator: %w", cerr))
	}
	return err
}

// demoConfig is scrm's configuration for the demo: every channel points at
// the simulator with its public test credentials, and only a few harmless
// settings come from the environment, so a production SCRM_* environment can
// never leak into (or be written by) the demo.
func demoConfig(o demoOptions, simURL string, getenv func(string) string) (config.Config, error) {
	cfg := config.Default()
	cfg.Addr = o.Addr
	cfg.DataDir = o.DataDir
	cfg.APIToken = randomToken()
	cfg.WeComCorpID = wecomtest.SimCorpID
	cfg.WeComAgentID = wecomtest.SimAgentID
	cfg.WeComSecret = wecomtest.SimAppSecret
	cfg.WeComContactSecret = wecomtest.SimContactSecret
	cfg.WeComToken = wecomtest.SimToken
	cfg.WeComAESKey = wecomtest.SimAESKey
	cfg.WeComAPIBase = simURL
	cfg.OAAppID = wecomtest.SimOAAppID
	cfg.OAAppSecret = wecomtest.SimOAAppSecret
	cfg.OAToken = wecomtest.SimOAToken
	cfg.OAAESKey = wecomtest.SimOAAESKey
	cfg.OAAPIBase = simURL
	// The console's 企业微信登录 goes to the simulator's sign-in pages,
	// which let the visitor pick whom to sign in as; login links (the
	// banner's, the bot's 后台) are built on the demo's own address.
	cfg.WeComOAuthBase, cfg.WeComLoginBase = simURL, simURL
	// The chat sidebar loads the simulator's stand-in for WeCom's JS-SDK.
	cfg.WeComJSSDKURL = simURL + wecomtest.JSSDKPath
	cfg.PublicURL = demoPublicURL(o.Addr)
	// The demo's data is thrown away at the next start: trade power-loss
	// durability for a faster first seeding.
	cfg.SQLiteSynchronous = "NORMAL"
	cfg.LogLevel = "warn"
	if v := getenv("SCRM_LOG_LEVEL"); v != "" {
		cfg.LogLevel = v
	}
	if v := getenv("SCRM_TIMEZONE"); v != "" {
		cfg.Timezone = v
	}
	// An LLM, when one is configured, makes the demo's analysis and answers
	// richer; without it scrm uses its offline models.
	cfg.LLMBaseURL, cfg.LLMAPIKey, cfg.LLMModel = getenv("SCRM_LLM_BASE_URL"), getenv("SCRM_LLM_API_KEY"), getenv("SCRM_LLM_MODEL")
	cfg.AnalysisQuiet = 3 * time.Second // visitors see a conversation analysed moments after it pauses
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("invalid demo configuration:\n%w", err)
	}
	return cfg, nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// prepareDemoDir gives the demo an empty data directory (or keeps the old
// one with keep). It empties only directories it created itself.
func prepareDemoDir(dir string, keep bool) error {
	if dir == "" {
		return errors.New("demo: --data-dir must not be empty")
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("demo: --data-dir %s: %w", dir, err)
	case len(entries) > 0:
		if _, err := os.Stat(filepath.Join(dir, demoMarker)); err != nil {
			return fmt.Errorf("demo: --data-dir %s is not empty and was not created by scrm demo; choose another directory", dir)
		}
		if keep {
			return nil
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("demo: empty %s: %w", dir, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("demo: create %s: %w", dir, err)
	}
	return os.WriteFile(filepath.Join(dir, demoMarker), []byte("created by scrm demo; emptied at each start unless --keep\n"), 0o644)
}

type demoHost struct{ dial, show string }

// demoHosts names the listening address twice: where the driver dials scrm
// and what the banner shows a person (localhost for a wildcard address).
func demoHosts(addr net.Addr) (demoHost, string) {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return demoHost{dial: "127.0.0.1", show: "localhost"}, addr.String()
	}
	ip := net.ParseIP(host)
	if host == "" || (ip != nil && ip.IsUnspecified()) {
		return demoHost{dial: "127.0.0.1", show: "localhost"}, port
	}
	return demoHost{dial: host, show: host}, port
}

// fixDemoPort returns addr with a free port in place of port 0 (or none).
func fixDemoPort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("demo: --addr %q: %w", addr, err)
	}
	if port != "" && port != "0" {
		return addr, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("demo: --addr %q: %w", addr, err)
	}
	defer ln.Close()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return net.JoinHostPort(host, port), nil
}

// demoPublicURL is the demo's address as a person's browser reaches it.
func demoPublicURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// consoleLinks issues a one-time console link for each demo staff member,
// the manager first, as the banner lists them.
func (r *demoRun) consoleLinks(ctx context.Context, base string) []string {
	core := bot.NewCore(r.app.store, nil)
	var out []string
	for _, s := range demo.StaffList {
		secret, _, err := core.IssueLoginLink(ctx, bot.SystemActor("demo"), s.UserID, "/console/")
		if err != nil {
			r.app.log.Warn("demo login link", "staff", s.UserID, "err", err)
			continue
		}
		out = append(out, fmt.Sprintf("%s %s（%s）：%s", s.Title, s.Name, s.UserID, bot.LoginLinkURL(base, secret)))
	}
	return out
}

func printDemoBanner(w io.Writer, r *demoRun, cfg config.Config) {
	people := strconv.Itoa(len(demo.People))
	base := r.URL[:len(r.URL)-len("/demo")]
	links := r.consoleLinks(context.Background(), base)
	fmt.Fprintf(w, `
  scrm 演示已启动

  打开浏览器访问：%s

  管理后台 %s/console/ ，一次性登录链接（10 分钟内有效、只能用一次）：
      %s
    过期后在后台登录页选「企业微信登录」挑选身份，或运行
      SCRM_DATA_DIR=%s scrm login-link --staff limin --base %s
`, r.URL, base, strings.Join(links, "\n      "), cfg.DataDir, base)
	fmt.Fprintf(w, `
  · 模拟企业：%s（1 位经理、%d 位销售、%s 位客户），示例数据正在后台通过真实回调导入
  · 模拟的企业微信 / 公众号接口：%s
  · 数据目录：%s（每次启动都会清空，加 --keep 保留）
  · REST API 令牌：%s
      例：curl -H "Authorization: Bearer %s" %s/api/v1/stats

  按 Ctrl+C 退出。

`, demo.Company, len(demo.StaffList)-1, people, r.sim.URL, cfg.DataDir, cfg.APIToken, cfg.APIToken, r.URL[:len(r.URL)-len("/demo")])
}

// sendDigests sends every demo staff member today's morning digest.
func (r *demoRun) sendDigests(ctx context.Context, cfg config.Config) {
	sched := r.app.core.scheduler
	if sched == nil {
		return
	}
	// The digest tells of what is processed: give the pipeline a moment
	// to catch up with the history just delivered.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if _, err := r.app.store.OldestUnprocessed(ctx); errors.Is(err, store.ErrNotFound) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ctx.Err() != nil {
		return
	}
	now := time.Now().In(cfg.Location())
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, cfg.Location())
	for _, s := range demo.StaffList {
		if err := sched.SendDigest(ctx, s.UserID, day); err != nil && ctx.Err() == nil {
			r.app.log.Warn("demo digest", "staff", s.UserID, "err", err)
		}
	}
}
