package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/scrmhq/scrm/store"
)

// AppendTimeline stores e unless its SourceKey is already stored. An entry
// for a customer that was merged away lands on the survivor (e.CustomerID is
// updated); a customer that never existed gives ErrNotFound.
func (db *DB) AppendTimeline(ctx context.Context, e *store.TimelineEntry) (bool, error) {
	cid, ok := parseID(e.CustomerID)
	if !ok {
		return false, fmt.Errorf("sqlite: append timeline for %q: %w", e.CustomerID, store.ErrNotFound)
	}
	attrs, err := encodeAttrs(e.Attrs)
	if err != nil {
		return false, fmt.Errorf("sqlite: append timeline: %w", err)
	}
	var sourceKey any
	if e.SourceKey != "" {
		sourceKey = e.SourceKey
	}
	var id int64
	inserted := false
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		var into int64
		err := tx.QueryRowContext(ctx, `SELECT into_id FROM customer_merges WHERE id = ?`, cid).Scan(&into)
		switch {
		case err == nil:
			cid = into
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("resolve customer: %w", err)
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM customers WHERE id = ?`, cid).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("find customer: %w", err)
		}
		var awaiting sql.NullInt64
		if store.IsFollowUp(e) {
			if err := tx.QueryRowContext(ctx, `SELECT awaiting_since FROM customers WHERE id = ?`, cid).Scan(&awaiting); err != nil {
				return fmt.Errorf("read awaiting: %w", err)
			}
		}
		// waited stamps a follow-up that answers a waiting customer.
		var waited any
		if awaiting.Valid && nanos(e.At) >= awaiting.Int64 {
			waited = nanos(e.At) - awaiting.Int64
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO timeline (customer_id, source_key, kind, channel, direction, staff_id, text, attrs, at, waited)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source_key) DO NOTHING RETURNING id`,
			cid, sourceKey, e.Kind, e.Channel, e.Direction, e.StaffID, e.Text, attrs, nanos(e.At), waited).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		inserted = true
		if err := trackActivity(ctx, tx, cid, e, waited != nil); err != nil {
			return err
		}
		if e.Kind == store.EntryMessage {
			return bump(ctx, tx, counterMessages, 1)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: append timeline for %s: %w", e.CustomerID, err)
	}
	if inserted {
		e.ID = id
		e.CustomerID = formatID(cid)
	}
	return inserted, nil
}

// FindTimeline returns a customer's entries newest first.
func (db *DB) FindTimeline(ctx context.Context, customerID string, beforeID int64, limit int) ([]*store.TimelineEntry, error) {
	cid, ok := parseID(customerID)
	if !ok {
		return nil, nil
	}
	if limit <= 0 {
		limit = 50
	}
	q := `SELECT id, source_key, kind, channel, direction, staff_id, text, attrs, at FROM timeline
		WHERE customer_id = ? ORDER BY id DESC LIMIT ?`
	args := []any{cid, limit}
	if beforeID > 0 {
		q = `SELECT id, source_key, kind, channel, direction, staff_id, text, attrs, at FROM timeline
			WHERE customer_id = ? AND id < ? ORDER BY id DESC LIMIT ?`
		args = []any{cid, beforeID, limit}
	}
	var out []*store.TimelineEntry
	err := eachRow(ctx, db.r, q, args, func(r *sql.Rows) error {
		var (
			e     store.TimelineEntry
			key   sql.NullString
			attrs sql.NullString
			at    int64
		)
		if err := r.Scan(&e.ID, &key, &e.Kind, &e.Channel, &e.Direction, &e.StaffID, &e.Text, &attrs, &at); err != nil {
			return err
		}
		var err error
		if e.Attrs, err = decodeAttrs(attrs); err != nil {
			return fmt.Errorf("entry %d: %w", e.ID, err)
		}
		e.CustomerID, e.SourceKey, e.At = customerID, key.String, fromNanos(at)
		out = append(out, &e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: find timeline of %s: %w", customerID, err)
	}
	return out, nil
}
