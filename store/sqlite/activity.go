package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
)

// followUpTerms select follow-ups (store.IsFollowUp) in SQL. They repeat the
// WHERE of the partial index timeline_followups word for word: SQLite uses a
// partial index only when the query's terms include the index's.
const followUpTerms = `staff_id <> '' AND (kind = 'note' OR (kind = 'message' AND direction = 'out'))`

// trackActivity keeps the write-time activity of customer cid current after
// e was inserted: a customer message starts the wait for an answer (unless a
// later follow-up already happened, as when old messages are imported late);
// a follow-up raises the last staff touch and, when it answered, ends the
// wait. answered reports whether e was stamped with a wait.
func trackActivity(ctx context.Context, tx *sql.Tx, cid int64, e *store.TimelineEntry, answered bool) error {
	at := nanos(e.At)
	var err error
	switch {
	case store.IsCustomerMessage(e):
		_, err = tx.ExecContext(ctx, `UPDATE customers SET awaiting_since = CASE
				WHEN ?1 < COALESCE(last_staff_touch_at, 0) THEN awaiting_since
				WHEN awaiting_since IS NULL OR ?1 < awaiting_since THEN ?1
				ELSE awaiting_since END
			WHERE id = ?2`, at, cid)
	case store.IsFollowUp(e):
		_, err = tx.ExecContext(ctx, `UPDATE customers SET
				last_staff_touch_at = MAX(COALESCE(last_staff_touch_at, 0), ?1),
				awaiting_since = CASE WHEN ?2 THEN NULL ELSE awaiting_since END
			WHERE id = ?3`, at, answered, cid)
	}
	if err != nil {
		return fmt.Errorf("track activity: %w", err)
	}
	return nil
}

// followUpQuery sums the follow-ups of n staff members in a time range.
func followUpQuery(n int) string {
	return `SELECT staff_id, COUNT(*), COUNT(waited), COALESCE(SUM(waited), 0) FROM timeline
		WHERE staff_id IN (` + placeholders(n) + `) AND at >= ? AND at < ? AND ` + followUpTerms + `
		GROUP BY staff_id`
}

// newFollowQuery counts the follows n staff members gained in a time range.
func newFollowQuery(n int) string {
	return `SELECT staff_id, COUNT(*) FROM customer_follows
		WHERE staff_id IN (` + placeholders(n) + `) AND added_at >= ? AND added_at < ?
		GROUP BY staff_id`
}

// FollowUpStats sums the follow-ups of staffIDs in [from, to) from the
// timeline_followups index alone.
func (db *DB) FollowUpStats(ctx context.Context, staffIDs []string, from, to time.Time) (map[string]store.FollowUpStats, error) {
	out := map[string]store.FollowUpStats{}
	if len(staffIDs) == 0 {
		return out, nil
	}
	args := append(staffArgs(staffIDs), nanos(from), nanos(to))
	err := eachRow(ctx, db.r, followUpQuery(len(staffIDs)), args, func(r *sql.Rows) error {
		var (
			id     string
			s      store.FollowUpStats
			waited int64
		)
		if err := r.Scan(&id, &s.FollowUps, &s.Responses, &waited); err != nil {
			return err
		}
		s.ResponseTime = time.Duration(waited)
		out[id] = s
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: follow-up stats: %w", err)
	}
	return out, nil
}

// NewFollowCounts counts follows added in [from, to) per staff member.
func (db *DB) NewFollowCounts(ctx context.Context, staffIDs []string, from, to time.Time) (map[string]int64, error) {
	out := map[string]int64{}
	if len(staffIDs) == 0 {
		return out, nil
	}
	args := append(staffArgs(staffIDs), nanos(from), nanos(to))
	out, err := db.countBy(ctx, newFollowQuery(len(staffIDs)), args)
	if err != nil {
		return nil, fmt.Errorf("sqlite: new follow counts: %w", err)
	}
	return out, nil
}

// followerQuery counts the customers n staff members follow, in a stage
// when staged: the stage is kept on each follow (migration 0016), so both
// are index-only grouped counts (customer_follows_staff, _stage).
func followerQuery(n int, staged bool) string {
	if !staged {
		return `SELECT staff_id, COUNT(*) FROM customer_follows
			WHERE staff_id IN (` + placeholders(n) + `) AND deleted = 0 GROUP BY staff_id`
	}
	return `SELECT staff_id, COUNT(*) FROM customer_follows INDEXED BY customer_follows_stage
		WHERE staff_id IN (` + placeholders(n) + `) AND stage = ? AND deleted = 0 GROUP BY staff_id`
}

// FollowerCounts counts the customers each staff member follows, in one
// grouped query.
func (db *DB) FollowerCounts(ctx context.Context, staffIDs []string, stage string) (map[string]int64, error) {
	out := map[string]int64{}
	if len(staffIDs) == 0 {
		return out, nil
	}
	args := staffArgs(staffIDs)
	if stage != "" {
		args = append(args, stage)
	}
	out, err := db.countBy(ctx, followerQuery(len(staffIDs), stage != ""), args)
	if err != nil {
		return nil, fmt.Errorf("sqlite: follower counts: %w", err)
	}
	return out, nil
}

// staffArgs are staff IDs as query arguments.
func staffArgs(ids []string) []any {
	args := make([]any, len(ids), len(ids)+2)
	for i, id := range ids {
		args[i] = id
	}
	return args
}

// countBy runs a query of (key, count) rows into a map.
func (db *DB) countBy(ctx context.Context, query string, args []any) (map[string]int64, error) {
	out := map[string]int64{}
	err := eachRow(ctx, db.r, query, args, func(r *sql.Rows) error {
		var (
			key string
			n   int64
		)
		if err := r.Scan(&key, &n); err != nil {
			return err
		}
		out[key] += n
		return nil
	})
	return out, err
}

// SentimentCounts groups the customers matching f by their latest
// sentiment label, planned like CountCustomers.
func (db *DB) SentimentCounts(ctx context.Context, f store.CustomerFilter) (map[string]int64, error) {
	f.AfterID, f.Limit = "", 0
	q, err := db.planCustomers(ctx, f, true)
	if err != nil {
		return nil, fmt.Errorf("sqlite: sentiment counts: %w", err)
	}
	if q.none {
		return map[string]int64{}, nil
	}
	out, err := db.countBy(ctx, `SELECT COALESCE(json_extract(c.insight, '$.sentiment_label'), ''), COUNT(*) FROM `+q.from+
		` WHERE `+strings.Join(q.where, " AND ")+` GROUP BY 1`, q.args)
	if err != nil {
		return nil, fmt.Errorf("sqlite: sentiment counts: %w", err)
	}
	return out, nil
}
