package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/scrmhq/scrm/store"
)

// Journeys and runs are JSON documents (docOf, scanDoc in campaigns.go)
// beside the columns they are found by; every update is a compare-and-set
// on the version column.

// CreateJourney implements store.JourneyStore.
func (db *DB) CreateJourney(ctx context.Context, j *store.Journey) error {
	if j == nil || j.ID == "" || j.Name == "" {
		return fmt.Errorf("sqlite: create journey: id and name required: %w", store.ErrInvalid)
	}
	if j.Version == 0 {
		j.Version = 1
	}
	doc, err := docOf(j)
	if err != nil {
		return err
	}
	return insertDoc(ctx, db, "journey", `INSERT INTO journeys (id, doc, version, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		j.ID, doc, j.Version, nanos(j.CreatedAt))
}

// UpdateJourney implements store.JourneyStore.
func (db *DB) UpdateJourney(ctx context.Context, j *store.Journey, version int64) error {
	next := *j
	next.Version = version + 1
	doc, err := docOf(&next)
	if err != nil {
		return err
	}
	if err := db.compareAndSet(ctx, "journey", `UPDATE journeys SET doc = ?, version = ? WHERE id = ? AND version = ?`,
		`SELECT 1 FROM journeys WHERE id = ?`, j.ID, doc, next.Version, j.ID, version); err != nil {
		return err
	}
	j.Version = next.Version
	return nil
}

// compareAndSet runs update (whose arguments end with the ID and the
// expected version) and tells a missing record (exists, by id) from one
// that changed meanwhile.
func (db *DB) compareAndSet(ctx context.Context, what, update, exists, id string, args ...any) error {
	res, err := db.w.ExecContext(ctx, update, args...)
	if err != nil {
		return fmt.Errorf("sqlite: update %s: %w", what, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	var one int
	if err := db.w.QueryRowContext(ctx, exists, id).Scan(&one); err != nil {
		return fmt.Errorf("sqlite: update %s %s: %w", what, id, store.ErrNotFound)
	}
	return fmt.Errorf("sqlite: update %s %s: changed meanwhile: %w", what, id, store.ErrConflict)
}

// FindJourneyByID implements store.JourneyStore.
func (db *DB) FindJourneyByID(ctx context.Context, id string) (*store.Journey, error) {
	return scanDoc[store.Journey](db.r.QueryRowContext(ctx, `SELECT doc FROM journeys WHERE id = ?`, id), "journey", id)
}

// FindJourneys implements store.JourneyStore.
func (db *DB) FindJourneys(ctx context.Context) ([]*store.Journey, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT doc FROM journeys ORDER BY created_at, id`)
	return scanDocs[store.Journey](rows, err, "journeys")
}

func validRun(r *store.JourneyRun) error {
	if r == nil || r.ID == "" || r.JourneyID == "" || r.CustomerID == "" || r.Occurrence == "" {
		return fmt.Errorf("journey run: id, journey, customer and occurrence required: %w", store.ErrInvalid)
	}
	return nil
}

// CreateJourneyRun implements store.JourneyStore.
func (db *DB) CreateJourneyRun(ctx context.Context, r *store.JourneyRun) (bool, error) {
	if err := validRun(r); err != nil {
		return false, fmt.Errorf("sqlite: create %w", err)
	}
	if r.Version == 0 {
		r.Version = 1
	}
	doc, err := docOf(r)
	if err != nil {
		return false, err
	}
	res, err := db.w.ExecContext(ctx, `INSERT INTO journey_runs (id, journey_id, customer_id, occurrence, state, next_at, started_at, version, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		r.ID, r.JourneyID, r.CustomerID, r.Occurrence, r.State, nanos(r.NextAt), nanos(r.StartedAt), r.Version, doc)
	if err != nil {
		return false, fmt.Errorf("sqlite: create journey run: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// UpdateJourneyRun implements store.JourneyStore.
func (db *DB) UpdateJourneyRun(ctx context.Context, r *store.JourneyRun, version int64) error {
	next := *r
	next.Version = version + 1
	doc, err := docOf(&next)
	if err != nil {
		return err
	}
	if err := db.compareAndSet(ctx, "journey run", `UPDATE journey_runs SET state = ?, next_at = ?, version = ?, doc = ? WHERE id = ? AND version = ?`,
		`SELECT 1 FROM journey_runs WHERE id = ?`, r.ID, next.State, nanos(next.NextAt), next.Version, doc, r.ID, version); err != nil {
		return err
	}
	r.Version = next.Version
	return nil
}

// FindJourneyRunByID implements store.JourneyStore.
func (db *DB) FindJourneyRunByID(ctx context.Context, id string) (*store.JourneyRun, error) {
	return scanDoc[store.JourneyRun](db.r.QueryRowContext(ctx, `SELECT doc FROM journey_runs WHERE id = ?`, id), "journey run", id)
}

// FindDueJourneyRuns implements store.JourneyStore.
func (db *DB) FindDueJourneyRuns(ctx context.Context, now time.Time, limit int) ([]*store.JourneyRun, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.r.QueryContext(ctx, `SELECT doc FROM journey_runs WHERE state = 'active' AND next_at <= ? ORDER BY next_at LIMIT ?`,
		nanos(now), limit)
	return scanDocs[store.JourneyRun](rows, err, "due journey runs")
}

// FindJourneyRuns implements store.JourneyStore.
func (db *DB) FindJourneyRuns(ctx context.Context, f store.JourneyRunFilter) ([]*store.JourneyRun, error) {
	if f.JourneyID == "" && f.CustomerID == "" {
		return nil, fmt.Errorf("sqlite: find journey runs: journey or customer required: %w", store.ErrInvalid)
	}
	q, args := `SELECT doc FROM journey_runs WHERE 1 = 1`, []any{}
	for _, c := range []struct{ col, v string }{{"journey_id", f.JourneyID}, {"customer_id", f.CustomerID}, {"state", f.State}} {
		if c.v != "" {
			q += " AND " + c.col + " = ?"
			args = append(args, c.v)
		}
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := db.r.QueryContext(ctx, q+` ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?`, append(args, f.Limit, max(f.Offset, 0))...)
	return scanDocs[store.JourneyRun](rows, err, "journey runs")
}

// CountJourneyRuns implements store.JourneyStore.
func (db *DB) CountJourneyRuns(ctx context.Context) (map[string]store.JourneyRunCounts, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT journey_id, state, COUNT(*) FROM journey_runs GROUP BY journey_id, state`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count journey runs: %w", err)
	}
	defer rows.Close()
	out := map[string]store.JourneyRunCounts{}
	for rows.Next() {
		var id, state string
		var n int
		if err := rows.Scan(&id, &state, &n); err != nil {
			return nil, fmt.Errorf("sqlite: count journey runs: %w", err)
		}
		c := out[id]
		c.Add(state, n)
		out[id] = c
	}
	return out, rows.Err()
}
