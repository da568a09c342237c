package mongo_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/mongo"
	"github.com/scrmhq/scrm/store/mongo/mongotest"
)

// Pinned command counts of the event log's hot path, whatever the batch size.
// A change that makes any of them grow with the batch, or grow at all, fails
// here; lower them when you make an operation cheaper.
const (
	appendCommands   = 2 // counters findAndModify, events insert
	claimCommands    = 6 // candidates, claims, claims insert, done, events find, events update
	completeCommands = 5 // done find, claims find, done insert, events update, claims delete
)

// TestEventLogCommandsPerBatch counts the commands the driver sends to
// append, claim and complete 1 and 100 events: each operation costs the same
// constant number for either batch.
func TestEventLogCommandsPerBatch(t *testing.T) {
	ctx := context.Background()
	cmds := mongotest.NewCommands()
	db, err := mongo.Open(ctx, mongotest.Start(t), mongotest.DBName(t), mongo.WithMonitor(cmds.Monitor()))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	seq := 0
	for _, n := range []int{1, 100} {
		evs := make([]*store.Event, n)
		for i := range evs {
			seq++
			evs[i] = &store.Event{DedupKey: fmt.Sprint("cost:", seq), Channel: store.ChannelOA, Kind: "text",
				FromID: "o1", CustomerID: fmt.Sprint("o", seq), Text: "你好", OccurredAt: now, ReceivedAt: now}
		}
		cmds.Reset()
		if _, err := db.AppendEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		if got := cmds.Total(); got != appendCommands {
			t.Errorf("AppendEvents of %d: %d commands (%s), want %d", n, got, cmds, appendCommands)
		}
		t.Logf("AppendEvents of %d: %s", n, cmds)

		cmds.Reset()
		claimed, err := db.ClaimEvents(ctx, "me", n, now, time.Minute)
		if err != nil || len(claimed) != n {
			t.Fatalf("claim %d: %d claimed, err %v", n, len(claimed), err)
		}
		if got := cmds.Total(); got != claimCommands {
			t.Errorf("ClaimEvents of %d: %d commands (%s), want %d", n, got, cmds, claimCommands)
		}
		t.Logf("ClaimEvents of %d: %s", n, cmds)

		ids := make([]int64, n)
		for i, e := range claimed {
			ids[i] = e.ID
		}
		cmds.Reset()
		if lost, err := db.CompleteEvents(ctx, ids, "me", now); err != nil || len(lost) != 0 {
			t.Fatalf("complete %d: lost %v, err %v", n, lost, err)
		}
		if got := cmds.Total(); got != completeCommands {
			t.Errorf("CompleteEvents of %d: %d commands (%s), want %d", n, got, cmds, completeCommands)
		}
		t.Logf("CompleteEvents of %d: %s", n, cmds)
	}
}
