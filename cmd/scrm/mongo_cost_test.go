package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/coord"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/mongo"
	"github.com/scrmhq/scrm/store/mongo/mongotest"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// maxCommandsPerMessage pins what one more customer message costs on
// MongoDB: the commands the driver sends for it through the pipeline with
// every processor serve wires (customers, tags, staff, groups, handover,
// cadence, commands, kf, answers, inbox, cards, analysis), claim and
// completion included. Lower it when a change makes processing cheaper; a
// change that raises it must say why in docs/benchmarks.md.
//
// 19 after the batched write path (issue 18); 21 since the follows carry
// their customer's stage and waiting state for the console's team counts
// (issue 14): a message reads the customer's state and updates its follows.
const maxCommandsPerMessage = 21

// TestProcessingCommandsOnMongo counts the commands the Mongo driver sends to
// process 50 and then 100 OA text messages of 10 known followers with the
// processors buildCore wires, and fails when one more message costs more
// than maxCommandsPerMessage commands. It logs the counts by command and
// collection and by processor.
func TestProcessingCommandsOnMongo(t *testing.T) {
	ctx := context.Background()
	cmds := mongotest.NewCommands()
	db, err := mongo.Open(ctx, mongotest.Start(t), mongotest.DBName(t), mongo.WithMonitor(cmds.Monitor()))
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent appends may race for a timeline ID and retry: the
	// count is of the commands without such races.
	db.SerialBatchWrites()
	defer db.Close()
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	const followers = 10
	for i := range followers {
		sim.AddOAFollower(wecomtest.OAFollower{OpenID: fmt.Sprintf("oCost%02d", i), UnionID: fmt.Sprintf("uCost%02d", i), Nickname: fmt.Sprintf("粉丝%02d", i)})
	}
	sim.AddStaff(wecomtest.Staff{UserID: "s00", Name: "销售00", Department: []int{1}})
	cfg := config.Default()
	cfg.WeComCorpID, cfg.WeComAgentID = wecomtest.SimCorpID, wecomtest.SimAgentID
	cfg.WeComSecret, cfg.WeComContactSecret = wecomtest.SimAppSecret, wecomtest.SimContactSecret
	cfg.WeComToken, cfg.WeComAESKey, cfg.WeComAPIBase = wecomtest.SimToken, wecomtest.SimAESKey, sim.URL
	cfg.OAAppID, cfg.OAAppSecret = wecomtest.SimOAAppID, wecomtest.SimOAAppSecret
	cfg.OAToken, cfg.OAAESKey, cfg.OAAPIBase = wecomtest.SimOAToken, wecomtest.SimOAAESKey, sim.URL
	cfg.BusinessHours = "always"
	cfg.MongoURI, cfg.MongoDB = "set", "set" // only storeKind reads them here
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := &app{cfg: cfg, log: log, store: db, coord: coord.NewLocal()}
	if a.api, err = wecom.NewAPIClient(wecom.APIConfig{
		CorpID: cfg.WeComCorpID, AgentID: cfg.WeComAgentID, AppSecret: cfg.WeComSecret,
		ContactSecret: cfg.WeComContactSecret, WeComBase: cfg.WeComAPIBase,
		OAAppID: cfg.OAAppID, OAAppSecret: cfg.OAAppSecret, OABase: cfg.OAAPIBase,
	}, a.coord, log); err != nil {
		t.Fatal(err)
	}
	c, err := buildCore(ctx, a, extensions{}, time.Now, log)
	if err != nil {
		t.Fatal(err)
	}
	// One worker, so that the commands between a processor's start and end
	// are its own.
	counted := make([]bot.Processor, len(c.processors))
	perProc := map[string]int{}
	for i, p := range c.processors {
		counted[i] = procCounter{Processor: p, cmds: cmds, into: perProc}
	}
	pipe := bot.NewPipeline(db, bot.PipelineOptions{Owner: c.owner, Workers: 1, Logger: log}, counted...)

	seq := 0
	run := func(n int) (total int, byColl map[string]int) {
		t.Helper()
		evs := make([]*store.Event, n)
		now := time.Now().UTC()
		for i := range evs {
			seq++
			from := fmt.Sprintf("oCost%02d", seq%followers)
			evs[i] = &store.Event{DedupKey: fmt.Sprint("oa:cost:", seq), Channel: store.ChannelOA, Kind: "text",
				FromID: from, CustomerID: from, Text: fmt.Sprintf("第%d条消息，想了解一下价格", seq), MsgID: fmt.Sprint(seq),
				OccurredAt: now, ReceivedAt: now}
		}
		if _, err := db.AppendEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		cmds.Reset()
		clear(perProc)
		start := time.Now()
		for done := 0; done < n; {
			k, err := pipe.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if k == 0 {
				t.Fatalf("%d of %d events processed, then none claimable", done, n)
			}
			done += k
		}
		t.Logf("%d messages processed in %v (%.0f/s, one worker)", n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
		st, err := db.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Messages != int64(seq) {
			t.Fatalf("%d messages on timelines, want %d", st.Messages, seq)
		}
		return cmds.Total(), cmds.ByCollection()
	}
	run(followers) // each follower's first message: profiles, new customers
	c50, by50 := run(50)
	procs50 := maps.Clone(perProc)
	c100, by100 := run(100)
	perMsg := float64(c100-c50) / 50
	t.Logf("50 messages: %d commands; 100 messages: %d; per message %.2f, fixed %.1f", c50, c100, perMsg, float64(c50)-50*perMsg)
	for _, k := range slices.Sorted(maps.Keys(by100)) {
		t.Logf("  %-32s 50: %4d  100: %4d  per message %.2f", k, by50[k], by100[k], float64(by100[k]-by50[k])/50)
	}
	for _, k := range slices.Sorted(maps.Keys(perProc)) {
		t.Logf("  processor %-12s 50: %4d  100: %4d", k, procs50[k], perProc[k])
	}
	if perMsg > maxCommandsPerMessage {
		t.Errorf("one more message costs %.2f commands, want at most %d", perMsg, maxCommandsPerMessage)
	}
}

// procCounter attributes the commands sent during Process to the processor
// (with one pipeline worker and nothing else running).
type procCounter struct {
	bot.Processor
	cmds *mongotest.Commands
	into map[string]int
}

func (p procCounter) Process(ctx context.Context, ev *store.Event) error {
	before := p.cmds.Total()
	err := p.Processor.Process(ctx, ev)
	p.into[p.Name()] += p.cmds.Total() - before
	return err
}

// ProcessBatch passes a batch to the processor when it takes batches (the
// customers processor), so that the count is of the path serve runs, and
// attributes its commands to it; for the others it does nothing.
func (p procCounter) ProcessBatch(ctx context.Context, evs []*store.Event, ectxs []context.Context) {
	bp, ok := p.Processor.(bot.BatchProcessor)
	if !ok {
		return
	}
	before := p.cmds.Total()
	bp.ProcessBatch(ctx, evs, ectxs)
	p.into[p.Name()] += p.cmds.Total() - before
}
