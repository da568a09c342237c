package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
)

// TestFollowStateBackfill: a database from before migration 0016 gets the
// stage and waiting state of its customers copied onto their follows when
// it is opened, so the console's counts are right from the first read.
func TestFollowStateBackfill(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openAt(t, dir)
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

	// Undo 0016 as a database from before it would be.
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER customer_follows_state`, `DROP TRIGGER customers_follow_state`,
		`DROP INDEX customer_follows_stage`, `DROP INDEX customer_follows_waiting`, `DROP INDEX customers_concern`,
		`ALTER TABLE customer_follows DROP COLUMN stage`, `ALTER TABLE customer_follows DROP COLUMN waiting_since`,
		`DELETE FROM schema_migrations WHERE name = '0016_follow_state.sql'`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	db = openAt(t, dir)
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
