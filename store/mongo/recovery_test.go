package mongo

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/mongo/mongotest"
)

// These tests build the states a writer leaves behind when it dies between
// two of its non-transactional steps, or that a lost update on FerretDB
// leaves, and check that the next writer repairs them.

var t0 = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

func openInternal(t *testing.T) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := Open(ctx, mongotest.Start(t), mongotest.DBName(t))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestRecovery(t *testing.T) {
	ext := func(v string) store.Identity { return store.Identity{Kind: store.IdentityExternalUserID, Value: v} }
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, db *DB)
	}{
		{"IdentityWithoutCustomer", func(t *testing.T, ctx context.Context, db *DB) {
			// The creator inserted the identity and died before the customer.
			cid := newCustomerID()
			mustDo(t)(db.identities.InsertOne(ctx, &identityDoc{ID: identityKey(ext("wmX")), Kind: store.IdentityExternalUserID, Value: "wmX", CustomerID: cid}))
			if _, err := db.FindCustomerByIdentity(ctx, ext("wmX")); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("FindCustomerByIdentity before repair = %v, want ErrNotFound", err)
			}
			c, err := db.UpsertCustomer(ctx, store.CustomerUpsert{Identity: ext("wmX"), Name: "恢复", Now: t0})
			if err != nil {
				t.Fatal(err)
			}
			if c.ID != cid || c.Name != "恢复" || len(c.Identities) != 1 {
				t.Fatalf("customer = %+v, want %s named 恢复 with its identity", c, cid)
			}
			checkCustomers(t, ctx, db, 1)
		}},
		{"MergeRecordedButNotDone", func(t *testing.T, ctx context.Context, db *DB) {
			a := mustUpsert(t, ctx, db, store.CustomerUpsert{Identity: ext("wmA"), Now: t0})
			b := mustUpsert(t, ctx, db, store.CustomerUpsert{Identity: ext("wmB"), Name: "B", Follow: &store.Follow{StaffID: "s1", AddedAt: t0}, Now: t0.Add(time.Hour)})
			if _, err := db.AppendTimeline(ctx, &store.TimelineEntry{CustomerID: b.ID, SourceKey: "e1", Kind: store.EntryMessage, At: t0}); err != nil {
				t.Fatal(err)
			}
			// The merging writer recorded its decision and died.
			mustDo(t)(db.merges.InsertOne(ctx, &mergeDoc{ID: b.ID, Into: a.ID, At: t0}))
			got, err := db.FindCustomerByIdentity(ctx, ext("wmB"))
			if err != nil || got.ID != a.ID {
				t.Fatalf("FindCustomerByIdentity(wmB) = %v, %v; want survivor %s", got, err, a.ID)
			}
			c := mustUpsert(t, ctx, db, store.CustomerUpsert{Identity: ext("wmB"), Now: t0.Add(2 * time.Hour)})
			if c.ID != a.ID || c.Name != "B" || len(c.Identities) != 2 || len(c.Follows) != 1 {
				t.Fatalf("survivor = %+v; want %s with B's name, identity and follow", c, a.ID)
			}
			if _, err := db.FindCustomerByID(ctx, b.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("merged-away customer still found: %v", err)
			}
			if tl, err := db.FindTimeline(ctx, a.ID, 0, 0); err != nil || len(tl) != 1 {
				t.Errorf("survivor timeline = %d, %v; want 1", len(tl), err)
			}
			checkCustomers(t, ctx, db, 1)
		}},
		{"CompletedButEventStillPending", func(t *testing.T, ctx context.Context, db *DB) {
			id := appendOne(t, ctx, db, "d1")
			claimed, err := db.ClaimEvents(ctx, "A", 1, t0, time.Minute)
			if err != nil || len(claimed) != 1 {
				t.Fatalf("claim = %d, %v", len(claimed), err)
			}
			// A recorded completion and died before updating the event.
			mustDo(t)(db.done.InsertOne(ctx, &doneDoc{ID: doneID(id), Owner: "A", Gen: 1, At: t0}))
			again, err := db.ClaimEvents(ctx, "B", 1, t0.Add(time.Hour), time.Minute)
			if err != nil || len(again) != 0 {
				t.Fatalf("claim of a completed event = %v, %v; want none", again, err)
			}
			if _, err := db.OldestUnprocessed(ctx); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("OldestUnprocessed after repair = %v, want ErrNotFound", err)
			}
			if err := db.CompleteEvent(ctx, id, "A", t0); err != nil {
				t.Errorf("CompleteEvent by the recorded owner = %v, want nil", err)
			}
		}},
		{"ClaimedButEventNotUpdated", func(t *testing.T, ctx context.Context, db *DB) {
			id := appendOne(t, ctx, db, "c1")
			// X won generation 1 and died before writing the event.
			mustDo(t)(db.claims.InsertOne(ctx, &claimDoc{ID: claimID(id, 1), EventID: id, Gen: 1, Owner: "X", FreeAt: t0.Add(time.Minute)}))
			if got, err := db.ClaimEvents(ctx, "B", 1, t0, time.Minute); err != nil || len(got) != 0 {
				t.Fatalf("claim during X's lease = %v, %v; want none", got, err)
			}
			got, err := db.ClaimEvents(ctx, "B", 1, t0.Add(2*time.Minute), time.Minute)
			if err != nil || len(got) != 1 || got[0].Attempts != 2 {
				t.Fatalf("claim after X's lease = %v, %v; want the event at attempt 2", got, err)
			}
			if err := db.CompleteEvent(ctx, id, "X", t0); !errors.Is(err, store.ErrConflict) {
				t.Errorf("CompleteEvent by X = %v, want ErrConflict", err)
			}
			if err := db.CompleteEvent(ctx, id, "B", t0); err != nil {
				t.Errorf("CompleteEvent by B: %v", err)
			}
		}},
		{"LostUpdateRevivesCompletedEvent", func(t *testing.T, ctx context.Context, db *DB) {
			id := appendOne(t, ctx, db, "l1")
			if _, err := db.ClaimEvents(ctx, "A", 1, t0, time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := db.CompleteEvent(ctx, id, "A", t0); err != nil {
				t.Fatal(err)
			}
			// On FerretDB a concurrent whole-document write can undo the
			// completion in the event document.
			mustDo(t)(db.events.UpdateOne(ctx, bson.D{{Key: "_id", Value: eventKey(id)}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "pending", Value: true}, {Key: "free_at", Value: time.Unix(0, 0)}}}}))
			if got, err := db.ClaimEvents(ctx, "B", 1, t0, time.Minute); err != nil || len(got) != 0 {
				t.Fatalf("claim of a completed event = %v, %v; want none", got, err)
			}
			if _, err := db.OldestUnprocessed(ctx); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("OldestUnprocessed after repair = %v, want ErrNotFound", err)
			}
		}},
		{"CounterCollision", func(t *testing.T, ctx context.Context, db *DB) {
			first := []*store.Event{{DedupKey: "k1"}, {DedupKey: "k2"}, {DedupKey: "k3"}}
			if _, err := db.AppendEvents(ctx, first); err != nil {
				t.Fatal(err)
			}
			// A lost $inc on FerretDB hands out IDs that are taken.
			mustDo(t)(db.counters.UpdateOne(ctx, bson.D{{Key: "_id", Value: collEvents}}, bson.D{{Key: "$set", Value: bson.D{{Key: "seq", Value: int64(1)}}}}))
			more := []*store.Event{{DedupKey: "k4"}, {DedupKey: "k2"}, {DedupKey: "k5"}}
			ins, err := db.AppendEvents(ctx, more)
			if err != nil {
				t.Fatal(err)
			}
			if !ins[0] || ins[1] || !ins[2] {
				t.Fatalf("inserted = %v, want [true false true]", ins)
			}
			seen := map[int64]bool{}
			for _, e := range append(first, more[0], more[2]) {
				if e.ID <= 0 || seen[e.ID] {
					t.Fatalf("ID %d reused or unset", e.ID)
				}
				seen[e.ID] = true
			}
			all, err := db.FindEvents(ctx, store.EventFilter{})
			if err != nil || len(all) != 5 {
				t.Fatalf("stored %d events, %v; want 5", len(all), err)
			}
			c := mustUpsert(t, ctx, db, store.CustomerUpsert{Identity: ext("wmT"), Now: t0})
			e1 := &store.TimelineEntry{CustomerID: c.ID, SourceKey: "t1", Kind: store.EntryNote, At: t0}
			if _, err := db.AppendTimeline(ctx, e1); err != nil {
				t.Fatal(err)
			}
			mustDo(t)(db.counters.UpdateOne(ctx, bson.D{{Key: "_id", Value: collTimeline}}, bson.D{{Key: "$set", Value: bson.D{{Key: "seq", Value: int64(0)}}}}))
			e2 := &store.TimelineEntry{CustomerID: c.ID, SourceKey: "t2", Kind: store.EntryNote, At: t0}
			if ok, err := db.AppendTimeline(ctx, e2); err != nil || !ok || e2.ID == e1.ID {
				t.Fatalf("AppendTimeline after collision = %v, %v, ID %d (first %d)", ok, err, e2.ID, e1.ID)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			tc.fn(t, ctx, openInternal(t))
		})
	}
}

// mustDo fails the test if the wrapped driver call returned an error.
func mustDo(t *testing.T) func(any, error) {
	return func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

func mustUpsert(t *testing.T, ctx context.Context, db *DB, u store.CustomerUpsert) *store.Customer {
	t.Helper()
	c, err := db.UpsertCustomer(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func appendOne(t *testing.T, ctx context.Context, db *DB, key string) int64 {
	t.Helper()
	e := &store.Event{DedupKey: key, Channel: store.ChannelWeCom, Kind: "text", ReceivedAt: t0}
	if _, err := db.AppendEvents(ctx, []*store.Event{e}); err != nil {
		t.Fatal(err)
	}
	return e.ID
}

func checkCustomers(t *testing.T, ctx context.Context, db *DB, want int64) {
	t.Helper()
	st, err := db.Stats(ctx)
	if err != nil || st.Customers != want {
		t.Errorf("Stats = %+v, %v; want %d customers", st, err, want)
	}
}
