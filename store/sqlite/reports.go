package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
)

// incomingTerms select customer messages with a staff member in SQL; they
// repeat the WHERE of the partial index timeline_incoming.
const incomingTerms = `staff_id <> '' AND kind = 'message' AND direction = 'in'`

// ActivityByDay runs two grouped, index-only counts per period: the
// follow-ups (timeline_followups) and the customer messages
// (timeline_incoming). A month is 60 small queries on the read pool.
func (db *DB) ActivityByDay(ctx context.Context, staffIDs []string, bounds []time.Time) (map[string][]store.DayActivity, error) {
	out := map[string][]store.DayActivity{}
	if len(staffIDs) == 0 || len(bounds) < 2 {
		return out, nil
	}
	days := len(bounds) - 1
	day := func(id string) []store.DayActivity {
		d, ok := out[id]
		if !ok {
			d = make([]store.DayActivity, days)
			out[id] = d
		}
		return d
	}
	ph := placeholders(len(staffIDs))
	follow := `SELECT staff_id, COUNT(*), COALESCE(SUM(kind = 'message'), 0) FROM timeline
		WHERE staff_id IN (` + ph + `) AND at >= ? AND at < ? AND ` + followUpTerms + ` GROUP BY staff_id`
	incoming := `SELECT staff_id, COUNT(*) FROM timeline
		WHERE staff_id IN (` + ph + `) AND at >= ? AND at < ? AND ` + incomingTerms + ` GROUP BY staff_id`
	for i := range days {
		args := append(staffArgs(staffIDs), nanos(bounds[i]), nanos(bounds[i+1]))
		err := eachRow(ctx, db.r, follow, args, func(r *sql.Rows) error {
			var (
				id       string
				all, msg int64
			)
			if err := r.Scan(&id, &all, &msg); err != nil {
				return err
			}
			d := day(id)
			d[i].FollowUps, d[i].MessagesOut = all, msg
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("sqlite: activity by day: %w", err)
		}
		err = eachRow(ctx, db.r, incoming, args, func(r *sql.Rows) error {
			var (
				id string
				n  int64
			)
			if err := r.Scan(&id, &n); err != nil {
				return err
			}
			day(id)[i].MessagesIn = n
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("sqlite: activity by day: %w", err)
		}
	}
	return out, nil
}

// ResponseWaits reads the stamped follow-ups from the timeline_waits index.
func (db *DB) ResponseWaits(ctx context.Context, staffIDs []string, from, to time.Time) ([]store.ResponseWait, error) {
	if len(staffIDs) == 0 {
		return nil, nil
	}
	q := `SELECT staff_id, at, waited FROM timeline
		WHERE staff_id IN (` + placeholders(len(staffIDs)) + `) AND at >= ? AND at < ? AND waited IS NOT NULL
		ORDER BY at, staff_id`
	args := append(staffArgs(staffIDs), nanos(from), nanos(to))
	var out []store.ResponseWait
	err := eachRow(ctx, db.r, q, args, func(r *sql.Rows) error {
		var (
			w          store.ResponseWait
			at, waited int64
		)
		if err := r.Scan(&w.StaffID, &at, &waited); err != nil {
			return err
		}
		w.At, w.Waited = fromNanos(at), time.Duration(waited)
		out = append(out, w)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: response waits: %w", err)
	}
	return out, nil
}

// NewFollowsByDay reads the follows added in the whole period through the
// staff/added_at index and buckets them here: one query, not one per day.
func (db *DB) NewFollowsByDay(ctx context.Context, staffIDs []string, bounds []time.Time) (map[string][]int64, error) {
	out := map[string][]int64{}
	if len(staffIDs) == 0 || len(bounds) < 2 {
		return out, nil
	}
	args := append(staffArgs(staffIDs), nanos(bounds[0]), nanos(bounds[len(bounds)-1]))
	err := eachRow(ctx, db.r, `SELECT staff_id, added_at FROM customer_follows
		WHERE staff_id IN (`+placeholders(len(staffIDs))+`) AND added_at >= ? AND added_at < ?`, args, func(r *sql.Rows) error {
		var (
			staff string
			at    int64
		)
		if err := r.Scan(&staff, &at); err != nil {
			return err
		}
		i := store.PeriodOf(bounds, time.Unix(0, at))
		if i < 0 {
			return nil
		}
		if out[staff] == nil {
			out[staff] = make([]int64, len(bounds)-1)
		}
		out[staff][i]++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: new follows by day: %w", err)
	}
	return out, nil
}

// SentimentByDay reads the last contact and label of the customers in touch
// in the period, planned like CountCustomers, and buckets them by day.
func (db *DB) SentimentByDay(ctx context.Context, f store.CustomerFilter, bounds []time.Time) ([]map[string]int64, error) {
	out := store.NewPeriodCounts(len(bounds) - 1)
	if len(bounds) < 2 {
		return out, nil
	}
	f.AfterID, f.Limit = "", 0
	f.LastContactAfter, f.LastContactBefore = bounds[0], bounds[len(bounds)-1]
	q, err := db.planCustomers(ctx, f, true)
	if err != nil {
		return nil, fmt.Errorf("sqlite: sentiment by day: %w", err)
	}
	if q.none {
		return out, nil
	}
	err = eachRow(ctx, db.r, `SELECT c.last_contact_at, COALESCE(json_extract(c.insight, '$.sentiment_label'), '') FROM `+q.from+
		` WHERE `+strings.Join(q.where, " AND "), q.args, func(r *sql.Rows) error {
		var (
			at    int64
			label string
		)
		if err := r.Scan(&at, &label); err != nil {
			return err
		}
		if i := store.PeriodOf(bounds, time.Unix(0, at)); i >= 0 {
			out[i][label]++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: sentiment by day: %w", err)
	}
	return out, nil
}

// lostQuery lists the follows, ended ones included, of n staff members'
// customers in a stage.
func lostQuery(n int) string {
	return `SELECT staff_id, customer_id FROM customer_follows INDEXED BY customer_follows_stage
		WHERE staff_id IN (` + placeholders(n) + `) AND stage = ? AND deleted IN (0, 1)`
}

// waitingQuery lists the waiting customers of n staff members since a time.
func waitingQuery(n int) string {
	return `SELECT staff_id, customer_id, waiting_since FROM customer_follows INDEXED BY customer_follows_waiting
		WHERE staff_id IN (` + placeholders(n) + `) AND waiting_since >= ? AND deleted = 0 AND waiting_since IS NOT NULL
		ORDER BY staff_id, waiting_since, customer_id`
}

// stageCountQuery counts n staff members' customers by stage from the
// stage kept on their follows, each customer once.
func stageCountQuery(n int) string {
	return `SELECT stage, COUNT(*) FROM (SELECT DISTINCT customer_id, stage FROM customer_follows INDEXED BY customer_follows_stage
		WHERE staff_id IN (` + placeholders(n) + `) AND deleted = 0) GROUP BY stage`
}

// StageCounts reads the follows' stage index alone.
func (db *DB) StageCounts(ctx context.Context, staffIDs []string) (map[string]int64, error) {
	if len(staffIDs) == 0 {
		return map[string]int64{}, nil
	}
	out, err := db.countBy(ctx, stageCountQuery(len(staffIDs)), staffArgs(staffIDs))
	if err != nil {
		return nil, fmt.Errorf("sqlite: stage counts: %w", err)
	}
	return out, nil
}

// LostCounts reads the stage kept on the follows (customer_follows_stage),
// ended follows included: one index range per member, no customer read.
func (db *DB) LostCounts(ctx context.Context, staffIDs []string) (map[string]int64, int64, error) {
	out := map[string]int64{}
	if len(staffIDs) == 0 {
		return out, 0, nil
	}
	args := append(staffArgs(staffIDs), store.StageLost)
	seen := map[int64]bool{}
	err := eachRow(ctx, db.r, lostQuery(len(staffIDs)), args, func(r *sql.Rows) error {
		var (
			staff string
			cid   int64
		)
		if err := r.Scan(&staff, &cid); err != nil {
			return err
		}
		out[staff]++
		seen[cid] = true
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: lost counts: %w", err)
	}
	return out, int64(len(seen)), nil
}

// WaitingFollows reads the waiting customers of each member from the
// customer_follows_waiting index.
func (db *DB) WaitingFollows(ctx context.Context, staffIDs []string, after time.Time) ([]store.FollowedCustomer, error) {
	if len(staffIDs) == 0 {
		return nil, nil
	}
	args := append(staffArgs(staffIDs), nanos(after))
	var out []store.FollowedCustomer
	err := eachRow(ctx, db.r, waitingQuery(len(staffIDs)), args, func(r *sql.Rows) error {
		var (
			w     store.FollowedCustomer
			cid   int64
			since int64
		)
		if err := r.Scan(&w.StaffID, &cid, &since); err != nil {
			return err
		}
		w.CustomerID, w.Since = formatID(cid), fromNanos(since)
		out = append(out, w)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: waiting follows: %w", err)
	}
	return out, nil
}

// concernTerms select the customers whose analysis is a concern; they
// repeat the WHERE of the partial index customers_concern word for word.
const concernTerms = `(json_extract(insight, '$.sentiment_label') = '` + store.ConcernLabel +
	`' OR json_extract(insight, '$.intent') = '` + store.ConcernIntent + `')`

// concernQuery walks the concerned customers in touch since a time
// (customers_concern) and their follows by n staff members, testing the
// touch against the analysis in SQL to the millisecond, a millisecond loose.
func concernQuery(n int) string {
	return `SELECT f.staff_id, c.id, c.last_staff_touch_at, json_extract(c.insight, '$.analyzed_at')
		FROM customers AS c INDEXED BY customers_concern CROSS JOIN customer_follows AS f ON f.customer_id = c.id
		WHERE ` + concernTerms + ` AND c.last_contact_at >= ?
			AND f.staff_id IN (` + placeholders(n) + `) AND f.deleted = 0
			AND (c.last_staff_touch_at IS NULL OR c.last_staff_touch_at <
				CAST(unixepoch(json_extract(c.insight, '$.analyzed_at'), 'subsec') * 1000 AS INTEGER) * 1000000 + 1000000)
		ORDER BY f.staff_id, c.id`
}

// OpenConcerns reads the candidates from customers_concern and settles each
// with the exact test.
func (db *DB) OpenConcerns(ctx context.Context, staffIDs []string, after time.Time) ([]store.FollowedCustomer, error) {
	if len(staffIDs) == 0 {
		return nil, nil
	}
	args := append([]any{nanos(after)}, staffArgs(staffIDs)...)
	var out []store.FollowedCustomer
	err := eachRow(ctx, db.r, concernQuery(len(staffIDs)), args, func(r *sql.Rows) error {
		var (
			w     store.FollowedCustomer
			cid   int64
			touch sql.NullInt64
			at    string
		)
		if err := r.Scan(&w.StaffID, &cid, &touch, &at); err != nil {
			return err
		}
		analyzed, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return nil // an analysis without a time is never a concern
		}
		if t := fromNullNanos(touch); t != nil && !t.Before(analyzed) {
			return nil
		}
		w.CustomerID, w.Since = formatID(cid), analyzed.UTC()
		out = append(out, w)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: open concerns: %w", err)
	}
	return out, nil
}
