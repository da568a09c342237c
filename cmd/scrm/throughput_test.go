package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// BenchmarkProcessingThroughput measures, in one run, how fast the pipeline
// puts messages on timelines against how fast the edge acknowledges them:
// 20,000 encrypted OA text callbacks from 1,000 followers (known to the
// simulated WeChat API, so the first message of each fetches a profile) into
// `serve` on SQLite with synchronous=FULL and every processor wired. The
// end-to-end rate runs from the first callback to the last message on a
// timeline.
//
//	go test -run '^$' -bench ProcessingThroughput -benchtime 1x ./cmd/scrm
func BenchmarkProcessingThroughput(b *testing.B) {
	n, followers := benchN(20000), 1000
	for range b.N {
		sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
		for i := range followers {
			sim.AddOAFollower(wecomtest.OAFollower{OpenID: fmt.Sprintf("oLoad%06d", i), UnionID: fmt.Sprintf("uLoad%06d", i), Nickname: fmt.Sprintf("粉丝%d", i)})
		}
		a := startSimApp(b, sim, extensions{}, func(cfg *config.Config) {
			cfg.OAAppID, cfg.OAAppSecret = wecomtest.SimOAAppID, wecomtest.SimOAAppSecret
			cfg.OAToken, cfg.OAAESKey, cfg.OAAPIBase = wecomtest.SimOAToken, wecomtest.SimOAAESKey, sim.URL
			cfg.BusinessHours = "always"
			cfg.SQLiteSynchronous = "FULL"
		})
		ctx := context.Background()
		start := time.Now()
		rep, err := wecomtest.Load(ctx, wecomtest.LoadOptions{
			DriverConfig: wecomtest.DriverConfig{
				OAURL: a.base + "/oa/callback", OAAppID: wecomtest.SimOAAppID, OAToken: wecomtest.SimOAToken,
				OAAESKey: wecomtest.SimOAAESKey, OASafeMode: true,
			},
			Kinds: []string{wecomtest.LoadOAText}, N: n, Senders: followers, Concurrency: 64,
		})
		if err != nil || rep.Acked != n {
			b.Fatalf("load: %v, %d of %d acknowledged", err, rep.Acked, n)
		}
		acked := time.Since(start)
		deadline := time.Now().Add(5 * time.Minute)
		for {
			st, err := a.store.Stats(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if st.Messages >= int64(n) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d messages on timelines after 5 min", st.Messages, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		e2e := time.Since(start)
		// A batch's messages reach their timelines before its other
		// processors (answers, inbox, analysis) finish with them; the run
		// ends when every event is processed.
		for {
			_, err := a.store.OldestUnprocessed(ctx)
			if errors.Is(err, store.ErrNotFound) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if time.Now().After(deadline) {
				b.Fatal("events left unprocessed after 5 min")
			}
			time.Sleep(20 * time.Millisecond)
		}
		processed := time.Since(start)
		b.ReportMetric(float64(n)/processed.Seconds(), "processed/s")
		b.ReportMetric((float64(n)/processed.Seconds())/rep.Throughput, "ratio-processed")
		b.ReportMetric(rep.Throughput, "acked/s")
		b.ReportMetric(float64(n)/e2e.Seconds(), "timeline/s")
		b.ReportMetric(e2e.Seconds()/acked.Seconds(), "e2e/ingest-time")
		b.ReportMetric((float64(n)/e2e.Seconds())/rep.Throughput, "ratio")
		b.Logf("acknowledged %d in %v (%.0f/s); all on timelines after %v (%.0f/s), all processed after %v (%.0f/s)",
			n, acked, rep.Throughput, e2e, float64(n)/e2e.Seconds(), processed, float64(n)/processed.Seconds())
	}
}

// benchN is n, or SCRM_BENCH_N when set (a quicker run while profiling).
func benchN(n int) int {
	if v, err := strconv.Atoi(os.Getenv("SCRM_BENCH_N")); err == nil && v > 0 {
		return v
	}
	return n
}

// TestServeWritesCustomerBatches: the pipeline hands a batch to the leading
// processors that take batches, so every processor serve registers before
// the customers processor must take them (WelcomeFirst does nothing with
// one); otherwise the customers' batch write — a few write transactions per
// batch instead of several per message — silently stops happening.
func TestServeWritesCustomerBatches(t *testing.T) {
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	a := startSimApp(t, sim, extensions{}, func(cfg *config.Config) {
		cfg.OAAppID, cfg.OAAppSecret = wecomtest.SimOAAppID, wecomtest.SimOAAppSecret
		cfg.OAToken, cfg.OAAESKey, cfg.OAAPIBase = wecomtest.SimOAToken, wecomtest.SimOAAESKey, sim.URL
	})
	for _, p := range a.core.processors {
		if p.Name() == "customers" {
			if _, ok := p.(bot.BatchProcessor); !ok {
				t.Fatal("the customers processor takes no batches")
			}
			return
		}
		if _, ok := p.(bot.BatchProcessor); !ok {
			t.Fatalf("processor %q, registered before customers, takes no batches: the customers' batch write never runs", p.Name())
		}
	}
	t.Fatal("no customers processor registered")
}
