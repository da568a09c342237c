package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/scrmhq/scrm/coord"
	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

func newSimCmd() *cobra.Command {
	sim := &cobra.Command{
		Use:   "sim",
		Short: "Simulated WeCom/WeChat traffic for benchmarks and trials",
	}
	sim.AddCommand(newSimLoadCmd(), newSimBaselineCmd())
	return sim
}

func newSimLoadCmd() *cobra.Command {
	var (
		url, kinds                       string
		n, senders, concurrency, retries int
		rate, duplicates                 float64
		timeout                          time.Duration
		plainOA, untilProcessed          bool
	)
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Send signed, encrypted callbacks to a scrm server and report throughput and latency",
		Long: `load sends N callbacks of the chosen kinds from M distinct senders to a scrm server, signed and
AES-encrypted exactly as WeChat does, with WeChat's 5 s timeout and retries, optionally sending a
fraction of them twice. It uses the same SCRM_WECOM_* / SCRM_OA_* settings (or --config) as the
server, so point both at one configuration.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			base := strings.TrimSuffix(url, "/")
			opt := wecomtest.LoadOptions{
				DriverConfig: wecomtest.DriverConfig{
					URL: base + "/wecom/callback", OAURL: base + "/oa/callback",
					Token: cfg.WeComToken, AESKey: cfg.WeComAESKey, CorpID: cfg.WeComCorpID, AgentID: cfg.WeComAgentID,
					OAAppID: cfg.OAAppID, OAToken: cfg.OAToken, OAAESKey: cfg.OAAESKey,
					OASafeMode: cfg.OAAESKey != "" && !plainOA,
					Timeout:    timeout, Retries: retries,
				},
				Kinds: strings.Split(kinds, ","), N: n, Senders: senders, Rate: rate,
				Concurrency: concurrency, Duplicates: duplicates,
			}
			var before int64
			if untilProcessed {
				st, err := simStats(cmd.Context(), base, cfg.APIToken)
				if err != nil {
					return err
				}
				before = st.Messages
			}
			start := time.Now()
			rep, err := wecomtest.Load(cmd.Context(), opt)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), rep.String())
			if !untilProcessed {
				return nil
			}
			// End to end: from the first callback until the last message is
			// on a timeline, polled through /api/v1/stats.
			for {
				st, err := simStats(cmd.Context(), base, cfg.APIToken)
				if err != nil {
					return err
				}
				if st.Messages-before >= int64(rep.Messages) {
					break
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(20 * time.Millisecond):
				}
			}
			e2e := time.Since(start)
			rate := float64(rep.Messages) / e2e.Seconds()
			fmt.Fprintf(cmd.OutOrStdout(), "processed: all %d messages on timelines after %v: %.0f/s end to end, %.2f× the acknowledgement rate\n",
				rep.Messages, e2e.Round(time.Millisecond), rate, rate/rep.Throughput)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "url", "http://127.0.0.1:8080", "base URL of the scrm server")
	f.StringVar(&kinds, "kinds", wecomtest.LoadOAText, "comma-separated kinds: oa_text, wecom_text, contact_event")
	f.IntVarP(&n, "n", "n", 10000, "distinct callbacks to send")
	f.IntVar(&senders, "senders", 100, "distinct senders (customers or staff)")
	f.IntVar(&concurrency, "concurrency", 32, "parallel deliveries")
	f.Float64Var(&rate, "rate", 0, "target deliveries per second (0: as fast as concurrency allows)")
	f.Float64Var(&duplicates, "duplicates", 0, "fraction of callbacks sent a second time (0..1)")
	f.IntVar(&retries, "retries", 0, "resends of an unacknowledged callback (0: WeChat's 3; -1: none)")
	f.DurationVar(&timeout, "timeout", 5*time.Second, "per-attempt timeout (WeChat's is 5s)")
	f.BoolVar(&untilProcessed, "until-processed", false, "after the load, poll /api/v1/stats (with SCRM_API_TOKEN) until every message is on a timeline and report the end-to-end rate (text messages only)")
	f.BoolVar(&plainOA, "oa-plaintext", false, "send OA callbacks in plaintext mode even when an AES key is set (a server with SCRM_OA_AES_KEY refuses them)")
	return cmd
}

// simStats reads /api/v1/stats of the server at base.
func simStats(ctx context.Context, base, token string) (store.Stats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/stats", nil)
	if err != nil {
		return store.Stats{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return store.Stats{}, fmt.Errorf("stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return store.Stats{}, fmt.Errorf("stats: status %d (is SCRM_API_TOKEN the server's?)", resp.StatusCode)
	}
	var st store.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return store.Stats{}, fmt.Errorf("stats: %w", err)
	}
	return st, nil
}

// newSimBaselineCmd serves the callback edge over a store that keeps
// nothing: the same verification, decryption, parsing and acknowledgement,
// minus durability. Benchmarks run it side by side with `scrm serve` to
// report what storing costs as a ratio rather than a lone time.
func newSimBaselineCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "baseline",
		Short: "Serve a decrypt-only callback handler (no storage) for side-by-side benchmarks",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			log := newLogger(cfg.LogLevel)
			opts := handlers.Options{MaxSkew: cfg.CallbackMaxSkew, MaxBody: cfg.CallbackMaxBody, Logger: log}
			if cfg.WeComEnabled() {
				if opts.WeCom, err = wecom.NewCrypto(cfg.WeComToken, cfg.WeComAESKey, cfg.WeComCorpID); err != nil {
					return err
				}
			}
			if cfg.OAEnabled() {
				opts.OAToken = cfg.OAToken
				if cfg.OAAESKey != "" {
					if opts.OA, err = wecom.NewCrypto(cfg.OAToken, cfg.OAAESKey, cfg.OAAppID); err != nil {
						return err
					}
				}
			}
			srv := handlers.New(discardStore{}, coord.NewLocal(), opts)
			ln, err := net.Listen("tcp", cfg.Addr)
			if err != nil {
				return err
			}
			log.Info("decrypt-only baseline serving", "addr", ln.Addr().String())
			go srv.Serve(ln)
			<-cmd.Context().Done()
			return srv.Shutdown(context.Background())
		},
	}
}

// discardStore accepts every event and keeps none.
type discardStore struct{}

func (discardStore) AppendEvents(_ context.Context, evs []*store.Event) ([]bool, error) {
	ok := make([]bool, len(evs))
	for i := range ok {
		ok[i] = true
	}
	return ok, nil
}
func (discardStore) Stats(context.Context) (store.Stats, error) { return store.Stats{}, nil }
func (discardStore) Ping(context.Context) error                 { return nil }
