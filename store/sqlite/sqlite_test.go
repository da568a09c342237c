package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/store/storetest"
)

func openAt(t testing.TB, dir string, opts ...sqlite.Option) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), dir, opts...)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return db
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openAt(t, t.TempDir()) })
}

func TestOpenCreatesDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	db := openAt(t, dir)
	defer db.Close()
	if want := filepath.Join(dir, sqlite.FileName); db.Path() != want {
		t.Errorf("Path = %s, want %s", db.Path(), want)
	}
	if _, err := os.Stat(db.Path()); err != nil {
		t.Errorf("database file: %v", err)
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    []sqlite.Option
		wantErr bool
	}{
		{"Default", nil, false},
		{"Normal", []sqlite.Option{sqlite.WithSynchronous("normal")}, false},
		{"Off", []sqlite.Option{sqlite.WithSynchronous("OFF")}, true},
		{"Pool", []sqlite.Option{sqlite.WithReadConns(1), sqlite.WithBusyTimeout(time.Second)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := sqlite.Open(context.Background(), t.TempDir(), tc.opts...)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Open error = %v, want error: %v", err, tc.wantErr)
			}
			if db != nil {
				db.Close()
			}
		})
	}
}

// TestReopenKeepsData checks that a second Open finds the data and does not
// re-run migrations (which would fail on CREATE TABLE or reset counters).
func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openAt(t, dir)
	if _, err := db.AppendEvents(ctx, []*store.Event{{DedupKey: "k1", Channel: store.ChannelOA, Kind: "text"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetCursor(ctx, "c", "v"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openAt(t, dir)
	defer db.Close()
	st, err := db.Stats(ctx)
	if err != nil || st.Events != 1 {
		t.Fatalf("Stats after reopen = %+v, %v; want 1 event", st, err)
	}
	if v, err := db.GetCursor(ctx, "c"); err != nil || v != "v" {
		t.Fatalf("cursor after reopen = %q, %v", v, err)
	}
	if has, err := db.HasEvent(ctx, "k1"); err != nil || !has {
		t.Fatalf("HasEvent after reopen = %v, %v", has, err)
	}
}

func TestBackup(t *testing.T) {
	ctx := context.Background()
	db := openAt(t, t.TempDir())
	defer db.Close()
	c, err := db.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityOpenID, Value: "o1"}, Name: "备份", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	backupDir := t.TempDir()
	path := filepath.Join(backupDir, sqlite.FileName)
	if err := db.Backup(ctx, path); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	// The live store keeps working, and the snapshot does not see later writes.
	if _, err := db.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityOpenID, Value: "o2"}, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := db.Backup(ctx, path); err == nil {
		t.Error("Backup over an existing file succeeded")
	}
	restored := openAt(t, backupDir)
	defer restored.Close()
	got, err := restored.FindCustomerByID(ctx, c.ID)
	if err != nil || got.Name != "备份" {
		t.Fatalf("restored customer = %+v, %v", got, err)
	}
	if st, err := restored.Stats(ctx); err != nil || st.Customers != 1 {
		t.Fatalf("restored Stats = %+v, %v; want 1 customer", st, err)
	}
}

// TestMarkersMoveOutOfCursors: a database from before the markers table
// keeps its markers, moved out of the cursors at Open.
func TestMarkersMoveOutOfCursors(t *testing.T) {
	dir := t.TempDir()
	storetest.MarkersMovedOnOpen(t, openAt(t, dir), func() store.Store { return openAt(t, dir) })
}

// TestStateMovesOutOfCursors: a database whose handover and inbox state is
// still in cursors (JSON) finds it typed after Open.
func TestStateMovesOutOfCursors(t *testing.T) {
	dir := t.TempDir()
	storetest.StateMovedOnOpen(t, openAt(t, dir), func() store.Store { return openAt(t, dir) })
}
