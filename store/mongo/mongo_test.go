package mongo_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/mongo"
	"github.com/scrmhq/scrm/store/mongo/mongotest"
	"github.com/scrmhq/scrm/store/storetest"
)

func openTest(t *testing.T) *mongo.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := mongo.Open(ctx, mongotest.Start(t), mongotest.DBName(t))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return db
}

func TestContract(t *testing.T) {
	cfg := storetest.Config{}
	if os.Getenv(mongotest.EnvURI) == "" {
		cfg.DueReminders = 100 // see storetest.Config
		cfg.LargeBatch = 200
	}
	storetest.RunWith(t, func(t *testing.T) store.Store { return openTest(t) }, cfg)
}

// TestMarkersMoveOutOfCursors: a database from before the markers
// collection keeps its markers, moved out of the cursors at Open.
func TestMarkersMoveOutOfCursors(t *testing.T) {
	open := reopenable(t)
	storetest.MarkersMovedOnOpen(t, open(), open)
}

// reopenable opens one fresh database, again at every call, as an upgrade
// test needs.
func reopenable(t *testing.T) func() store.Store {
	uri, name := mongotest.Start(t), mongotest.DBName(t)
	return func() store.Store {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := mongo.Open(ctx, uri, name)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return db
	}
}

// TestStateMovesOutOfCursors: a database whose handover and inbox state is
// still in cursors (JSON) finds it typed after Open.
func TestStateMovesOutOfCursors(t *testing.T) {
	open := reopenable(t)
	storetest.StateMovedOnOpen(t, open(), open)
}

// TestPruneDoneForgetsFinishedEvents: the done records and claim
// generations of completed events are deleted once older than the cutoff;
// a still pending event keeps its claim and is claimed again after its
// lease.
func TestPruneDoneForgetsFinishedEvents(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	t.Cleanup(func() { db.Close() })
	at := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	var evs []*store.Event
	for i := range 3 {
		evs = append(evs, &store.Event{DedupKey: "msg:wecom:prune-" + string(rune('a'+i)), Channel: store.ChannelWeCom, Kind: "text",
			FromID: "s1", StaffID: "s1", Text: "x", OccurredAt: at, ReceivedAt: at})
	}
	if _, err := db.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	claimed, err := db.ClaimEvents(ctx, "p", 3, at, time.Minute)
	if err != nil || len(claimed) != 3 {
		t.Fatalf("ClaimEvents = %d, %v", len(claimed), err)
	}
	for _, e := range claimed[:2] {
		if err := db.CompleteEvent(ctx, e.ID, "p", at); err != nil {
			t.Fatal(err)
		}
	}
	count := func(coll string) int {
		t.Helper()
		dump, err := db.DumpAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(dump, "\n"+coll+": ")
	}
	// Completing deletes an event's claims; its done record stays.
	claims := count("event_claims")
	if d := count("event_done"); d != 2 || claims < 1 {
		t.Fatalf("before the prune: %d done records, %d claims; want 2 and at least the pending event's", d, claims)
	}
	if n, err := db.PruneDone(ctx, at); err != nil || n != 0 {
		t.Fatalf("PruneDone at the completion time = %d, %v; want nothing (strictly before)", n, err)
	}
	if n, err := db.PruneDone(ctx, at.Add(time.Hour)); err != nil || n != int64(2+claims-1) {
		t.Fatalf("PruneDone = %d, %v; want 2 done records and their %d claims", n, err, claims-1)
	}
	if d, c := count("event_done"), count("event_claims"); d != 0 || c != 1 {
		t.Fatalf("after the prune: %d done records, %d claims; want 0 and the pending event's 1", d, c)
	}
	again, err := db.ClaimEvents(ctx, "q", 10, at.Add(2*time.Minute), time.Minute)
	if err != nil || len(again) != 1 || again[0].ID != claimed[2].ID {
		t.Fatalf("claim after the prune = %v, %v; want only the pending event", again, err)
	}
	if err := db.CompleteEvent(ctx, again[0].ID, "q", at.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
}
