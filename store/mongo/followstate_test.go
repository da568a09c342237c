package mongo_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/mongo"
	"github.com/scrmhq/scrm/store/mongo/mongotest"
)

// TestFollowStateBackfill: a database from before the follows carried
// their customer's stage and waiting state gets them at Open, once, so the
// console's counts are right from the first read.
func TestFollowStateBackfill(t *testing.T) {
	ctx := context.Background()
	uri, name := mongotest.Start(t), mongotest.DBName(t)
	open := func() *mongo.DB {
		db, err := mongo.Open(ctx, uri, name)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return db
	}
	db := open()
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	add := func(id, staff, stage string, customerAt, staffAt time.Time) *store.Customer {
		c, err := db.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: id},
			Follow: &store.Follow{StaffID: staff, AddedAt: base}, Stage: stage, CustomerAt: customerAt, StaffAt: staffAt, Now: base})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	waiting := add("wmB1", "s1", store.StageDormant, base.Add(2*time.Hour), base.Add(time.Hour))
	add("wmB2", "s1", store.StageLost, base.Add(time.Hour), base.Add(2*time.Hour))
	add("wmB3", "s2", store.StageDormant, time.Time{}, time.Time{})
	db.Close()

	// Undo the state as a database from before it would be.
	client, err := driver.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	raw := client.Database(name)
	if _, err := raw.Collection("follows").UpdateMany(ctx, bson.D{}, bson.D{{Key: "$unset", Value: bson.D{{Key: "stage", Value: ""}, {Key: "waiting_since", Value: ""}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Collection("cursors").DeleteOne(ctx, bson.D{{Key: "_id", Value: "follow_state:v1"}}); err != nil {
		t.Fatal(err)
	}

	db = open()
	defer db.Close()
	got, err := db.FollowerCounts(ctx, []string{"s1", "s2"}, store.StageDormant)
	if err != nil || !reflect.DeepEqual(got, map[string]int64{"s1": 1, "s2": 1}) {
		t.Errorf("dormant after the backfill = %v, %v", got, err)
	}
	lost, total, err := db.LostCounts(ctx, []string{"s1", "s2"})
	if err != nil || !reflect.DeepEqual(lost, map[string]int64{"s1": 1}) || total != 1 {
		t.Errorf("lost after the backfill = %v, %d, %v", lost, total, err)
	}
	waits, err := db.WaitingFollows(ctx, []string{"s1", "s2"}, base)
	if want := []store.FollowedCustomer{{StaffID: "s1", CustomerID: waiting.ID, Since: base.Add(2 * time.Hour)}}; err != nil || !reflect.DeepEqual(waits, want) {
		t.Errorf("waiting after the backfill = %v, %v; want %v", waits, err, want)
	}
}
