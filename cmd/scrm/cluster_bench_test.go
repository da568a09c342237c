package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/mongo"
	"github.com/scrmhq/scrm/store/mongo/mongotest"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// BenchmarkClusterProcessing measures, in one run, one and then two `serve`
// instances on one MongoDB-wire store (embedded FerretDB, SQLite handler, in
// this process) and the real Redis: encrypted OA texts from known followers
// (the simulator answering the profile fetches), each delivered once, to
// the instances in turn. It reports the acknowledgement rate and the end-to-
// end rate (from the first callback until every message is on its timeline and
// every event processed) of
// each, and checks every message is stored and on its timeline once.
// SCRM_BENCH_N sets the messages (default 600); SCRM_BENCH_INSTANCES runs
// one count only (for a CPU profile of it).
func BenchmarkClusterProcessing(b *testing.B) {
	n, followers := benchN(600), 60
	counts := []int{1, 2}
	if v, err := strconv.Atoi(os.Getenv("SCRM_BENCH_INSTANCES")); err == nil && v > 0 {
		counts = []int{v}
	}
	uri := mongotest.Start(b)
	for range b.N {
		for _, instances := range counts {
			ack, e2e := clusterRun(b, uri, instances, n, followers)
			b.ReportMetric(ack, fmt.Sprintf("acked/s-%d", instances))
			b.ReportMetric(e2e, fmt.Sprintf("timeline/s-%d", instances))
		}
	}
}

func clusterRun(b *testing.B, uri string, instances, n, followers int) (ackRate, e2eRate float64) {
	ctx := context.Background()
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	defer sim.Close()
	for i := range followers {
		sim.AddOAFollower(wecomtest.OAFollower{OpenID: fmt.Sprintf("oCl%04d", i), UnionID: fmt.Sprintf("uCl%04d", i), Nickname: fmt.Sprintf("粉丝%d", i)})
	}
	dbName := mongotest.DBName(b)
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.MongoURI, cfg.MongoDB = uri, dbName
	cfg.RedisURL = "redis://127.0.0.1:6379/0"
	cfg.RedisPrefix = fmt.Sprintf("scrmbench:%d:", time.Now().UnixNano())
	cfg.WeComCorpID, cfg.WeComAgentID = wecomtest.SimCorpID, wecomtest.SimAgentID
	cfg.WeComSecret, cfg.WeComContactSecret = wecomtest.SimAppSecret, wecomtest.SimContactSecret
	cfg.WeComToken, cfg.WeComAESKey, cfg.WeComAPIBase = wecomtest.SimToken, wecomtest.SimAESKey, sim.URL
	cfg.OAAppID, cfg.OAAppSecret = wecomtest.SimOAAppID, wecomtest.SimOAAppSecret
	cfg.OAToken, cfg.OAAESKey, cfg.OAAPIBase = wecomtest.SimOAToken, wecomtest.SimOAAESKey, sim.URL
	cfg.BusinessHours = "always"
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	var logTo io.Writer = io.Discard
	if os.Getenv("SCRM_BENCH_LOG") != "" {
		logTo = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var drivers []*wecomtest.Driver
	for range instances {
		a, err := startApp(ctx, cfg, log, extensions{})
		if err != nil {
			b.Fatal(err)
		}
		defer a.stop() //nolint:errcheck // the figures are taken before
		base := "http://" + a.addr.String()
		d, err := wecomtest.NewDriver(wecomtest.SimDriverConfig(base+"/wecom/callback", base+"/oa/callback", sim))
		if err != nil {
			b.Fatal(err)
		}
		drivers = append(drivers, d)
	}
	st, err := mongo.Open(ctx, uri, dbName)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()

	// Sealed before the clock starts, so that the run measures the servers.
	now := time.Now()
	bodies := make([][]byte, n)
	for i := range n {
		m := wecomtest.OAText(fmt.Sprintf("oCl%04d", i%followers), fmt.Sprintf("消息%d", i), int64(900_000+i), now.Add(time.Duration(i)*time.Millisecond))
		bodies[i] = drivers[0].OAXML(m)
	}
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				// Each message once, to the instances in turn; a delivery
				// not acknowledged is resent, as WeChat does.
				d := drivers[(i+w)%len(drivers)]
				for try := 0; ; try++ {
					del, err := d.SendOAXML(ctx, bodies[i])
					if err == nil && del.Status == 200 {
						break
					}
					if try == 5 {
						failed.Add(1)
						break
					}
				}
			}
		})
	}
	wg.Wait()
	acked := time.Since(start)
	if failed.Load() > 0 {
		b.Fatalf("%d messages never acknowledged", failed.Load())
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		stats, err := st.Stats(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if stats.Messages >= int64(n) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d instances: %d of %d messages on timelines after 10 min", instances, stats.Messages, n)
		}
		// Stats counts whole collections, which FerretDB does by reading
		// every document: polled often, it would be the load measured.
		time.Sleep(250 * time.Millisecond)
	}
	// Then every event processed (answers, inbox, analysis after the
	// timeline).
	for {
		_, err := st.OldestUnprocessed(ctx)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d instances: events left unprocessed after 10 min", instances)
		}
		time.Sleep(250 * time.Millisecond)
	}
	e2e := time.Since(start)
	stats, err := st.Stats(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if stats.Events != int64(n) || stats.Messages != int64(n) || stats.Customers != int64(followers) {
		b.Fatalf("%d instances: stats %+v, want %d events and messages, %d customers", instances, stats, n, followers)
	}
	for i := range followers {
		c, err := st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityOpenID, Value: fmt.Sprintf("oCl%04d", i)})
		if err != nil {
			b.Fatal(err)
		}
		tl, err := st.FindTimeline(ctx, c.ID, 0, 1000)
		if err != nil {
			b.Fatal(err)
		}
		msgs := 0
		for _, e := range tl {
			if e.Kind == store.EntryMessage {
				msgs++
			}
		}
		want := n / followers
		if i < n%followers {
			want++
		}
		if msgs != want {
			b.Fatalf("%d instances: follower %d has %d messages on the timeline, want %d", instances, i, msgs, want)
		}
	}
	ackRate, e2eRate = float64(n)/acked.Seconds(), float64(n)/e2e.Seconds()
	b.Logf("%d instance(s): %d acknowledged in %v (%.0f/s); all on timelines after %v (%.1f/s)", instances, n, acked.Round(time.Millisecond), ackRate, e2e.Round(time.Millisecond), e2eRate)
	return ackRate, e2eRate
}
