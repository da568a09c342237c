package transfer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/scrmhq/scrm/store/sqlite" // also registers the "sqlite" driver used below
)

// ErrNotEmpty is returned by Restore when the data directory already holds
// a store and force was not given.
var ErrNotEmpty = errors.New("transfer: data directory is not empty")

// Snapshot describes a verified SQLite database file.
type Snapshot struct {
	Path          string           `json:"path"`
	Size          int64            `json:"size"`
	SchemaVersion int              `json:"schema_version"` // highest applied migration
	Tables        map[string]int64 `json:"tables"`         // rows per table
}

// Backup writes a consistent snapshot of the embedded store in dataDir to
// out while the server keeps running: SQLite's VACUUM INTO reads one
// transaction's view of the database (WAL lets it run beside the server's
// writer), so every write committed before Backup is called is in the
// snapshot. The snapshot is written next to out under a temporary name,
// verified (integrity check, schema version) and only then renamed to out,
// so out is never a partial file. out must not exist.
func Backup(ctx context.Context, dataDir, out string) (*Snapshot, error) {
	src := filepath.Join(dataDir, sqlite.FileName)
	if _, err := os.Stat(src); err != nil {
		return nil, fmt.Errorf("transfer: backup: no embedded store in %s: %w", dataDir, err)
	}
	if _, err := os.Stat(out); err == nil {
		return nil, fmt.Errorf("transfer: backup: %s already exists", out)
	}
	removeStalePartials(out)
	db, err := sqlite.Open(ctx, dataDir)
	if err != nil {
		return nil, fmt.Errorf("transfer: backup: %w", err)
	}
	defer db.Close()
	// The snapshot is written inside a directory only this user may enter:
	// VACUUM INTO creates its file (and journal) readable by all, and the
	// snapshot holds every customer. The directory, with whatever SQLite
	// left in it, goes on every path; a killed run's is removed by the next
	// backup.
	part := fmt.Sprintf("%s.partial-%d-%d", out, os.Getpid(), time.Now().UnixNano())
	if err := os.Mkdir(part, 0o700); err != nil {
		return nil, fmt.Errorf("transfer: backup: %w", err)
	}
	defer os.RemoveAll(part)
	tmp := filepath.Join(part, filepath.Base(out))
	if err := db.Backup(ctx, tmp); err != nil {
		return nil, fmt.Errorf("transfer: backup: %w", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return nil, fmt.Errorf("transfer: backup: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return nil, fmt.Errorf("transfer: backup: %w", err)
	}
	snap, err := Verify(ctx, tmp)
	if err != nil {
		return nil, fmt.Errorf("transfer: backup: the snapshot failed verification: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, fmt.Errorf("transfer: backup: %w", err)
	}
	if err := syncDir(filepath.Dir(out)); err != nil {
		return nil, fmt.Errorf("transfer: backup: %w", err)
	}
	snap.Path = out
	return snap, nil
}

// removeStalePartials removes what killed backups to out's directory left:
// "<name>.partial-<pid>-<nanos>" directories of processes that are gone,
// and the "<name>.partial-<nanos>" files (and their -journal) that earlier
// versions wrote. A partial of a backup still running is left alone.
func removeStalePartials(out string) {
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "*.partial-*"))
	for _, m := range matches {
		base := filepath.Base(m)
		parts := strings.Split(base[strings.LastIndex(base, ".partial-")+len(".partial-"):], "-")
		if !allDigits(parts[0]) {
			continue // not ours
		}
		switch {
		case len(parts) == 1: // an earlier version's snapshot
		case len(parts) == 2 && slices.Contains([]string{"journal", "wal", "shm"}, parts[1]): // and its journal
		case len(parts) == 2 && allDigits(parts[1]): // pid-nanos
			if pid, err := strconv.Atoi(parts[0]); err == nil && pid != os.Getpid() && processAlive(pid) {
				continue // a backup still running
			}
		default:
			continue
		}
		_ = os.RemoveAll(m)
	}
}

func allDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// processAlive reports whether a process with this ID exists (signal 0
// checks without signalling).
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscall.Signal(0)) == nil
}

// Verify opens a database file read-only and checks it: PRAGMA
// integrity_check and foreign_key_check must pass and schema_migrations
// must name its version. It returns the row count of every table.
func Verify(ctx context.Context, path string) (*Snapshot, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("transfer: verify: %w", err)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("transfer: verify %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	var problems []string
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return nil, fmt.Errorf("transfer: verify %s: integrity check: %w", path, err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return nil, fmt.Errorf("transfer: verify %s: %w", path, err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("transfer: verify %s: integrity check: %w", path, err)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("transfer: verify %s: integrity check failed: %s", path, strings.Join(problems, "; "))
	}
	var fkTable string
	var fkRow sql.NullInt64
	var fkParent string
	var fkID int64
	switch err := db.QueryRowContext(ctx, `PRAGMA foreign_key_check`).Scan(&fkTable, &fkRow, &fkParent, &fkID); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("transfer: verify %s: foreign key check: %w", path, err)
	default:
		return nil, fmt.Errorf("transfer: verify %s: foreign key check failed: a row of %s points at a missing %s", path, fkTable, fkParent)
	}

	snap := &Snapshot{Path: path, Size: st.Size(), Tables: map[string]int64{}}
	var version sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&version); err != nil || !version.Valid {
		return nil, fmt.Errorf("transfer: verify %s: not an scrm database (no schema version): %v", path, err)
	}
	snap.SchemaVersion = int(version.Int64)
	var tables []string
	trows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("transfer: verify %s: list tables: %w", path, err)
	}
	for trows.Next() {
		var name string
		if err := trows.Scan(&name); err != nil {
			trows.Close()
			return nil, fmt.Errorf("transfer: verify %s: %w", path, err)
		}
		tables = append(tables, name)
	}
	if err := errors.Join(trows.Err(), trows.Close()); err != nil {
		return nil, fmt.Errorf("transfer: verify %s: list tables: %w", path, err)
	}
	for _, t := range tables {
		var n int64
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM "`+strings.ReplaceAll(t, `"`, `""`)+`"`).Scan(&n); err != nil {
			return nil, fmt.Errorf("transfer: verify %s: count %s: %w", path, t, err)
		}
		snap.Tables[t] = n
	}
	return snap, nil
}

// RestoreResult says what Restore did.
type RestoreResult struct {
	Snapshot *Snapshot `json:"snapshot"` // the file restored from
	Restored *Snapshot `json:"restored"` // the store as restored (after any migrations)
	// MovedAside is where the store that was in the data directory went
	// (with force), "" if there was none.
	MovedAside string `json:"moved_aside,omitempty"`
}

// Restore replaces the embedded store in dataDir with the snapshot from.
// It verifies the snapshot first and refuses one written by a newer scrm
// (a higher schema version than this binary knows). It refuses a data
// directory that holds anything unless force, and even then moves the old
// store aside rather than deleting it. After copying it opens the restored
// store (applying this binary's newer migrations), verifies it again and
// compares the row count of every table with the snapshot's: a restore
// that does not match is an error. The server must be stopped.
func Restore(ctx context.Context, from, dataDir string, force bool) (*RestoreResult, error) {
	snap, err := Verify(ctx, from)
	if err != nil {
		return nil, fmt.Errorf("transfer: restore: %w", err)
	}
	known, want, err := expectedSchema(ctx)
	if err != nil {
		return nil, fmt.Errorf("transfer: restore: %w", err)
	}
	if snap.SchemaVersion > known {
		return nil, fmt.Errorf("transfer: restore: %s has schema version %d, newer than this scrm knows (%d): restore it with a newer scrm",
			from, snap.SchemaVersion, known)
	}
	if err := checkSchema(ctx, from, snap.SchemaVersion, known, want); err != nil {
		return nil, fmt.Errorf("transfer: restore: %w", err)
	}
	res := &RestoreResult{Snapshot: snap}
	entries, err := os.ReadDir(dataDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dataDir, 0o750); err != nil {
			return nil, fmt.Errorf("transfer: restore: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("transfer: restore: %w", err)
	case len(entries) > 0 && !force:
		return nil, fmt.Errorf("%w: %s holds %d entries; pass --force to move the current store aside and restore", ErrNotEmpty, dataDir, len(entries))
	case len(entries) > 0:
		aside := filepath.Join(dataDir, "before-restore-"+time.Now().UTC().Format("20060102T150405Z"))
		moved := false
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			name := filepath.Join(dataDir, sqlite.FileName+suffix)
			if _, err := os.Stat(name); err != nil {
				continue
			}
			if err := os.MkdirAll(aside, 0o750); err != nil {
				return nil, fmt.Errorf("transfer: restore: %w", err)
			}
			if err := os.Rename(name, filepath.Join(aside, sqlite.FileName+suffix)); err != nil {
				return nil, fmt.Errorf("transfer: restore: move the current store aside: %w", err)
			}
			moved = true
		}
		if moved {
			res.MovedAside = aside
		}
	}
	dst := filepath.Join(dataDir, sqlite.FileName)
	tmp := dst + ".restoring"
	if err := copyFile(from, tmp); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("transfer: restore: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("transfer: restore: %w", err)
	}
	if err := syncDir(dataDir); err != nil {
		return nil, fmt.Errorf("transfer: restore: %w", err)
	}
	db, err := sqlite.Open(ctx, dataDir)
	if err != nil {
		return nil, fmt.Errorf("transfer: restore: open the restored store: %w", err)
	}
	if err := errors.Join(db.Ping(ctx), db.Close()); err != nil {
		return nil, fmt.Errorf("transfer: restore: open the restored store: %w", err)
	}
	if res.Restored, err = Verify(ctx, dst); err != nil {
		return nil, fmt.Errorf("transfer: restore: the restored store failed verification: %w", err)
	}
	if err := compareCounts(snap, res.Restored); err != nil {
		return nil, fmt.Errorf("transfer: restore: %w", err)
	}
	return res, nil
}

// compareCounts checks that every table of the snapshot has as many rows
// in the restored store. Migrations applied on opening may add tables and
// schema_migrations rows, nothing else.
func compareCounts(snap, restored *Snapshot) error {
	var diffs []string
	for _, t := range slices.Sorted(maps.Keys(snap.Tables)) {
		if t == "schema_migrations" && restored.SchemaVersion > snap.SchemaVersion {
			continue
		}
		if got, want := restored.Tables[t], snap.Tables[t]; got != want {
			diffs = append(diffs, fmt.Sprintf("%s: %d rows, snapshot has %d", t, got, want))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("restored store differs from the snapshot: %s", strings.Join(diffs, "; "))
	}
	return nil
}

// expectedSchema is the schema version this binary creates and the schema
// itself (see readSchema), read from a throwaway store (the migrations are
// the store's own business).
func expectedSchema(ctx context.Context) (int, map[string]string, error) {
	dir, err := os.MkdirTemp("", "scrm-schema-")
	if err != nil {
		return 0, nil, err
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(ctx, dir, sqlite.WithSynchronous("NORMAL"))
	if err != nil {
		return 0, nil, fmt.Errorf("schema version: %w", err)
	}
	if err := db.Close(); err != nil {
		return 0, nil, fmt.Errorf("schema version: %w", err)
	}
	path := filepath.Join(dir, sqlite.FileName)
	snap, err := Verify(ctx, path)
	if err != nil {
		return 0, nil, fmt.Errorf("schema version: %w", err)
	}
	schema, err := readSchema(ctx, path)
	if err != nil {
		return 0, nil, fmt.Errorf("schema: %w", err)
	}
	return snap.SchemaVersion, schema, nil
}

// checkSchema compares the schema of the snapshot at path, of the given
// version, with want, this binary's schema: any table, index, trigger or
// view that is extra, missing or defined differently is refused, since a
// snapshot is data, and a trigger in it (one that empties the audit log,
// say) would run inside the server. A snapshot of an older version is
// compared after this binary's migrations have brought a throwaway copy of
// it up to date, which is what the restored store will go through.
func checkSchema(ctx context.Context, path string, version, known int, want map[string]string) error {
	if version < known {
		dir, err := os.MkdirTemp("", "scrm-schema-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if err := copyFile(path, filepath.Join(dir, sqlite.FileName)); err != nil {
			return fmt.Errorf("schema check: %w", err)
		}
		db, err := sqlite.Open(ctx, dir, sqlite.WithSynchronous("OFF"))
		if err != nil {
			return fmt.Errorf("schema check: migrate a copy of %s: %w", path, err)
		}
		if err := db.Close(); err != nil {
			return fmt.Errorf("schema check: %w", err)
		}
		path = filepath.Join(dir, sqlite.FileName)
	}
	got, err := readSchema(ctx, path)
	if err != nil {
		return fmt.Errorf("schema check: %w", err)
	}
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(got)) {
		switch w, ok := want[k]; {
		case !ok:
			diffs = append(diffs, "extra "+k)
		case w != got[k]:
			diffs = append(diffs, "different "+k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if _, ok := got[k]; !ok {
			diffs = append(diffs, "missing "+k)
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%s does not have the schema of scrm's schema version %d (%s); refusing to restore it", path, version, strings.Join(diffs, "; "))
	}
	return nil
}

// readSchema reads a database's sqlite_master as "type name" → SQL, leaving
// out what SQLite makes by itself: the sqlite_sequence and sqlite_stat
// tables and the indexes behind UNIQUE and PRIMARY KEY constraints (which
// have no SQL).
func readSchema(ctx context.Context, path string) (map[string]string, error) {
	q := url.Values{}
	q.Set("mode", "ro")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT type, name, sql FROM sqlite_master`)
	if err != nil {
		return nil, fmt.Errorf("read the schema of %s: %w", path, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var typ, name string
		var text sql.NullString
		if err := rows.Scan(&typ, &name, &text); err != nil {
			return nil, err
		}
		if typ == "table" && (name == "sqlite_sequence" || strings.HasPrefix(name, "sqlite_stat")) ||
			typ == "index" && !text.Valid && strings.HasPrefix(name, "sqlite_autoindex_") {
			continue
		}
		out[typ+" "+name] = text.String
	}
	return out, rows.Err()
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
