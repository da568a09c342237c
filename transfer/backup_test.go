package transfer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
)

// TestBackupDuringWriteLoad takes a snapshot while goroutines append events
// through the store, restores it into a new directory and checks that the
// restored store passes the integrity checks and holds every event whose
// AppendEvents returned before the backup started.
func TestBackupDuringWriteLoad(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seedStaff(t, db)
	seedHard(t, db)

	var (
		mu    sync.Mutex
		acked []string
		stop  = make(chan struct{})
		wg    sync.WaitGroup
		werr  error
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var evs []*store.Event
				for j := 0; j <= i%4; j++ {
					now := time.Now().UTC()
					evs = append(evs, &store.Event{DedupKey: fmt.Sprintf("load-%d-%d-%d", w, i, j), Channel: store.ChannelWeCom,
						Kind: "text", FromID: "u", Text: "消息内容", Raw: []byte("<xml/>"), OccurredAt: now, ReceivedAt: now})
				}
				if _, err := db.AppendEvents(ctx, evs); err != nil {
					mu.Lock()
					werr = err
					mu.Unlock()
					return
				}
				mu.Lock()
				for _, e := range evs {
					acked = append(acked, e.DedupKey)
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()

	out := filepath.Join(t.TempDir(), "scrm-backup.db")
	snap, err := Backup(ctx, dir, out)
	time.Sleep(100 * time.Millisecond) // writes keep landing after the snapshot
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if werr != nil {
		t.Fatalf("writer: %v", werr)
	}
	if len(before) == 0 {
		t.Fatal("no event was acknowledged before the backup")
	}
	if got := snap.Tables["events"]; got < int64(len(before)) {
		t.Errorf("snapshot has %d events, %d were acknowledged before it", got, len(before))
	}
	if len(acked) <= len(before) {
		t.Errorf("the load did not go on during the backup (%d then %d events)", len(before), len(acked))
	}
	t.Logf("%d events acknowledged before the backup, %d in the snapshot, %d written in all", len(before), snap.Tables["events"], len(acked))

	target := filepath.Join(t.TempDir(), "restored")
	res, err := Restore(ctx, out, target, false)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if res.Restored.Tables["customers"] != snap.Tables["customers"] || res.Restored.Tables["events"] != snap.Tables["events"] {
		t.Errorf("restored counts %v, snapshot %v", res.Restored.Tables, snap.Tables)
	}
	rdb, err := sqlite.Open(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	for _, k := range before {
		ok, err := rdb.HasEvent(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Fatalf("event %s was acknowledged before the backup but is not in the restored store", k)
		}
	}
	orig, restored := allCustomers(t, db), allCustomers(t, rdb)
	if len(orig) != len(restored) || len(restored) == 0 {
		t.Fatalf("restored %d customers, the store has %d", len(restored), len(orig))
	}
	for i := range orig {
		if orig[i].ID != restored[i].ID || orig[i].Name != restored[i].Name || len(orig[i].Identities) != len(restored[i].Identities) {
			t.Errorf("customer %d differs after restore: %+v vs %+v", i, orig[i], restored[i])
		}
	}
	// The restored store works: it takes writes.
	if _, err := rdb.AppendEvents(ctx, []*store.Event{{DedupKey: "after-restore", Channel: store.ChannelOA, Kind: "text",
		OccurredAt: time.Now(), ReceivedAt: time.Now()}}); err != nil {
		t.Errorf("append to the restored store: %v", err)
	}
}

// makeBackup returns a snapshot of a small store.
func makeBackup(t *testing.T) string {
	t.Helper()
	ctx := testContext(t)
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	seedStaff(t, db)
	seedHard(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "b.db")
	if _, err := Backup(ctx, dir, out); err != nil {
		t.Fatalf("backup: %v", err)
	}
	return out
}

func TestRestoreChecks(t *testing.T) {
	ctx := testContext(t)
	good := makeBackup(t)

	t.Run("refuses a non-empty data dir", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Restore(ctx, good, dir, false); !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("err = %v, want ErrNotEmpty", err)
		}
		if _, err := os.Stat(filepath.Join(dir, sqlite.FileName)); err == nil {
			t.Error("a refused restore wrote the store")
		}
	})
	t.Run("force moves the current store aside", func(t *testing.T) {
		dir := t.TempDir()
		db, err := sqlite.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: "openid", Value: "o-old"}, Name: "旧数据"}); err != nil {
			t.Fatal(err)
		}
		db.Close()
		res, err := Restore(ctx, good, dir, true)
		if err != nil {
			t.Fatalf("restore --force: %v", err)
		}
		if res.MovedAside == "" {
			t.Fatal("the old store was not moved aside")
		}
		old, err := Verify(ctx, filepath.Join(res.MovedAside, sqlite.FileName))
		if err != nil || old.Tables["customers"] != 1 {
			t.Errorf("moved-aside store: %v, %v", old, err)
		}
		db, err = sqlite.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.FindCustomerByIdentity(ctx, store.Identity{Kind: "openid", Value: "o-old"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the old store's customer is still there: %v", err)
		}
		if n := len(allCustomers(t, db)); int64(n) != res.Snapshot.Tables["customers"] {
			t.Errorf("%d customers after restore, snapshot has %d", n, res.Snapshot.Tables["customers"])
		}
	})
	t.Run("rejects a corrupt snapshot", func(t *testing.T) {
		data, err := os.ReadFile(good)
		if err != nil {
			t.Fatal(err)
		}
		// Overwrite the middle of the file: b-tree pages, not the header.
		for i := len(data) / 2; i < len(data)/2+8192 && i < len(data); i++ {
			data[i] = 0x5a
		}
		bad := filepath.Join(t.TempDir(), "bad.db")
		if err := os.WriteFile(bad, data, 0o600); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "d")
		_, err = Restore(ctx, bad, dir, false)
		if err == nil || !strings.Contains(err.Error(), "integrity") && !strings.Contains(err.Error(), "malformed") {
			t.Fatalf("err = %v, want an integrity failure", err)
		}
		if _, err := os.Stat(filepath.Join(dir, sqlite.FileName)); err == nil {
			t.Error("a rejected snapshot was copied into the data dir")
		}
	})
	t.Run("rejects a file that is not a database", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "x.db")
		if err := os.WriteFile(bad, []byte(strings.Repeat("not sqlite ", 100)), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Restore(ctx, bad, filepath.Join(t.TempDir(), "d"), false); err == nil {
			t.Fatal("garbage was restored")
		}
	})
	t.Run("rejects a snapshot from a newer scrm", func(t *testing.T) {
		data, err := os.ReadFile(good)
		if err != nil {
			t.Fatal(err)
		}
		newer := filepath.Join(t.TempDir(), "newer.db")
		if err := os.WriteFile(newer, data, 0o600); err != nil {
			t.Fatal(err)
		}
		raw, err := sql.Open("sqlite", "file:"+newer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`); err != nil {
			t.Fatal(err)
		}
		raw.Close()
		_, err = Restore(ctx, newer, filepath.Join(t.TempDir(), "d"), false)
		if err == nil || !strings.Contains(err.Error(), "9999") {
			t.Fatalf("err = %v, want a refusal naming schema 9999", err)
		}
	})
	t.Run("backup refuses to overwrite", func(t *testing.T) {
		if _, err := Backup(context.Background(), filepath.Dir(good), good); err == nil {
			t.Error("backup overwrote an existing file")
		}
	})
	t.Run("backup of a missing store", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := Backup(ctx, dir, filepath.Join(dir, "x.db")); err == nil {
			t.Error("backup of an empty directory succeeded")
		}
		if _, err := os.Stat(filepath.Join(dir, sqlite.FileName)); err == nil {
			t.Error("backup created a store in an empty directory")
		}
	})
}

// TestBackupPrivateAndClean: a backup is readable by its owner only, leaves
// nothing of its own beside it whether it succeeds or fails, and removes
// what killed runs left (an earlier version's ".partial-<nanos>" copy and
// journal, a dead process's partial directory) but not the partial of a
// backup still running.
func TestBackupPrivateAndClean(t *testing.T) {
	ctx := testContext(t)
	dataDir := t.TempDir()
	db, err := sqlite.Open(ctx, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	seedStaff(t, db)
	db.Close()
	outDir := t.TempDir()
	stale := []string{"old.db.partial-1732000000000000000", "old.db.partial-1732000000000000000-journal", "b.db.partial-999999999-1"}
	for _, name := range stale[:2] {
		if err := os.WriteFile(filepath.Join(outDir, name), []byte("customers"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(outDir, stale[2]), 0o700); err != nil {
		t.Fatal(err)
	}
	live := fmt.Sprintf("b.db.partial-%d-1", os.Getppid()) // the go command, alive while the test runs
	keep := []string{live, "notes.partial-draft"}
	for _, name := range keep {
		if err := os.WriteFile(filepath.Join(outDir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(outDir, "b.db")
	if _, err := Backup(ctx, dataDir, out); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("backup mode %o, want 600", mode)
	}
	left := func() []string {
		entries, _ := os.ReadDir(outDir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		slices.Sort(names)
		return names
	}
	want := append([]string{"b.db"}, keep...)
	slices.Sort(want)
	if got := left(); !slices.Equal(got, want) {
		t.Errorf("backup directory holds %q, want %q", got, want)
	}
	// A failing backup (cancelled) removes its own partial too.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Backup(cctx, dataDir, filepath.Join(outDir, "c.db")); err == nil {
		t.Fatal("a cancelled backup succeeded")
	}
	if got := left(); !slices.Equal(got, want) {
		t.Errorf("after a failed backup the directory holds %q, want %q", got, want)
	}
}

// TestRestoreRefusesForeignSchema: a snapshot whose schema differs from
// the one its version should have — an extra trigger that empties the
// audit log, an extra view, a changed index — is refused before anything
// is copied, naming what differs.
func TestRestoreRefusesForeignSchema(t *testing.T) {
	ctx := testContext(t)
	good := makeBackup(t)
	tests := []struct{ name, ddl, want string }{
		{"trigger", `CREATE TRIGGER wipe_audit AFTER INSERT ON customers BEGIN DELETE FROM audit; END`, "extra trigger wipe_audit"},
		{"view", `CREATE VIEW everyone AS SELECT * FROM customers`, "extra view everyone"},
		{"dropped index", "", "missing index"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(good)
			if err != nil {
				t.Fatal(err)
			}
			bad := filepath.Join(t.TempDir(), "bad.db")
			if err := os.WriteFile(bad, data, 0o600); err != nil {
				t.Fatal(err)
			}
			raw, err := sql.Open("sqlite", "file:"+bad)
			if err != nil {
				t.Fatal(err)
			}
			ddl := tc.ddl
			if ddl == "" {
				var idx string
				if err := raw.QueryRowContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name LIMIT 1`).Scan(&idx); err != nil {
					t.Fatal(err)
				}
				ddl = `DROP INDEX "` + idx + `"`
			}
			if _, err := raw.ExecContext(ctx, ddl); err != nil {
				t.Fatal(err)
			}
			raw.Close()
			dir := filepath.Join(t.TempDir(), "d")
			_, err = Restore(ctx, bad, dir, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a refusal naming %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, sqlite.FileName)); err == nil {
				t.Error("the snapshot was copied into the data dir")
			}
		})
	}
}
