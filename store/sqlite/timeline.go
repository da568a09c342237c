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
	var inserted bool
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		inserted, err = appendTx(ctx, tx, cid, e)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: append timeline for %s: %w", e.CustomerID, err)
	}
	return inserted, nil
}

// appendTx appends e to customer cid's timeline (or the customer it was
// merged into) inside tx, reporting whether it was new. A new entry gets its
// ID and the customer it landed on.
func appendTx(ctx context.Context, tx *sql.Tx, cid int64, e *store.TimelineEntry) (bool, error) {
	attrs, err := encodeAttrs(e.Attrs)
	if err != nil {
		return false, err
	}
	var sourceKey any
	if e.SourceKey != "" {
		sourceKey = e.SourceKey
	}
	var into int64
	err = tx.QueryRowContext(ctx, `SELECT into_id FROM customer_merges WHERE id = ?`, cid).Scan(&into)
	switch {
	case err == nil:
		cid = into
	case !errors.Is(err, sql.ErrNoRows):
		return false, fmt.Errorf("resolve customer: %w", err)
	}
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM customers WHERE id = ?`, cid).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, store.ErrNotFound
	}
	if err != nil {
		return false, fmt.Errorf("find customer: %w", err)
	}
	var awaiting sql.NullInt64
	if store.IsFollowUp(e) {
		if err := tx.QueryRowContext(ctx, `SELECT awaiting_since FROM customers WHERE id = ?`, cid).Scan(&awaiting); err != nil {
			return false, fmt.Errorf("read awaiting: %w", err)
		}
	}
	// waited stamps a follow-up that answers a waiting customer.
	var waited any
	if awaiting.Valid && nanos(e.At) >= awaiting.Int64 {
		waited = nanos(e.At) - awaiting.Int64
	}
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO timeline (customer_id, source_key, kind, channel, direction, staff_id, text, attrs, at, waited)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source_key) DO NOTHING RETURNING id`,
		cid, sourceKey, e.Kind, e.Channel, e.Direction, e.StaffID, e.Text, attrs, nanos(e.At), waited).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("insert: %w", err)
	}
	if err := trackActivity(ctx, tx, cid, e, waited != nil); err != nil {
		return false, err
	}
	if e.Kind == store.EntryMessage {
		if err := bump(ctx, tx, counterMessages, 1); err != nil {
			return false, err
		}
	}
	e.ID, e.CustomerID = id, formatID(cid)
	return true, nil
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

// WriteCustomers applies ws in one write transaction, each write inside a
// savepoint, so that one that fails is undone alone and reported in its
// result. The single writer serializes it with every other write, so the
// writes of one customer apply in the order given.
func (db *DB) WriteCustomers(ctx context.Context, ws []store.CustomerWrite) ([]store.CustomerWriteResult, error) {
	if len(ws) == 0 {
		return nil, nil
	}
	var out []store.CustomerWriteResult
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		out = make([]store.CustomerWriteResult, len(ws))
		for i, w := range ws {
			if _, err := tx.ExecContext(ctx, `SAVEPOINT customer_write`); err != nil {
				return fmt.Errorf("savepoint: %w", err)
			}
			r, err := writeCustomerTx(ctx, tx, w)
			if err != nil {
				// An interrupted statement may have rolled the whole
				// transaction back; then the savepoint is gone, and so
				// is every earlier write: the call fails.
				if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO customer_write`); rerr != nil {
					return fmt.Errorf("write %d: %w (rollback: %v)", i, err, rerr)
				}
				r = store.CustomerWriteResult{Err: err}
			}
			if _, err := tx.ExecContext(ctx, `RELEASE customer_write`); err != nil {
				return fmt.Errorf("release: %w", err)
			}
			out[i] = r
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: write customers: %w", err)
	}
	return out, nil
}

// writeCustomerTx applies one CustomerWrite inside tx. The entry is copied,
// so that an undone write leaves the caller's entry as it was.
func writeCustomerTx(ctx context.Context, tx *sql.Tx, w store.CustomerWrite) (store.CustomerWriteResult, error) {
	if w.Upsert.Identity.Kind == "" || w.Upsert.Identity.Value == "" {
		return store.CustomerWriteResult{}, fmt.Errorf("upsert customer: identity kind and value are required: %w", store.ErrInvalid)
	}
	target, err := upsertTx(ctx, tx, w.Upsert)
	if err != nil {
		return store.CustomerWriteResult{}, fmt.Errorf("upsert customer %s: %w", w.Upsert.Identity.Kind, err)
	}
	var r store.CustomerWriteResult
	if w.Entry != nil {
		e := *w.Entry
		if r.Appended, err = appendTx(ctx, tx, target, &e); err != nil {
			return store.CustomerWriteResult{}, fmt.Errorf("append timeline: %w", err)
		}
		w.Entry.CustomerID = formatID(target)
		if r.Appended {
			w.Entry.ID = e.ID
		}
	}
	if r.Customer, err = loadCustomer(ctx, tx, target); err != nil {
		return store.CustomerWriteResult{}, err
	}
	return r, nil
}
