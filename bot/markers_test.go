package bot_test

import (
	"context"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// TestMarkerSweepKeepsEachFamilyItsRetention: the sweep deletes a marker
// once it is older than its family's retention, and not before; a marker
// of a longer kept family survives a cutoff that removes a shorter one's.
func TestMarkerSweepKeepsEachFamilyItsRetention(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	day := 24 * time.Hour
	reply, weekly := bot.MarkerRetention[store.MarkBotReply], bot.MarkerRetention[store.MarkWeeklySent]
	if reply <= 0 || weekly <= reply {
		t.Fatalf("retention: reply %v, weekly %v; the test wants weekly longer", reply, weekly)
	}
	for _, m := range []struct {
		kind, key string
		age       time.Duration
	}{
		{store.MarkBotReply, "old", reply + day},
		{store.MarkBotReply, "young", reply - day},
		{store.MarkWeeklySent, "young", reply + day},
		{store.MarkWeeklySent, "old", weekly + day},
	} {
		if err := st.SetMarker(ctx, m.kind, m.key, "1", t0.Add(-m.age)); err != nil {
			t.Fatal(err)
		}
	}
	sweep := bot.NewMarkerSweep(st, bot.MarkerSweepOptions{Now: func() time.Time { return t0 }})
	if n, err := sweep.SweepOnce(ctx); err != nil || n != 2 {
		t.Fatalf("SweepOnce = %d, %v; want the two old markers", n, err)
	}
	for _, m := range []struct{ kind, key, want string }{
		{store.MarkBotReply, "old", ""},
		{store.MarkBotReply, "young", "1"},
		{store.MarkWeeklySent, "young", "1"},
		{store.MarkWeeklySent, "old", ""},
	} {
		if got, err := st.GetMarker(ctx, m.kind, m.key); err != nil || got != m.want {
			t.Errorf("%s %s after the sweep = %q, %v; want %q", m.kind, m.key, got, err, m.want)
		}
	}
	if n, err := sweep.SweepOnce(ctx); err != nil || n != 0 {
		t.Fatalf("second SweepOnce = %d, %v; want nothing left to delete", n, err)
	}
}

// TestCommandReplyMarkerIsSweptAfterItsRetention: the marker a command's
// reply leaves keeps a redelivered command from being answered twice while
// it lives, and the sweep removes it after the retention.
func TestCommandReplyMarkerIsSweptAfterItsRetention(t *testing.T) {
	e := newRmEnv(t, "lisi")
	ctx := context.Background()
	e.say("lisi", "帮助")
	evs, err := e.st.FindEvents(ctx, store.EventFilter{Kind: "text"})
	if err != nil || len(evs) != 1 {
		t.Fatalf("events = %d, %v", len(evs), err)
	}
	if v, err := e.st.GetMarker(ctx, store.MarkBotReply, evs[0].DedupKey); err != nil || v == "" {
		t.Fatalf("reply marker = %q, %v; want it recorded", v, err)
	}
	sweep := bot.NewMarkerSweep(e.st, bot.MarkerSweepOptions{Now: e.clk.Now})
	e.clk.Add(bot.MarkerRetention[store.MarkBotReply] - time.Hour)
	if _, err := sweep.SweepOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.st.GetMarker(ctx, store.MarkBotReply, evs[0].DedupKey); v == "" {
		t.Fatal("the reply marker was swept before its retention")
	}
	// While it lives, reprocessing the command sends nothing.
	before := len(e.sim.SentTo("lisi"))
	if err := e.cmds.Process(ctx, evs[0]); err != nil {
		t.Fatal(err)
	}
	if n := len(e.sim.SentTo("lisi")); n != before {
		t.Fatalf("a reprocessed command was answered again (%d replies)", n-before)
	}
	e.clk.Add(2 * time.Hour)
	if _, err := sweep.SweepOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := e.st.GetMarker(ctx, store.MarkBotReply, evs[0].DedupKey); err != nil || v != "" {
		t.Fatalf("reply marker after its retention = %q, %v; want it swept", v, err)
	}
}
