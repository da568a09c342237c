package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/scrmhq/scrm/store"
)

// The quick-reply library (store.QuickReplyStore).

const quickReplyCols = `id, grp, title, text, uses, created_by, created_at, updated_at`

func scanQuickReply(sc interface{ Scan(...any) error }) (*store.QuickReply, error) {
	var q store.QuickReply
	var created, updated int64
	if err := sc.Scan(&q.ID, &q.Group, &q.Title, &q.Text, &q.Uses, &q.CreatedBy, &created, &updated); err != nil {
		return nil, err
	}
	q.CreatedAt, q.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &q, nil
}

// CreateQuickReply stores q; ErrConflict if its ID exists.
func (db *DB) CreateQuickReply(ctx context.Context, q *store.QuickReply) error {
	if q.ID == "" || q.Text == "" {
		return fmt.Errorf("sqlite: create quick reply: needs id and text: %w", store.ErrInvalid)
	}
	res, err := db.w.ExecContext(ctx, `INSERT INTO quick_replies (`+quickReplyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, q.ID, q.Group, q.Title, q.Text, q.Uses, q.CreatedBy, q.CreatedAt.UnixNano(), q.UpdatedAt.UnixNano())
	if err != nil {
		return fmt.Errorf("sqlite: create quick reply: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("sqlite: create quick reply %s: %w", q.ID, errors.Join(err, store.ErrConflict))
	}
	return nil
}

// FindQuickReplyByID returns ErrNotFound if there is none.
func (db *DB) FindQuickReplyByID(ctx context.Context, id string) (*store.QuickReply, error) {
	q, err := scanQuickReply(db.r.QueryRowContext(ctx, `SELECT `+quickReplyCols+` FROM quick_replies WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: find quick reply %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: find quick reply %s: %w", id, err)
	}
	return q, nil
}

// FindQuickReplies returns every quick reply by group, title and ID.
func (db *DB) FindQuickReplies(ctx context.Context) ([]*store.QuickReply, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+quickReplyCols+` FROM quick_replies ORDER BY grp, title, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find quick replies: %w", err)
	}
	defer rows.Close()
	out := []*store.QuickReply{}
	for rows.Next() {
		q, err := scanQuickReply(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: find quick replies: %w", err)
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: find quick replies: %w", err)
	}
	return out, nil
}

// UpdateQuickReply applies upd; ErrNotFound if there is none.
func (db *DB) UpdateQuickReply(ctx context.Context, id string, upd store.QuickReplyUpdate) (*store.QuickReply, error) {
	q, err := scanQuickReply(db.w.QueryRowContext(ctx, `UPDATE quick_replies SET
		grp = coalesce(?, grp), title = coalesce(?, title), text = coalesce(?, text), updated_at = ?
		WHERE id = ? RETURNING `+quickReplyCols, upd.Group, upd.Title, upd.Text, upd.At.UnixNano(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: update quick reply %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: update quick reply %s: %w", id, err)
	}
	return q, nil
}

// DeleteQuickReply removes it; ErrNotFound if there is none.
func (db *DB) DeleteQuickReply(ctx context.Context, id string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM quick_replies WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete quick reply %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("sqlite: delete quick reply %s: %w", id, errors.Join(err, store.ErrNotFound))
	}
	return nil
}

// CountQuickReplyUse adds one to its uses and returns the new count.
func (db *DB) CountQuickReplyUse(ctx context.Context, id string) (int64, error) {
	var n int64
	err := db.w.QueryRowContext(ctx, `UPDATE quick_replies SET uses = uses + 1 WHERE id = ? RETURNING uses`, id).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("sqlite: count quick reply use %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: count quick reply use %s: %w", id, err)
	}
	return n, nil
}
