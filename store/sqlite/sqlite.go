// Package sqlite is the embedded store backend: one SQLite file (scrm.db) in
// the data directory, opened through the pure-Go modernc.org/sqlite driver.
//
// Writes go through a single connection, so SQLite's one-writer rule never
// surfaces as SQLITE_BUSY and every write transaction is serialized; reads use
// a separate pool and, thanks to WAL, never wait for writes. Times are stored
// as UTC unix nanoseconds.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the database file inside the data directory.
const FileName = "scrm.db"

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the SQLite store. It implements store.Store.
type DB struct {
	path string
	w    *sql.DB // exactly one connection: all writes
	r    *sql.DB // read pool
}

var _ store.Store = (*DB)(nil)

type options struct {
	synchronous string
	readConns   int
	busyTimeout time.Duration
}

// Option configures Open.
type Option func(*options)

// WithSynchronous sets PRAGMA synchronous: "FULL" (the default: an
// acknowledged write survives power loss) or "NORMAL" (faster; a power loss
// may drop the last transactions, though the file stays consistent).
func WithSynchronous(mode string) Option {
	return func(o *options) { o.synchronous = strings.ToUpper(mode) }
}

// WithReadConns sets the size of the read pool (default: max(4, GOMAXPROCS)).
func WithReadConns(n int) Option {
	return func(o *options) { o.readConns = max(n, 1) }
}

// WithBusyTimeout sets how long a connection waits for a lock (default 10s).
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) { o.busyTimeout = d }
}

// Open opens (creating if needed) dataDir/scrm.db and applies pending
// migrations.
func Open(ctx context.Context, dataDir string, opts ...Option) (*DB, error) {
	o := options{synchronous: "FULL", readConns: max(4, runtime.GOMAXPROCS(0)), busyTimeout: 10 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	switch o.synchronous {
	case "FULL", "NORMAL", "EXTRA":
	default:
		return nil, fmt.Errorf("sqlite: synchronous must be FULL, NORMAL or EXTRA, not %q", o.synchronous)
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create data dir: %w", err)
	}
	path := filepath.Join(dataDir, FileName)
	busy := strconv.FormatInt(o.busyTimeout.Milliseconds(), 10)

	wq := url.Values{}
	wq.Add("_pragma", "busy_timeout("+busy+")")
	wq.Add("_pragma", "journal_mode(WAL)")
	wq.Add("_pragma", "synchronous("+o.synchronous+")")
	wq.Add("_pragma", "foreign_keys(1)")
	// A bigger page cache and memory temp store help the hot write path;
	// the WAL is checkpointed automatically at the default 1000 pages.
	wq.Add("_pragma", "cache_size(-32000)")
	wq.Add("_pragma", "temp_store(MEMORY)")
	// Zero deleted content where that costs no extra I/O, so that edited or
	// deleted words do not linger in a page's free space (an erase turns it
	// fully on for its own transaction).
	wq.Add("_pragma", "secure_delete(FAST)")
	// IMMEDIATE takes the write lock at BEGIN, so a transaction that reads
	// then writes can never fail halfway with SQLITE_BUSY.
	wq.Set("_txlock", "immediate")
	// The registered driver, wrapped so that writes marked with
	// store.WithDeferredSync skip the sync (see syncConnector).
	probe, err := sql.Open("sqlite", "")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	drv := probe.Driver()
	probe.Close()
	w := sql.OpenDB(&syncConnector{drv: drv, dsn: "file:" + path + "?" + wq.Encode(), durable: o.synchronous})
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	db := &DB{path: path, w: w}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := db.moveCursorMarkers(ctx, time.Now()); err != nil {
		w.Close()
		return nil, err
	}
	if err := db.moveCursorState(ctx); err != nil {
		w.Close()
		return nil, err
	}

	rq := url.Values{}
	rq.Add("_pragma", "busy_timeout("+busy+")")
	rq.Add("_pragma", "foreign_keys(1)")
	rq.Add("_pragma", "cache_size(-16000)")
	rq.Add("_pragma", "query_only(1)")
	// Readers keep their prepared statements too (durable "" never
	// switches the synchronous level of these query-only connections).
	r := sql.OpenDB(&syncConnector{drv: drv, dsn: "file:" + path + "?" + rq.Encode()})
	r.SetMaxOpenConns(o.readConns)
	r.SetMaxIdleConns(o.readConns)
	db.r = r
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Ping checks that both pools can reach the file.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping writer: %w", err)
	}
	if err := db.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping reader: %w", err)
	}
	return nil
}

// Close closes both pools. The WAL is checkpointed when the last connection
// closes.
func (db *DB) Close() error {
	var errs []error
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	errs = append(errs, db.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// Backup writes a consistent snapshot of the database to path with VACUUM
// INTO while the store stays online (readers and the writer keep working).
// path must not exist yet.
func (db *DB) Backup(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("sqlite: backup to %s: file exists", path)
	}
	// A read-only connection cannot run VACUUM INTO, and running it on the
	// writer would stall all writes for the duration; a one-off connection
	// reads from its own WAL snapshot instead.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	c, err := sql.Open("sqlite", "file:"+db.path+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("sqlite: backup to %s: %w", path, err)
	}
	return nil
}

// migrate applies the embedded migrations that schema_migrations does not
// list yet, each in its own transaction, in file-name order.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: list migrations: %w", err)
	}
	sort.Strings(names)
	// Read what is applied without the write lock, so opening an up-to-date
	// file (a CLI next to a busy server) never queues for the writer.
	applied := map[int]bool{}
	rows, err := db.w.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("sqlite: read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("sqlite: read schema_migrations: %w", err)
	}
	seen := map[int]string{}
	for _, name := range names {
		base := filepath.Base(name)
		num, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("sqlite: migration %s: name must start with a number and '_'", base)
		}
		// Two branches can each add "the next" migration; were both to
		// keep one number, the second would be taken as applied and
		// silently skipped.
		if other, dup := seen[version]; dup {
			return fmt.Errorf("sqlite: migrations %s and %s share version %d", other, base, version)
		}
		seen[version] = base
		if applied[version] {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("sqlite: read migration %s: %w", base, err)
		}
		err = db.writeTx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				version, base, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: apply migration %s: %w", base, err)
		}
	}
	return nil
}

// writeTx runs fn in a write transaction on the single writer connection.
func (db *DB) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Stats reads the counters maintained by the writing transactions.
func (db *DB) Stats(ctx context.Context) (store.Stats, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT name, n FROM counters`)
	if err != nil {
		return store.Stats{}, fmt.Errorf("sqlite: stats: %w", err)
	}
	defer rows.Close()
	var st store.Stats
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return store.Stats{}, fmt.Errorf("sqlite: stats: %w", err)
		}
		switch name {
		case counterEvents:
			st.Events = n
		case counterMessages:
			st.Messages = n
		case counterCustomers:
			st.Customers = n
		}
	}
	if err := rows.Err(); err != nil {
		return store.Stats{}, fmt.Errorf("sqlite: stats: %w", err)
	}
	return st, nil
}

const (
	counterEvents    = "events"
	counterMessages  = "messages"
	counterCustomers = "customers"
)

func bump(ctx context.Context, tx *sql.Tx, name string, delta int64) error {
	if delta == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE counters SET n = n + ? WHERE name = ?`, delta, name); err != nil {
		return fmt.Errorf("bump counter %s: %w", name, err)
	}
	return nil
}

// GetCursor returns the named cursor, "" if unset.
func (db *DB) GetCursor(ctx context.Context, name string) (string, error) {
	var v string
	err := db.r.QueryRowContext(ctx, `SELECT value FROM cursors WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: get cursor %s: %w", name, err)
	}
	return v, nil
}

// SetCursor stores the named cursor.
func (db *DB) SetCursor(ctx context.Context, name, value string) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO cursors (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	if err != nil {
		return fmt.Errorf("sqlite: set cursor %s: %w", name, err)
	}
	return nil
}

// nanos encodes a time for storage; the zero time is stored as 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// nullNanos encodes an optional time; nil and the zero time become NULL.
func nullNanos(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func fromNullNanos(n sql.NullInt64) *time.Time {
	if !n.Valid || n.Int64 == 0 {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

// placeholders returns "?, ?, ..." for n arguments.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
