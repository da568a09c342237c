package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/scrmhq/scrm/store"
)

// GetMarker returns the value of marker (kind, key), "" if there is none.
func (db *DB) GetMarker(ctx context.Context, kind, key string) (string, error) {
	var v string
	err := db.r.QueryRowContext(ctx, `SELECT value FROM markers WHERE kind = ? AND key = ?`, kind, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: get marker %s: %w", kind, err)
	}
	return v, nil
}

// SetMarker records marker (kind, key) with value; a marker set again keeps
// the time it was first made.
func (db *DB) SetMarker(ctx context.Context, kind, key, value string, at time.Time) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO markers (kind, key, value, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value`, kind, key, value, nanos(at))
	if err != nil {
		return fmt.Errorf("sqlite: set marker %s: %w", kind, err)
	}
	return nil
}

// DeleteMarkers deletes the markers of kind made before before.
func (db *DB) DeleteMarkers(ctx context.Context, kind string, before time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM markers WHERE kind = ? AND created_at < ?`, kind, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete markers %s: %w", kind, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete markers %s: %w", kind, err)
	}
	return n, nil
}

// moveCursorMarkers moves the markers a database made before markers had a
// table of their own, cursors named "<kind>:<key>", into markers, made now:
// each gets its family's full retention from the upgrade on. It runs at
// every Open and finds nothing once done; a crash halfway leaves each
// marker in one of the tables, which the next Open finishes.
func (db *DB) moveCursorMarkers(ctx context.Context, now time.Time) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: move markers: %w", err)
	}
	defer tx.Rollback()
	for _, kind := range store.MarkerKinds {
		// The names "<kind>:…" sort between "<kind>:" and "<kind>;", so the
		// primary key answers the range.
		lo, hi := kind+":", kind+";"
		if _, err := tx.ExecContext(ctx, `INSERT INTO markers (kind, key, value, created_at)
			SELECT ?, substr(name, ?), value, ? FROM cursors WHERE name >= ? AND name < ?
			ON CONFLICT (kind, key) DO NOTHING`, kind, len(lo)+1, nanos(now), lo, hi); err != nil {
			return fmt.Errorf("sqlite: move markers %s: %w", kind, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM cursors WHERE name >= ? AND name < ?`, lo, hi); err != nil {
			return fmt.Errorf("sqlite: move markers %s: %w", kind, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: move markers: %w", err)
	}
	return nil
}

// PruneDone deletes nothing: SQLite keeps an event's claim and completion
// in the event's own row, so finished work leaves no records behind.
func (db *DB) PruneDone(ctx context.Context, before time.Time) (int64, error) { return 0, nil }

// WriteMarkersAndJobs writes ms and js in one write transaction.
func (db *DB) WriteMarkersAndJobs(ctx context.Context, ms []store.MarkerWrite, js []store.JobWrite) error {
	if len(ms) == 0 && len(js) == 0 {
		return nil
	}
	for _, j := range js {
		if j.Key == "" || j.Kind == "" {
			return fmt.Errorf("sqlite: schedule job %q: key and kind are required: %w", j.Key, store.ErrInvalid)
		}
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		for _, m := range ms {
			if _, err := tx.ExecContext(ctx, `INSERT INTO markers (kind, key, value, created_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value`, m.Kind, m.Key, m.Value, nanos(m.At)); err != nil {
				return fmt.Errorf("set marker %s: %w", m.Kind, err)
			}
		}
		for _, j := range js {
			if _, err := tx.ExecContext(ctx, `INSERT INTO jobs (key, kind, payload, due_at, version) VALUES (?, ?, ?, ?, 1)
				ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, payload = excluded.payload, due_at = excluded.due_at,
					version = version + 1`, j.Key, j.Kind, j.Payload, nanos(j.DueAt)); err != nil {
				return fmt.Errorf("schedule job %s: %w", j.Key, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: write markers and jobs: %w", err)
	}
	return nil
}
