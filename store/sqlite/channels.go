package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
)

// CreateChannel implements store.ChannelStore.
func (db *DB) CreateChannel(ctx context.Context, c *store.Channel) error {
	if err := store.ValidateChannel(c); err != nil {
		return fmt.Errorf("sqlite: create channel: %w", err)
	}
	doc, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("sqlite: create channel: %w", err)
	}
	res, err := db.w.ExecContext(ctx, `INSERT INTO channels (id, state, kind, doc, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, c.ID, c.State, c.Kind, string(doc), nanos(c.CreatedAt))
	if err != nil {
		return fmt.Errorf("sqlite: create channel: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: create channel %s: id or state taken: %w", c.ID, store.ErrConflict)
	}
	return nil
}

// UpdateChannel implements store.ChannelStore.
func (db *DB) UpdateChannel(ctx context.Context, c *store.Channel) error {
	if err := store.ValidateChannel(c); err != nil {
		return fmt.Errorf("sqlite: update channel: %w", err)
	}
	doc, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("sqlite: update channel: %w", err)
	}
	res, err := db.w.ExecContext(ctx, `UPDATE channels SET doc = ?, kind = ? WHERE id = ? AND state = ? AND deleted_at IS NULL`,
		string(doc), c.Kind, c.ID, c.State)
	if err != nil {
		return fmt.Errorf("sqlite: update channel: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: update channel %s: %w", c.ID, store.ErrNotFound)
	}
	return nil
}

// DeleteChannel implements store.ChannelStore.
func (db *DB) DeleteChannel(ctx context.Context, id string, at time.Time) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		c, err := scanChannel(tx.QueryRowContext(ctx, `SELECT doc FROM channels WHERE id = ? AND deleted_at IS NULL`, id))
		if err != nil {
			return fmt.Errorf("sqlite: delete channel %s: %w", id, err)
		}
		at = at.UTC()
		c.DeletedAt = &at
		doc, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("sqlite: delete channel: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE channels SET doc = ?, deleted_at = ? WHERE id = ?`, string(doc), nanos(at), id); err != nil {
			return fmt.Errorf("sqlite: delete channel: %w", err)
		}
		return nil
	})
}

type rowScanner interface{ Scan(dest ...any) error }

func scanChannel(row rowScanner) (*store.Channel, error) {
	var doc string
	if err := row.Scan(&doc); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, err
	}
	var c store.Channel
	if err := json.Unmarshal([]byte(doc), &c); err != nil {
		return nil, fmt.Errorf("decode channel: %w", err)
	}
	return &c, nil
}

// FindChannelByID implements store.ChannelStore.
func (db *DB) FindChannelByID(ctx context.Context, id string) (*store.Channel, error) {
	c, err := scanChannel(db.r.QueryRowContext(ctx, `SELECT doc FROM channels WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("sqlite: find channel %s: %w", id, err)
	}
	return c, nil
}

// FindChannelByState implements store.ChannelStore.
func (db *DB) FindChannelByState(ctx context.Context, state string) (*store.Channel, error) {
	c, err := scanChannel(db.r.QueryRowContext(ctx, `SELECT doc FROM channels WHERE state = ?`, state))
	if err != nil {
		return nil, fmt.Errorf("sqlite: find channel by state: %w", err)
	}
	return c, nil
}

// FindChannels implements store.ChannelStore.
func (db *DB) FindChannels(ctx context.Context, f store.ChannelFilter) ([]*store.Channel, error) {
	where, args := []string{"1 = 1"}, []any{}
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, f.Kind)
	}
	if !f.IncludeDeleted {
		where = append(where, "deleted_at IS NULL")
	}
	rows, err := db.r.QueryContext(ctx, `SELECT doc FROM channels WHERE `+strings.Join(where, " AND ")+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find channels: %w", err)
	}
	defer rows.Close()
	out := []*store.Channel{}
	for rows.Next() {
		c, err := scanChannel(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: find channels: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: find channels: %w", err)
	}
	return out, nil
}

// RecordChannelEvent implements store.ChannelStore.
func (db *DB) RecordChannelEvent(ctx context.Context, e store.ChannelEvent) (bool, error) {
	if err := store.ValidateChannelEvent(e); err != nil {
		return false, fmt.Errorf("sqlite: record channel event: %w", err)
	}
	res, err := db.w.ExecContext(ctx, `INSERT INTO channel_events (key, channel_id, kind, customer_id, staff_id, at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`, e.Key, e.ChannelID, e.Kind, e.CustomerID, e.StaffID, nanos(e.At))
	if err != nil {
		return false, fmt.Errorf("sqlite: record channel event: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// FindChannelEvents implements store.ChannelStore.
func (db *DB) FindChannelEvents(ctx context.Context, f store.ChannelEventFilter) ([]store.ChannelEvent, error) {
	where, args := []string{"1 = 1"}, []any{}
	add := func(cond string, v any) { where, args = append(where, cond), append(args, v) }
	if f.ChannelID != "" {
		add("channel_id = ?", f.ChannelID)
	}
	if f.CustomerID != "" {
		add("customer_id = ?", f.CustomerID)
	}
	if f.StaffID != "" {
		add("staff_id = ?", f.StaffID)
	}
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if !f.From.IsZero() {
		add("at >= ?", nanos(f.From))
	}
	if !f.To.IsZero() {
		add("at < ?", nanos(f.To))
	}
	rows, err := db.r.QueryContext(ctx, `SELECT key, channel_id, kind, customer_id, staff_id, at FROM channel_events WHERE `+
		strings.Join(where, " AND ")+` ORDER BY at, key`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find channel events: %w", err)
	}
	defer rows.Close()
	out := []store.ChannelEvent{}
	for rows.Next() {
		var e store.ChannelEvent
		var at int64
		if err := rows.Scan(&e.Key, &e.ChannelID, &e.Kind, &e.CustomerID, &e.StaffID, &at); err != nil {
			return nil, fmt.Errorf("sqlite: find channel events: %w", err)
		}
		e.At = fromNanos(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: find channel events: %w", err)
	}
	return out, nil
}
