package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
)

const reminderColumns = `id, key, customer_id, staff_id, kind, text, due_at, status, sent_at, done_at, attempts, created_at, updated_at, script`

// CreateReminder inserts r unless its key exists. The single writer makes
// concurrent creates of one key end with one row.
func (db *DB) CreateReminder(ctx context.Context, r *store.Reminder) (bool, error) {
	if r.StaffID == "" || r.Kind == "" || r.DueAt.IsZero() {
		return false, fmt.Errorf("sqlite: create reminder: staff, kind and due time are required: %w", store.ErrInvalid)
	}
	status := cmp.Or(r.Status, store.ReminderPending)
	if !store.ValidReminderStatus(status) {
		return false, fmt.Errorf("sqlite: create reminder: status %q: %w", status, store.ErrInvalid)
	}
	now := time.Now()
	created, updated := cmp.Or(r.CreatedAt, now), cmp.Or(r.UpdatedAt, r.CreatedAt, now)
	var key any
	if r.Key != "" {
		key = r.Key
	}
	var (
		id       int64
		cid      int64
		inserted bool
	)
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if r.CustomerID != "" {
			n, ok := parseID(r.CustomerID)
			if !ok {
				return store.ErrNotFound
			}
			var err error
			if cid, err = resolveCustomer(ctx, tx, n); err != nil {
				return err
			}
		}
		var customer any
		if cid != 0 {
			customer = cid
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO reminders (key, customer_id, staff_id, kind, text, due_at, status, sent_at, done_at,
				created_at, updated_at, script)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING RETURNING id`,
			key, customer, r.StaffID, r.Kind, r.Text, r.DueAt.UnixNano(), status, nullNanos(r.SentAt), nullNanos(r.DoneAt),
			created.UnixNano(), updated.UnixNano(), r.Script).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			if err := tx.QueryRowContext(ctx, `SELECT id FROM reminders WHERE key = ?`, r.Key).Scan(&id); err != nil {
				return fmt.Errorf("find existing: %w", err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		inserted = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: create reminder %s: %w", r.Key, err)
	}
	r.ID = id
	if inserted {
		r.Status, r.CreatedAt, r.UpdatedAt = status, created.UTC(), updated.UTC()
		if cid != 0 {
			r.CustomerID = formatID(cid)
		}
	}
	return inserted, nil
}

// FindReminderByID returns ErrNotFound if it does not exist.
func (db *DB) FindReminderByID(ctx context.Context, id int64) (*store.Reminder, error) {
	r, err := findReminder(ctx, db.r, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find reminder %d: %w", id, err)
	}
	return r, nil
}

func findReminder(ctx context.Context, q execer, id int64) (*store.Reminder, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+reminderColumns+` FROM reminders WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	list, err := scanReminders(rows)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, store.ErrNotFound
	}
	return list[0], nil
}

// FindReminders returns matching reminders ordered by DueAt then ID.
func (db *DB) FindReminders(ctx context.Context, f store.ReminderFilter) ([]*store.Reminder, error) {
	where, args := []string{"1 = 1"}, []any{}
	if f.StaffID != "" {
		where = append(where, "staff_id = ?")
		args = append(args, f.StaffID)
	}
	if f.CustomerID != "" {
		n, ok := parseID(f.CustomerID)
		if !ok {
			return nil, nil
		}
		where = append(where, "customer_id = ?")
		args = append(args, n)
	}
	if len(f.Statuses) > 0 {
		where = append(where, "status IN ("+placeholders(len(f.Statuses))+")")
		for _, s := range f.Statuses {
			args = append(args, s)
		}
	}
	if !f.DueBefore.IsZero() {
		where = append(where, "due_at < ?")
		args = append(args, f.DueBefore.UnixNano())
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+reminderColumns+` FROM reminders WHERE `+strings.Join(where, " AND ")+
		` ORDER BY due_at, id LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find reminders: %w", err)
	}
	list, err := scanReminders(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find reminders: %w", err)
	}
	return list, nil
}

// UpdateReminder applies upd. A change of status or due time re-arms the
// reminder and drops any lease, so a push in flight cannot mark it sent.
func (db *DB) UpdateReminder(ctx context.Context, id int64, upd store.ReminderUpdate) (*store.Reminder, error) {
	if upd.Status != nil && !store.ValidReminderStatus(*upd.Status) {
		return nil, fmt.Errorf("sqlite: update reminder %d: status %q: %w", id, *upd.Status, store.ErrInvalid)
	}
	now := upd.Now
	if now.IsZero() {
		now = time.Now()
	}
	var status string
	if upd.Status != nil {
		status = *upd.Status
	}
	var due int64
	if upd.DueAt != nil {
		due = upd.DueAt.UnixNano()
	}
	var r *store.Reminder
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE reminders SET
				status = CASE WHEN ?1 THEN ?2 ELSE status END,
				due_at = CASE WHEN ?3 THEN ?4 ELSE due_at END,
				text = CASE WHEN ?5 THEN ?6 ELSE text END,
				sent_at = CASE WHEN ?1 AND ?2 = 'pending' THEN NULL ELSE sent_at END,
				done_at = CASE WHEN NOT ?1 THEN done_at WHEN ?2 = 'done' THEN COALESCE(done_at, ?7) ELSE NULL END,
				lease_owner = CASE WHEN ?1 OR ?3 THEN NULL ELSE lease_owner END,
				lease_until = CASE WHEN ?1 OR ?3 THEN NULL ELSE lease_until END,
				updated_at = ?7
			WHERE id = ?8`,
			upd.Status != nil, status, upd.DueAt != nil, due, upd.Text != nil, deref(upd.Text), now.UnixNano(), id)
		if err != nil {
			return fmt.Errorf("update: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		r, err = findReminder(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: update reminder %d: %w", id, err)
	}
	return r, nil
}

// ClaimDueReminders leases due reminders in one UPDATE on the single writer
// connection, so two owners can never take the same one.
func (db *DB) ClaimDueReminders(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*store.Reminder, error) {
	if limit <= 0 {
		return nil, nil
	}
	n := now.UnixNano()
	rows, err := db.w.QueryContext(ctx, `UPDATE reminders SET lease_owner = ?, lease_until = ?, attempts = attempts + 1
		WHERE id IN (
			SELECT id FROM reminders
			WHERE status = 'pending' AND due_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
			ORDER BY due_at, id LIMIT ?)
		RETURNING `+reminderColumns, owner, now.Add(lease).UnixNano(), n, n, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim reminders: %w", err)
	}
	list, err := scanReminders(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim reminders: %w", err)
	}
	slices.SortFunc(list, func(a, b *store.Reminder) int {
		return cmp.Or(a.DueAt.Compare(b.DueAt), cmp.Compare(a.ID, b.ID))
	})
	return list, nil
}

// MarkReminderSent records the push if owner still holds the lease. The
// owner stays recorded, which makes a repeated call succeed.
func (db *DB) MarkReminderSent(ctx context.Context, id int64, owner string, at time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE reminders SET status = 'sent', sent_at = ?, lease_until = NULL, updated_at = ?
		WHERE id = ? AND status = 'pending' AND lease_owner = ?`, at.UnixNano(), at.UnixNano(), id, owner)
	if err != nil {
		return fmt.Errorf("sqlite: mark reminder %d sent: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: mark reminder %d sent: %w", id, err)
	} else if n == 1 {
		return nil
	}
	var status string
	var leaseOwner sql.NullString
	err = db.w.QueryRowContext(ctx, `SELECT status, lease_owner FROM reminders WHERE id = ?`, id).Scan(&status, &leaseOwner)
	if err != nil {
		return fmt.Errorf("sqlite: mark reminder %d sent: %w", id, errNoRow(err))
	}
	if status == store.ReminderSent && leaseOwner.String == owner {
		return nil
	}
	return fmt.Errorf("sqlite: mark reminder %d sent: lease not held by %s: %w", id, owner, store.ErrConflict)
}

// ReleaseReminder drops owner's lease; lease_until then holds the retry time.
func (db *DB) ReleaseReminder(ctx context.Context, id int64, owner string, retryAt time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE reminders SET lease_owner = NULL, lease_until = ?
		WHERE id = ? AND status = 'pending' AND lease_owner = ?`, nanos(retryAt), id, owner)
	if err != nil {
		return fmt.Errorf("sqlite: release reminder %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: release reminder %d: %w", id, err)
	} else if n == 1 {
		return nil
	}
	var one int
	if err := db.w.QueryRowContext(ctx, `SELECT 1 FROM reminders WHERE id = ?`, id).Scan(&one); err != nil {
		return fmt.Errorf("sqlite: release reminder %d: %w", id, errNoRow(err))
	}
	return fmt.Errorf("sqlite: release reminder %d: lease not held by %s: %w", id, owner, store.ErrConflict)
}

func scanReminders(rows *sql.Rows) ([]*store.Reminder, error) {
	defer rows.Close()
	var out []*store.Reminder
	for rows.Next() {
		var (
			r                         store.Reminder
			key                       sql.NullString
			customer, sent, done      sql.NullInt64
			due, created, updatedTime int64
		)
		if err := rows.Scan(&r.ID, &key, &customer, &r.StaffID, &r.Kind, &r.Text, &due, &r.Status, &sent, &done,
			&r.Attempts, &created, &updatedTime, &r.Script); err != nil {
			return nil, err
		}
		r.Key = key.String
		if customer.Valid {
			r.CustomerID = formatID(customer.Int64)
		}
		r.DueAt, r.SentAt, r.DoneAt = fromNanos(due), fromNullNanos(sent), fromNullNanos(done)
		r.CreatedAt, r.UpdatedAt = fromNanos(created), fromNanos(updatedTime)
		out = append(out, &r)
	}
	return out, rows.Err()
}
