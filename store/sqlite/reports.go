package sqlite

import (
	"context"
	"database/sql"
	"fmt"
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
