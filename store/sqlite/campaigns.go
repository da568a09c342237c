package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/scrmhq/scrm/store"
)

// Segments, campaigns and tasks are kept as JSON documents beside the keys
// they are found by; sends are plain rows, because the frequency caps count
// them by time over every campaign.

func docOf(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func insertDoc(ctx context.Context, db *DB, what, q string, args ...any) error {
	res, err := db.w.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlite: create %s: %w", what, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: create %s: id taken: %w", what, store.ErrConflict)
	}
	return nil
}

func scanDoc[T any](row *sql.Row, what, id string) (*T, error) {
	var doc string
	if err := row.Scan(&doc); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlite: %s %s: %w", what, id, store.ErrNotFound)
		}
		return nil, fmt.Errorf("sqlite: %s %s: %w", what, id, err)
	}
	var v T
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		return nil, fmt.Errorf("sqlite: decode %s %s: %w", what, id, err)
	}
	return &v, nil
}

func scanDocs[T any](rows *sql.Rows, err error, what string) ([]*T, error) {
	if err != nil {
		return nil, fmt.Errorf("sqlite: find %s: %w", what, err)
	}
	defer rows.Close()
	out := []*T{}
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("sqlite: find %s: %w", what, err)
		}
		var v T
		if err := json.Unmarshal([]byte(doc), &v); err != nil {
			return nil, fmt.Errorf("sqlite: decode %s: %w", what, err)
		}
		out = append(out, &v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: find %s: %w", what, err)
	}
	return out, nil
}

// CreateSegment implements store.CampaignStore.
func (db *DB) CreateSegment(ctx context.Context, s *store.Segment) error {
	if s == nil || s.ID == "" || s.Name == "" {
		return fmt.Errorf("sqlite: create segment: id and name required: %w", store.ErrInvalid)
	}
	doc, err := docOf(s)
	if err != nil {
		return err
	}
	return insertDoc(ctx, db, "segment", `INSERT INTO segments (id, doc, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		s.ID, doc, nanos(s.CreatedAt))
}

// FindSegmentByID implements store.CampaignStore.
func (db *DB) FindSegmentByID(ctx context.Context, id string) (*store.Segment, error) {
	return scanDoc[store.Segment](db.r.QueryRowContext(ctx, `SELECT doc FROM segments WHERE id = ?`, id), "segment", id)
}

// FindSegments implements store.CampaignStore.
func (db *DB) FindSegments(ctx context.Context) ([]*store.Segment, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT doc FROM segments ORDER BY created_at, id`)
	return scanDocs[store.Segment](rows, err, "segments")
}

// DeleteSegment implements store.CampaignStore.
func (db *DB) DeleteSegment(ctx context.Context, id string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM segments WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete segment: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: delete segment %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// CreateCampaign implements store.CampaignStore.
func (db *DB) CreateCampaign(ctx context.Context, c *store.Campaign) error {
	if c == nil || c.ID == "" || c.Name == "" {
		return fmt.Errorf("sqlite: create campaign: id and name required: %w", store.ErrInvalid)
	}
	c.Version = 1
	doc, err := docOf(c)
	if err != nil {
		return err
	}
	return insertDoc(ctx, db, "campaign", `INSERT INTO campaigns (id, doc, created_at, version, journey_id) VALUES (?, ?, ?, 1, ?) ON CONFLICT DO NOTHING`,
		c.ID, doc, nanos(c.CreatedAt), c.JourneyID)
}

// UpdateCampaign implements store.CampaignStore: one UPDATE over the
// version c was read at.
func (db *DB) UpdateCampaign(ctx context.Context, c *store.Campaign) error {
	read := c.Version
	c.Version++
	doc, err := docOf(c)
	c.Version = read
	if err != nil {
		return err
	}
	res, err := db.w.ExecContext(ctx, `UPDATE campaigns SET doc = ?, version = ? WHERE id = ? AND version = ?`, doc, read+1, c.ID, read)
	if err != nil {
		return fmt.Errorf("sqlite: update campaign: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		c.Version = read + 1
		return nil
	}
	var found int
	if err := db.w.QueryRowContext(ctx, `SELECT count(*) FROM campaigns WHERE id = ?`, c.ID).Scan(&found); err != nil {
		return fmt.Errorf("sqlite: update campaign: %w", err)
	}
	if found == 0 {
		return fmt.Errorf("sqlite: update campaign %s: %w", c.ID, store.ErrNotFound)
	}
	return fmt.Errorf("sqlite: update campaign %s: written since version %d: %w", c.ID, read, store.ErrConflict)
}

// FindCampaignByID implements store.CampaignStore.
func (db *DB) FindCampaignByID(ctx context.Context, id string) (*store.Campaign, error) {
	return scanDoc[store.Campaign](db.r.QueryRowContext(ctx, `SELECT doc FROM campaigns WHERE id = ?`, id), "campaign", id)
}

// FindCampaigns implements store.CampaignStore.
func (db *DB) FindCampaigns(ctx context.Context, limit int) ([]*store.Campaign, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.r.QueryContext(ctx, `SELECT doc FROM campaigns WHERE journey_id = '' ORDER BY created_at DESC, id DESC LIMIT ?`, limit)
	return scanDocs[store.Campaign](rows, err, "campaigns")
}

// PutCampaignTask implements store.CampaignStore.
func (db *DB) PutCampaignTask(ctx context.Context, t *store.CampaignTask) error {
	doc, err := docOf(t)
	if err != nil {
		return err
	}
	if _, err := db.w.ExecContext(ctx, `INSERT INTO campaign_tasks (campaign_id, sender, chunk, doc) VALUES (?, ?, ?, ?)
		ON CONFLICT (campaign_id, sender, chunk) DO UPDATE SET doc = excluded.doc`, t.CampaignID, t.Sender, t.Chunk, doc); err != nil {
		return fmt.Errorf("sqlite: put campaign task: %w", err)
	}
	return nil
}

// FindCampaignTasks implements store.CampaignStore.
func (db *DB) FindCampaignTasks(ctx context.Context, campaignID string) ([]*store.CampaignTask, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT doc FROM campaign_tasks WHERE campaign_id = ? ORDER BY sender, chunk`, campaignID)
	return scanDocs[store.CampaignTask](rows, err, "campaign tasks")
}

// PutCampaignSends implements store.CampaignStore: one transaction.
func (db *DB) PutCampaignSends(ctx context.Context, sends []store.CampaignSend) error {
	if len(sends) == 0 {
		return nil
	}
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO campaign_sends (campaign_id, customer_id, external_userid, chat_id, sender, status, at)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (campaign_id, customer_id) DO UPDATE SET
			external_userid = excluded.external_userid, chat_id = excluded.chat_id, sender = excluded.sender, status = excluded.status`)
		if err != nil {
			return fmt.Errorf("sqlite: put campaign sends: %w", err)
		}
		defer stmt.Close()
		for _, s := range sends {
			if _, err := stmt.ExecContext(ctx, s.CampaignID, s.CustomerID, s.ExternalUserID, s.ChatID, s.Sender, s.Status, nanos(s.At)); err != nil {
				return fmt.Errorf("sqlite: put campaign sends: %w", err)
			}
		}
		return nil
	})
}

// FindCampaignSends implements store.CampaignStore.
func (db *DB) FindCampaignSends(ctx context.Context, campaignID string) ([]store.CampaignSend, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT campaign_id, customer_id, external_userid, chat_id, sender, status, at FROM campaign_sends
		WHERE campaign_id = ? ORDER BY customer_id`, campaignID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find campaign sends: %w", err)
	}
	defer rows.Close()
	out := []store.CampaignSend{}
	for rows.Next() {
		var s store.CampaignSend
		var at int64
		if err := rows.Scan(&s.CampaignID, &s.CustomerID, &s.ExternalUserID, &s.ChatID, &s.Sender, &s.Status, &at); err != nil {
			return nil, fmt.Errorf("sqlite: find campaign sends: %w", err)
		}
		s.At = fromNanos(at)
		out = append(out, s)
	}
	return out, rows.Err()
}

// CountCampaignSends implements store.CampaignStore.
func (db *DB) CountCampaignSends(ctx context.Context, from, to time.Time) (map[string]int, error) {
	out := map[string]int{}
	if err := db.countSendsInto(ctx, out, `SELECT customer_id, count(*) FROM campaign_sends
		WHERE at >= ? AND at < ? AND status IN (?, ?) GROUP BY customer_id`,
		[]any{nanos(from), nanos(to), store.SendPending, store.SendDelivered}); err != nil {
		return nil, err
	}
	return out, nil
}

// scrubCampaignTasks takes an erased customer's identity values out of the
// campaign tasks that list them (EraseCustomer, inside its transaction).
func scrubCampaignTasks(ctx context.Context, tx *sql.Tx, values []string) error {
	for _, v := range values {
		if v == "" {
			continue
		}
		rows, err := tx.QueryContext(ctx, `SELECT doc FROM campaign_tasks WHERE instr(doc, ?) > 0`, `"`+v+`"`)
		tasks, err := scanDocs[store.CampaignTask](rows, err, "campaign tasks")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			if !store.ScrubCampaignTask(t, values) {
				continue
			}
			doc, err := docOf(t)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE campaign_tasks SET doc = ? WHERE campaign_id = ? AND sender = ? AND chunk = ?`,
				doc, t.CampaignID, t.Sender, t.Chunk); err != nil {
				return fmt.Errorf("scrub campaign task: %w", err)
			}
		}
	}
	return nil
}
