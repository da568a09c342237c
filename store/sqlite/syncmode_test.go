package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

// TestDeferredSyncLevels checks the level each write runs at: background
// writes (store.WithDeferredSync) at NORMAL, everything else at the
// configured level, and a transaction keeps the level it began with.
func TestDeferredSyncLevels(t *testing.T) {
	const normal, full, extra = 1, 2, 3
	ctx := context.Background()
	bg := store.WithDeferredSync(ctx)
	level := func(t *testing.T, db *DB, ctx context.Context) int {
		t.Helper()
		var n int
		if err := db.w.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct {
		mode string
		want int
	}{{"FULL", full}, {"EXTRA", extra}, {"NORMAL", normal}} {
		t.Run(tc.mode, func(t *testing.T) {
			db, err := Open(ctx, t.TempDir(), WithSynchronous(tc.mode))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for range 2 {
				if got := level(t, db, ctx); got != tc.want {
					t.Fatalf("durable write at level %d, want %d", got, tc.want)
				}
				if got := level(t, db, bg); got != normal {
					t.Fatalf("deferred write at level %d, want NORMAL (%d)", got, normal)
				}
			}
			// A transaction keeps the level it began with, whatever the
			// contexts of its statements.
			tx, err := db.w.BeginTx(bg, nil)
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := tx.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&n); err != nil || n != normal {
				t.Fatalf("inside a deferred transaction: level %d, %v; want NORMAL", n, err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if got := level(t, db, ctx); got != tc.want {
				t.Fatalf("after the transaction: level %d, want %d", got, tc.want)
			}
		})
	}
}

// TestDeferredWritesSurviveReopen writes events, claims and completions
// under both marks, interleaved, and finds all of them after a reopen.
func TestDeferredWritesSurviveReopen(t *testing.T) {
	ctx := context.Background()
	bg := store.WithDeferredSync(ctx)
	dir := t.TempDir()
	db, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var ids []int64
	for i := range 10 {
		ev := &store.Event{DedupKey: "k" + string(rune('a'+i)), Channel: store.ChannelOA, Kind: "text", CustomerID: "o1", ReceivedAt: now, OccurredAt: now}
		if _, err := db.AppendEvents(ctx, []*store.Event{ev}); err != nil {
			t.Fatal(err)
		}
		evs, err := db.ClaimEvents(bg, "A", 1, now, time.Minute)
		if err != nil || len(evs) != 1 {
			t.Fatalf("claim: %v %v", evs, err)
		}
		ids = append(ids, evs[0].ID)
	}
	if lost, err := db.CompleteEvents(bg, ids, "A", now); err != nil || len(lost) != 0 {
		t.Fatalf("complete: %v %v", lost, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.OldestUnprocessed(ctx); err == nil {
		t.Fatal("an event is unprocessed after reopening")
	}
	st, err := db.Stats(ctx)
	if err != nil || st.Events != 10 {
		t.Fatalf("stats %+v, %v; want 10 events", st, err)
	}
}
