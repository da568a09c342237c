package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/scrmhq/scrm/store"
)

// ScheduleJob creates or re-arms job key. The lease is left alone: a running
// job finishes, and its CompleteJob sees the new version.
func (db *DB) ScheduleJob(ctx context.Context, key, kind, payload string, dueAt time.Time) error {
	if key == "" || kind == "" {
		return fmt.Errorf("sqlite: schedule job %q: key and kind are required: %w", key, store.ErrInvalid)
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO jobs (key, kind, payload, due_at, version) VALUES (?, ?, ?, ?, 1)
		ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, payload = excluded.payload, due_at = excluded.due_at,
			version = version + 1`, key, kind, payload, nanos(dueAt))
	if err != nil {
		return fmt.Errorf("sqlite: schedule job %s: %w", key, err)
	}
	return nil
}

// ClaimJobs leases due jobs of kind in one UPDATE on the single writer
// connection, so two owners can never take the same one.
func (db *DB) ClaimJobs(ctx context.Context, kind, owner string, now time.Time, lease time.Duration, limit int) ([]*store.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	n := now.UnixNano()
	rows, err := db.w.QueryContext(ctx, `UPDATE jobs SET lease_owner = ?, lease_until = ?, attempts = attempts + 1
		WHERE key IN (
			SELECT key FROM jobs WHERE kind = ? AND due_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
			ORDER BY due_at LIMIT ?)
		RETURNING key, kind, payload, due_at, version, attempts, last_error`,
		owner, now.Add(lease).UnixNano(), kind, n, n, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim %s jobs: %w", kind, err)
	}
	defer rows.Close()
	var out []*store.Job
	for rows.Next() {
		var j store.Job
		var due int64
		if err := rows.Scan(&j.Key, &j.Kind, &j.Payload, &due, &j.Version, &j.Attempts, &j.LastError); err != nil {
			return nil, fmt.Errorf("sqlite: claim %s jobs: %w", kind, err)
		}
		j.DueAt = fromNanos(due)
		out = append(out, &j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: claim %s jobs: %w", kind, err)
	}
	slices.SortFunc(out, func(a, b *store.Job) int { return cmp.Or(a.DueAt.Compare(b.DueAt), cmp.Compare(a.Key, b.Key)) })
	return out, nil
}

// CompleteJob deletes the job if nobody re-armed it since the claim, or
// releases it (attempts reset: the run succeeded) if somebody did.
func (db *DB) CompleteJob(ctx context.Context, key string, version int64, owner string) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		held, err := jobHeld(ctx, tx, key, owner)
		if err != nil || !held {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE key = ? AND version = ?`, key, version); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE jobs SET lease_owner = NULL, lease_until = NULL, attempts = 0, last_error = ''
			WHERE key = ?`, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: complete job %s: %w", key, err)
	}
	return nil
}

// FailJob releases owner's lease; lease_until then holds the retry time,
// which a re-arm does not shorten (an outage is not over because a new
// message came in).
func (db *DB) FailJob(ctx context.Context, key, owner, errText string, retryAt time.Time) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := jobHeld(ctx, tx, key, owner); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET lease_owner = NULL, lease_until = ?, last_error = ? WHERE key = ?`,
			nanos(retryAt), errText, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: fail job %s: %w", key, err)
	}
	return nil
}

// jobHeld returns ErrNotFound if there is no job key and ErrConflict if
// owner does not hold its lease.
func jobHeld(ctx context.Context, tx *sql.Tx, key, owner string) (bool, error) {
	var leaseOwner sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT lease_owner FROM jobs WHERE key = ?`, key).Scan(&leaseOwner)
	if err != nil {
		return false, errNoRow(err)
	}
	if leaseOwner.String != owner || owner == "" {
		return false, fmt.Errorf("lease not held by %s: %w", owner, store.ErrConflict)
	}
	return true, nil
}

// CountJobs counts pending jobs (running ones included).
func (db *DB) CountJobs(ctx context.Context, kind string) (int64, error) {
	q, args := `SELECT COUNT(*) FROM jobs`, []any{}
	if kind != "" {
		q, args = q+` WHERE kind = ?`, append(args, kind)
	}
	var n int64
	if err := db.r.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count jobs: %w", err)
	}
	return n, nil
}
