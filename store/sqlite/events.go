package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
)

const eventColumns = `id, dedup_key, channel, kind, from_id, staff_id, customer_id, text, msg_id, attrs, raw,
	occurred_at, received_at, processed_at, attempts, last_error`

// AppendEvents inserts all events in one transaction: one fsync for the whole
// batch, which is what makes group commit of concurrent callbacks cheap.
func (db *DB) AppendEvents(ctx context.Context, evs []*store.Event) ([]bool, error) {
	inserted := make([]bool, len(evs))
	if len(evs) == 0 {
		return inserted, nil
	}
	attrs := make([]any, len(evs))
	for i, e := range evs {
		a, err := encodeAttrs(e.Attrs)
		if err != nil {
			return nil, fmt.Errorf("sqlite: append event %s: %w", e.DedupKey, err)
		}
		attrs[i] = a
	}
	ids := make([]int64, len(evs))
	var n int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(evs); start += insertChunk {
			chunk := evs[start:min(start+insertChunk, len(evs))]
			k, err := insertEvents(ctx, tx, chunk, attrs[start:], ids[start:], inserted[start:])
			if err != nil {
				return err
			}
			n += k
		}
		return bump(ctx, tx, counterEvents, n)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: append %d events: %w", len(evs), err)
	}
	// IDs are set only once the transaction is durable.
	for i, e := range evs {
		if inserted[i] {
			e.ID = ids[i]
		}
	}
	return inserted, nil
}

// insertChunk bounds one multi-row INSERT well below SQLite's limit of 32766
// bound parameters.
const insertChunk = 200

// insertEvents inserts evs with one multi-row statement, which costs a
// fraction of one statement per row. RETURNING lists the inserted rows; a key
// that occurs twice in evs is inserted at its first occurrence only.
func insertEvents(ctx context.Context, tx *sql.Tx, evs []*store.Event, attrs []any, ids []int64, inserted []bool) (int64, error) {
	var q strings.Builder
	q.WriteString(`INSERT INTO events (dedup_key, channel, kind, from_id, staff_id, customer_id,
		text, msg_id, attrs, raw, occurred_at, received_at, processed_at, attempts, last_error) VALUES `)
	args := make([]any, 0, 15*len(evs))
	for i, e := range evs {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, e.DedupKey, e.Channel, e.Kind, e.FromID, e.StaffID, e.CustomerID, e.Text, e.MsgID,
			attrs[i], e.Raw, nanos(e.OccurredAt), nanos(e.ReceivedAt), nullNanos(e.ProcessedAt), e.Attempts, e.LastError)
	}
	q.WriteString(` ON CONFLICT (dedup_key) DO NOTHING RETURNING id, dedup_key`)
	rows, err := tx.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return 0, fmt.Errorf("insert: %w", err)
	}
	defer rows.Close()
	first := make(map[string]int, len(evs))
	for i := len(evs) - 1; i >= 0; i-- {
		first[evs[i].DedupKey] = i
	}
	var n int64
	for rows.Next() {
		var id int64
		var key string
		if err := rows.Scan(&id, &key); err != nil {
			return 0, fmt.Errorf("insert: %w", err)
		}
		i, ok := first[key]
		if !ok || inserted[i] {
			return 0, fmt.Errorf("insert: unexpected returned key %q", key)
		}
		ids[i], inserted[i] = id, true
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("insert: %w", err)
	}
	return n, nil
}

// HasEvent reports whether an event with this dedup key is stored.
func (db *DB) HasEvent(ctx context.Context, dedupKey string) (bool, error) {
	var one int
	err := db.r.QueryRowContext(ctx, `SELECT 1 FROM events WHERE dedup_key = ?`, dedupKey).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: has event %s: %w", dedupKey, err)
	}
	return true, nil
}

// ClaimEvents leases up to limit due events, oldest first, in one UPDATE.
// Attempts counts claims, so a poison event that kills its processor still
// shows how often it was tried.
func (db *DB) ClaimEvents(ctx context.Context, owner string, limit int, now time.Time, lease time.Duration) ([]*store.Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	n := now.UnixNano()
	// The subquery walks the partial index of unprocessed events in ID order;
	// the single writer connection makes select-then-update atomic.
	rows, err := db.w.QueryContext(ctx, `UPDATE events SET lease_owner = ?, lease_until = ?, attempts = attempts + 1
		WHERE id IN (
			SELECT id FROM events
			WHERE processed_at IS NULL AND (lease_until IS NULL OR lease_until <= ?) AND next_attempt_at <= ?
			ORDER BY id LIMIT ?)
		RETURNING `+eventColumns, owner, now.Add(lease).UnixNano(), n, n, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim events: %w", err)
	}
	evs, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim events: %w", err)
	}
	// RETURNING does not promise an order.
	slices.SortFunc(evs, func(a, b *store.Event) int { return cmp.Compare(a.ID, b.ID) })
	return evs, nil
}

// CompleteEvent marks the event processed if owner holds its lease. A repeated
// call by the same owner succeeds again.
func (db *DB) CompleteEvent(ctx context.Context, id int64, owner string, now time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE events SET processed_at = ?, lease_until = NULL
		WHERE id = ? AND lease_owner = ? AND processed_at IS NULL`, now.UnixNano(), id, owner)
	if err != nil {
		return fmt.Errorf("sqlite: complete event %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: complete event %d: %w", id, err)
	} else if n == 1 {
		return nil
	}
	leaseOwner, processed, err := db.leaseState(ctx, id)
	if err != nil {
		return fmt.Errorf("sqlite: complete event %d: %w", id, err)
	}
	if processed && leaseOwner == owner {
		return nil
	}
	return fmt.Errorf("sqlite: complete event %d: lease not held by %s: %w", id, owner, store.ErrConflict)
}

// completeChunk bounds the IDs of one statement of CompleteEvents.
const completeChunk = 500

// CompleteEvents marks the events processed in one transaction: one sync
// for the whole batch instead of one per event.
func (db *DB) CompleteEvents(ctx context.Context, ids []int64, owner string, now time.Time) ([]int64, error) {
	var lost []int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		lost = lost[:0]
		for start := 0; start < len(ids); start += completeChunk {
			chunk := ids[start:min(start+completeChunk, len(ids))]
			l, err := completeEvents(ctx, tx, chunk, owner, now)
			if err != nil {
				return err
			}
			lost = append(lost, l...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: complete %d events: %w", len(ids), err)
	}
	return lost, nil
}

// completeEvents completes the events of one chunk that owner holds, then
// reads the state of the others: completed by owner already is success,
// anything else is lost.
func completeEvents(ctx context.Context, tx *sql.Tx, ids []int64, owner string, now time.Time) ([]int64, error) {
	in := strings.Repeat(",?", len(ids))[1:]
	args := make([]any, 0, len(ids)+2)
	args = append(args, now.UnixNano(), owner)
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := tx.QueryContext(ctx, `UPDATE events SET processed_at = ?, lease_until = NULL
		WHERE lease_owner = ? AND processed_at IS NULL AND id IN (`+in+`) RETURNING id`, args...)
	if err != nil {
		return nil, err
	}
	done := make(map[int64]bool, len(ids))
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		done[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(done) == len(ids) {
		return nil, nil
	}
	rows, err = tx.QueryContext(ctx, `SELECT id FROM events WHERE lease_owner = ? AND processed_at IS NOT NULL AND id IN (`+in+`)`, args[1:]...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		done[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var lost []int64
	for _, id := range ids {
		if !done[id] {
			lost = append(lost, id)
		}
	}
	return lost, nil
}

// FailEvent releases owner's lease and makes the event due again at retryAt.
func (db *DB) FailEvent(ctx context.Context, id int64, owner string, errText string, retryAt time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE events SET lease_owner = NULL, lease_until = NULL, last_error = ?, next_attempt_at = ?
		WHERE id = ? AND lease_owner = ? AND processed_at IS NULL`, errText, nanos(retryAt), id, owner)
	if err != nil {
		return fmt.Errorf("sqlite: fail event %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: fail event %d: %w", id, err)
	} else if n == 1 {
		return nil
	}
	if _, _, err := db.leaseState(ctx, id); err != nil {
		return fmt.Errorf("sqlite: fail event %d: %w", id, err)
	}
	return fmt.Errorf("sqlite: fail event %d: lease not held by %s: %w", id, owner, store.ErrConflict)
}

// leaseState reads who holds an event's lease; ErrNotFound if there is no
// such event. It reads through the writer so it sees the latest state.
func (db *DB) leaseState(ctx context.Context, id int64) (owner string, processed bool, err error) {
	var o sql.NullString
	var p sql.NullInt64
	err = db.w.QueryRowContext(ctx, `SELECT lease_owner, processed_at FROM events WHERE id = ?`, id).Scan(&o, &p)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, store.ErrNotFound
	}
	if err != nil {
		return "", false, err
	}
	return o.String, p.Valid, nil
}

// FindEvents returns events matching f in ID order.
func (db *DB) FindEvents(ctx context.Context, f store.EventFilter) ([]*store.Event, error) {
	where := []string{"id > ?"}
	args := []any{f.AfterID}
	if f.Channel != "" {
		where = append(where, "channel = ?")
		args = append(args, f.Channel)
	}
	if f.Kind != "" {
		where = append(where, "kind = ?")
		args = append(args, f.Kind)
	}
	if f.Processed != nil {
		if *f.Processed {
			where = append(where, "processed_at IS NOT NULL")
		} else {
			where = append(where, "processed_at IS NULL")
		}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	rows, err := db.r.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find events: %w", err)
	}
	evs, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find events: %w", err)
	}
	return evs, nil
}

// OldestUnprocessed returns the receive time of the lowest-ID unprocessed
// event (IDs follow arrival), or ErrNotFound.
func (db *DB) OldestUnprocessed(ctx context.Context) (time.Time, error) {
	var n int64
	err := db.r.QueryRowContext(ctx, `SELECT received_at FROM events WHERE processed_at IS NULL ORDER BY id LIMIT 1`).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fmt.Errorf("sqlite: oldest unprocessed event: %w", store.ErrNotFound)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: oldest unprocessed event: %w", err)
	}
	return fromNanos(n), nil
}

func scanEvents(rows *sql.Rows) ([]*store.Event, error) {
	defer rows.Close()
	var out []*store.Event
	for rows.Next() {
		var (
			e                  store.Event
			attrs              sql.NullString
			occurred, received int64
			processed          sql.NullInt64
		)
		if err := rows.Scan(&e.ID, &e.DedupKey, &e.Channel, &e.Kind, &e.FromID, &e.StaffID, &e.CustomerID, &e.Text,
			&e.MsgID, &attrs, &e.Raw, &occurred, &received, &processed, &e.Attempts, &e.LastError); err != nil {
			return nil, err
		}
		var err error
		if e.Attrs, err = decodeAttrs(attrs); err != nil {
			return nil, fmt.Errorf("event %d: %w", e.ID, err)
		}
		e.OccurredAt, e.ReceivedAt, e.ProcessedAt = fromNanos(occurred), fromNanos(received), fromNullNanos(processed)
		out = append(out, &e)
	}
	return out, rows.Err()
}

// encodeAttrs stores a map as JSON; an empty map is stored as NULL.
func encodeAttrs(m map[string]string) (any, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode attrs: %w", err)
	}
	return string(b), nil
}

func decodeAttrs(s sql.NullString) (map[string]string, error) {
	if !s.Valid || s.String == "" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s.String), &m); err != nil {
		return nil, fmt.Errorf("decode attrs: %w", err)
	}
	return m, nil
}
