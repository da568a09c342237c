package mongo

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/scrmhq/scrm/store"
)

// These tests build the states an explicit merge or a lease holder leaves
// behind when it dies between two of its steps, and check that the next
// writer copes.
func TestCRMRecovery(t *testing.T) {
	ext := func(v string) store.Identity { return store.Identity{Kind: store.IdentityExternalUserID, Value: v} }
	union := func(v string) store.Identity { return store.Identity{Kind: store.IdentityUnionID, Value: v} }
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, db *DB)
	}{
		{"MergePairDecidedButNotRecorded", func(t *testing.T, ctx context.Context, db *DB) {
			older := mustUpsert(t, ctx, db, store.CustomerUpsert{Identity: ext("wmOld"), Now: t0})
			younger := mustUpsert(t, ctx, db, store.CustomerUpsert{Identity: ext("wmYoung"), Name: "幸存者", Now: t0.Add(time.Hour)})
			// An explicit merge of the older into the younger decided the
			// pair and died before recording the merge.
			mustDo(t)(db.crm.mergePairs.InsertOne(ctx, &mergePairDoc{ID: mergePairID(older.ID, younger.ID), From: older.ID, Into: younger.ID}))
			// A link would merge the other way (younger into older); it
			// must follow the decision instead of fighting it.
			mustUpsert(t, ctx, db, store.CustomerUpsert{Identity: ext("wmOld"), Link: []store.Identity{union("u1")}, Now: t0.Add(2 * time.Hour)})
			c := mustUpsert(t, ctx, db, store.CustomerUpsert{Identity: ext("wmYoung"), Link: []store.Identity{union("u1")}, Now: t0.Add(2 * time.Hour)})
			if c.ID != younger.ID || len(c.Identities) != 3 {
				t.Fatalf("survivor = %+v; want %s with all three identities", c, younger.ID)
			}
			if _, err := db.FindCustomerByID(ctx, older.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("merged-away customer: %v", err)
			}
			checkCustomers(t, ctx, db, 1)
		}},
		{"OppositeExplicitMergeRefused", func(t *testing.T, ctx context.Context, db *DB) {
			a := mustUpsert(t, ctx, db, store.CustomerUpsert{Identity: ext("wmA"), Now: t0})
			b := mustUpsert(t, ctx, db, store.CustomerUpsert{Identity: ext("wmB"), Now: t0})
			mustDo(t)(db.crm.mergePairs.InsertOne(ctx, &mergePairDoc{ID: mergePairID(a.ID, b.ID), From: a.ID, Into: b.ID}))
			if _, err := db.MergeCustomers(ctx, a.ID, b.ID); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("MergeCustomers against a decided pair = %v, want ErrConflict", err)
			}
			// The decided merge was carried out: a went into b.
			if got, err := db.FindCustomerByIdentity(ctx, ext("wmA")); err != nil || got.ID != b.ID {
				t.Errorf("wmA belongs to %v, %v; want %s", got, err, b.ID)
			}
			checkCustomers(t, ctx, db, 1)
		}},
		{"JobLeaseOfDeadWorker", func(t *testing.T, ctx context.Context, db *DB) {
			if err := db.ScheduleJob(ctx, "analyze:c1", "analyze", "p", t0); err != nil {
				t.Fatal(err)
			}
			got, err := db.ClaimJobs(ctx, "analyze", "dead", t0, time.Minute, 1)
			if err != nil || len(got) != 1 {
				t.Fatalf("claim = %v, %v", got, err)
			}
			// A stale claimer re-inserts generation 1 after completion pruned
			// it; it must not count as a lease while generation 2 lives.
			got, err = db.ClaimJobs(ctx, "analyze", "live", t0.Add(time.Minute), time.Hour, 1)
			if err != nil || len(got) != 1 || got[0].Attempts != 2 {
				t.Fatalf("takeover = %+v, %v", got, err)
			}
			if _, err := db.crm.leases.DeleteOne(ctx, bson.D{{Key: "_id", Value: leaseID(jobSubject("analyze:c1"), 1)}}); err != nil {
				t.Fatal(err)
			}
			l, err := db.acquire(ctx, jobSubject("analyze:c1"), 0, true, "stale", 0, t0.Add(time.Minute), t0.Add(time.Hour))
			if err != nil || l != nil {
				t.Fatalf("acquire over a live lease = %+v, %v; want nothing", l, err)
			}
			stale := leaseDoc{ID: leaseID(jobSubject("analyze:c1"), 1), Subject: jobSubject("analyze:c1"), Gen: 1, Owner: "stale", FreeAt: t0.Add(time.Hour)}
			mustDo(t)(db.crm.leases.InsertOne(ctx, &stale))
			if err := db.CompleteJob(ctx, "analyze:c1", got[0].Version, "stale"); !errors.Is(err, store.ErrConflict) {
				t.Errorf("CompleteJob by the holder of a lower generation = %v, want ErrConflict", err)
			}
			if err := db.CompleteJob(ctx, "analyze:c1", got[0].Version, "live"); err != nil {
				t.Fatal(err)
			}
			if n, err := db.CountJobs(ctx, ""); err != nil || n != 0 {
				t.Errorf("CountJobs = %d, %v", n, err)
			}
		}},
		{"JourneyRunTokenWrittenRecordNot", func(t *testing.T, ctx context.Context, db *DB) {
			r := &store.JourneyRun{ID: "r1", JourneyID: "j1", CustomerID: "c1", Occurrence: "o", State: store.RunActive, NextAt: t0, StartedAt: t0}
			if _, err := db.CreateJourneyRun(ctx, r); err != nil {
				t.Fatal(err)
			}
			// A writer won version 2 (its token) and died before setting
			// the run: the run still reads version 1 in the due list.
			next := *r
			next.Version, next.Step, next.Phase, next.NextAt = 2, 1, store.RunCalling, t0.Add(time.Hour)
			d, err := newRunDoc(&next)
			if err != nil {
				t.Fatal(err)
			}
			mustDo(t)(db.coll(collVersions).InsertOne(ctx, &versionToken{ID: versionTokenID(collJourneyRuns, "r1", 2), Coll: collJourneyRuns,
				Record: "r1", Version: 2, Customer: "c1", Set: d.set()}))
			due, err := db.FindDueJourneyRuns(ctx, t0, 10)
			if err != nil || len(due) != 1 || due[0].Version != 1 {
				t.Fatalf("due = %+v, %v; want the run as the record left it", due, err)
			}
			// Claiming what the due list showed conflicts and catches the run up.
			if err := db.UpdateJourneyRun(ctx, due[0], 1); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("claim over the won version = %v, want ErrConflict", err)
			}
			if due, err := db.FindDueJourneyRuns(ctx, t0, 10); err != nil || len(due) != 0 {
				t.Fatalf("due after the catch-up = %+v, %v; want none (next at 09:00)", due, err)
			}
			got, err := db.FindJourneyRunByID(ctx, "r1")
			if err != nil || got.Version != 2 || got.Step != 1 || got.Phase != store.RunCalling {
				t.Fatalf("run = %+v, %v; want version 2 from the token", got, err)
			}
			got.Step = 2
			if err := db.UpdateJourneyRun(ctx, got, 2); err != nil {
				t.Fatal(err)
			}
			// A writer stale by two versions, whose token was pruned, loses.
			stale := *got
			if err := db.UpdateJourneyRun(ctx, &stale, 1); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("stale write = %v, want ErrConflict", err)
			}
			if got, err := db.FindJourneyRunByID(ctx, "r1"); err != nil || got.Version != 3 || got.Step != 2 {
				t.Fatalf("run = %+v, %v; want version 3", got, err)
			}
			if n, err := db.coll(collVersions).CountDocuments(ctx, bson.D{{Key: "record", Value: "r1"}}); err != nil || n != 2 {
				t.Fatalf("%d version tokens kept, want 2 (the latest and the one before)", n)
			}
		}},
		{"CampaignTokenWrittenRecordNot", func(t *testing.T, ctx context.Context, db *DB) {
			c := &store.Campaign{ID: "cp1", Name: "群发", Status: store.CampaignScheduled, CreatedAt: t0}
			if err := db.CreateCampaign(ctx, c); err != nil {
				t.Fatal(err)
			}
			// The campaign job won version 2 and died before setting the
			// campaign record: the list still shows version 1.
			next := *c
			next.Version, next.Status = 2, store.CampaignCreating
			set, err := jsonVersionSet(1, &next)
			if err != nil {
				t.Fatal(err)
			}
			mustDo(t)(db.coll(collVersions).InsertOne(ctx, &versionToken{ID: versionTokenID(collCampaigns, "cp1", 2), Coll: collCampaigns,
				Record: "cp1", Version: 2, Set: set}))
			if list, err := db.FindCampaigns(ctx, 0); err != nil || len(list) != 1 || list[0].Version != 1 {
				t.Fatalf("list = %+v, %v; want the campaign as the record left it", list, err)
			}
			// Reading it by ID catches the record up.
			got, err := db.FindCampaignByID(ctx, "cp1")
			if err != nil || got.Version != 2 || got.Status != store.CampaignCreating {
				t.Fatalf("campaign = %+v, %v; want version 2 from the token", got, err)
			}
			if list, err := db.FindCampaigns(ctx, 0); err != nil || len(list) != 1 || list[0].Version != 2 {
				t.Fatalf("list after the catch-up = %+v, %v; want version 2", list, err)
			}
			// A cancel that read version 1 conflicts (it reads again and
			// reapplies its change over version 2).
			stale := *c
			stale.Status = store.CampaignCancelled
			if err := db.UpdateCampaign(ctx, &stale); !errors.Is(err, store.ErrConflict) || stale.Version != 1 {
				t.Fatalf("cancel over the won version = %v (version %d), want ErrConflict", err, stale.Version)
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
