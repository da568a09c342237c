package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"strings"
	"testing"
)

// TestQueryPlans pins the indexes the hot queries rely on, so a schema or
// query change that silently falls back to a table scan fails here.
func TestQueryPlans(t *testing.T) {
	db, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tests := []struct {
		name  string
		query string
		args  []any
		want  []string // substrings of the plan
		never []string
	}{
		{"Claim", `SELECT id FROM events WHERE processed_at IS NULL AND (lease_until IS NULL OR lease_until <= ?) AND next_attempt_at <= ? ORDER BY id LIMIT ?`,
			[]any{1, 1, 10}, []string{"USING COVERING INDEX events_pending"}, []string{"TEMP B-TREE"}},
		{"Oldest", `SELECT received_at FROM events WHERE processed_at IS NULL ORDER BY id LIMIT 1`,
			nil, []string{"events_pending"}, []string{"TEMP B-TREE"}},
		{"Dedup", `SELECT 1 FROM events WHERE dedup_key = ?`, []any{"k"}, []string{"sqlite_autoindex_events_1"}, nil},
		{"Timeline", `SELECT id FROM timeline WHERE customer_id = ? AND id < ? ORDER BY id DESC LIMIT ?`,
			[]any{1, 10, 50}, []string{"timeline_customer"}, []string{"TEMP B-TREE"}},
		{"CustomersByStaff", `SELECT c.id FROM customer_follows AS f CROSS JOIN customers AS c ON c.id = f.customer_id
			WHERE f.staff_id = ? AND f.deleted = 0 AND f.customer_id > ? AND c.stage = ? ORDER BY f.customer_id LIMIT ?`,
			[]any{"s", 0, "x", 50}, []string{"customer_follows_staff"}, []string{"TEMP B-TREE", "SCAN c"}},
		{"CustomersByTag", `SELECT c.id FROM customer_tags AS t CROSS JOIN customers AS c ON c.id = t.customer_id
			WHERE t.tag = ? AND t.customer_id > ? ORDER BY t.customer_id LIMIT ?`,
			[]any{"vip", 0, 50}, []string{"customer_tags_tag"}, []string{"TEMP B-TREE", "SCAN c"}},
		{"FollowUps", followUpQuery(2), []any{"a", "b", 0, 1},
			[]string{"USING COVERING INDEX timeline_followups"}, []string{"SCAN timeline", "TEMP B-TREE"}},
		{"NewFollows", newFollowQuery(2), []any{"a", "b", 0, 1},
			[]string{"USING COVERING INDEX customer_follows_added"}, []string{"SCAN customer_follows"}},
		{"Followers", followerQuery(2, false), []any{"a", "b"},
			[]string{"USING COVERING INDEX customer_follows_staff"}, []string{"SCAN customer_follows"}},
		{"FollowersInStage", followerQuery(2, true), []any{"a", "b", "x"},
			[]string{"USING COVERING INDEX customer_follows_stage"}, []string{"SCAN", "customers"}},
		{"LostFollows", lostQuery(2), []any{"a", "b", "x"},
			[]string{"USING COVERING INDEX customer_follows_stage"}, []string{"SCAN", "customers"}},
		{"StageCounts", stageCountQuery(2), []any{"a", "b"},
			[]string{"USING COVERING INDEX customer_follows_stage"}, []string{"SCAN customer_follows", "customers"}},
		{"OpenConcerns", concernQuery(2), []any{0, "a", "b"},
			[]string{"USING INDEX customers_concern", "SEARCH f USING PRIMARY KEY"}, []string{"SCAN"}},
		{"WaitingFollows", waitingQuery(2), []any{"a", "b", 0},
			[]string{"USING COVERING INDEX customer_follows_waiting"}, []string{"SCAN", "customers"}},
		{"CustomersByStage", `SELECT c.id FROM customers AS c WHERE c.id > ? AND c.stage = ? ORDER BY c.id LIMIT ?`,
			[]any{0, "x", 50}, []string{"customers_stage"}, []string{"TEMP B-TREE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := db.r.Query("EXPLAIN QUERY PLAN "+tc.query, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			got := strings.Join(plan, "\n")
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("plan lacks %q:\n%s", w, got)
				}
			}
			for _, n := range tc.never {
				if strings.Contains(got, n) {
					t.Errorf("plan has %q:\n%s", n, got)
				}
			}
		})
	}
}

// TestPragmas checks the connection settings durability and integrity rely on.
func TestPragmas(t *testing.T) {
	db, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tests := []struct {
		name, pragma, want string
		pool               func() *sql.DB
	}{
		{"WriterJournal", "journal_mode", "wal", func() *sql.DB { return db.w }},
		{"WriterSynchronous", "synchronous", "2", func() *sql.DB { return db.w }}, // FULL
		{"WriterForeignKeys", "foreign_keys", "1", func() *sql.DB { return db.w }},
		{"WriterBusyTimeout", "busy_timeout", "10000", func() *sql.DB { return db.w }},
		{"WriterSecureDelete", "secure_delete", "2", func() *sql.DB { return db.w }}, // FAST
		{"ReaderForeignKeys", "foreign_keys", "1", func() *sql.DB { return db.r }},
		{"ReaderQueryOnly", "query_only", "1", func() *sql.DB { return db.r }},
		{"ReaderJournal", "journal_mode", "wal", func() *sql.DB { return db.r }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			if err := tc.pool().QueryRow("PRAGMA " + tc.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
			}
		})
	}
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.r.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(files) {
		t.Errorf("schema_migrations rows = %d, %v; want %d", n, err, len(files))
	}
}
