package sqlite

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

// TestCRMQueryPlans pins the indexes the CRM queries rely on, as
// TestQueryPlans does for the event log.
func TestCRMQueryPlans(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	findQuery := func(f store.CustomerFilter) (string, []any) {
		p, err := db.planCustomers(ctx, f, false)
		if err != nil {
			t.Fatal(err)
		}
		if p.union != "" {
			return `SELECT c.id FROM customers AS c WHERE c.id IN (` + p.union + ` ORDER BY 1 LIMIT ?) ORDER BY c.id`, append(p.args, 50)
		}
		return `SELECT c.id FROM ` + p.from + ` WHERE ` + strings.Join(p.where, " AND ") + ` ORDER BY ` + p.key + ` LIMIT ?`, append(p.args, 50)
	}
	countQuery := func(f store.CustomerFilter) (string, []any) {
		p, err := db.planCustomers(ctx, f, true)
		if err != nil {
			t.Fatal(err)
		}
		return `SELECT COUNT(*) FROM ` + p.from + ` WHERE ` + strings.Join(p.where, " AND "), p.args
	}
	type query struct {
		q    string
		args []any
	}
	q := func(s string, args []any) query { return query{s, args} }
	now := time.Now()
	tests := []struct {
		name  string
		query query
		want  []string
		never []string
	}{
		{"TeamMergesFollowLists", q(findQuery(store.CustomerFilter{StaffIDs: []string{"a", "b", "c"}, Tag: "vip"})),
			[]string{"MERGE (UNION)", "customer_follows_staff"}, []string{"TEMP B-TREE", "SCAN"}},
		{"TeamCount", q(countQuery(store.CustomerFilter{StaffIDs: []string{"a", "b"}})),
			[]string{"customer_follows_staff"}, []string{"SCAN c"}},
		{"StaffWithinTeam", q(findQuery(store.CustomerFilter{StaffID: "a", StaffIDs: []string{"b"}})),
			[]string{"customer_follows_staff", "USING PRIMARY KEY (customer_id=? AND staff_id=?)"}, []string{"TEMP B-TREE", "SCAN"}},
		// An empty store has a sparse range: read from the index, then sort.
		{"ContactSparse", q(findQuery(store.CustomerFilter{LastContactBefore: now})),
			[]string{"customers_last_contact"}, []string{"SCAN"}},
		{"ContactCount", q(countQuery(store.CustomerFilter{LastContactBefore: now})),
			[]string{"customers_last_contact"}, []string{"SCAN"}},
		{"ClaimReminders", q(`SELECT id FROM reminders WHERE status = 'pending' AND due_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
			ORDER BY due_at, id LIMIT ?`, []any{1, 1, 10}), []string{"COVERING INDEX reminders_due"}, []string{"TEMP B-TREE"}},
		{"RemindersOfStaff", q(`SELECT id FROM reminders WHERE staff_id = ? ORDER BY due_at, id LIMIT ?`, []any{"s", 10}),
			[]string{"reminders_staff"}, []string{"TEMP B-TREE"}},
		{"RemindersOfCustomer", q(`SELECT id FROM reminders WHERE customer_id = ? ORDER BY due_at, id LIMIT ?`, []any{1, 10}),
			[]string{"reminders_customer"}, []string{"TEMP B-TREE"}},
		{"ClaimJobs", q(`SELECT key FROM jobs WHERE kind = ? AND due_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
			ORDER BY due_at LIMIT ?`, []any{"analyze", 1, 1, 10}), []string{"jobs_due"}, []string{"TEMP B-TREE"}},
		// A journey's message counts its one customer's sends of the month.
		{"SendsOfCustomers", q(countSendsOfQuery(3), []any{"a", "b", "c", 1, 2, store.SendPending, store.SendDelivered}),
			[]string{"campaign_sends_customer (customer_id=? AND at>? AND at<?)"}, []string{"SCAN"}},
		{"AuditOfTarget", q(`SELECT id FROM audit WHERE id < ? AND target = ? ORDER BY id DESC LIMIT ?`, []any{100, "x", 10}),
			[]string{"audit_target"}, []string{"TEMP B-TREE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := explain(t, db, tc.query.q, tc.query.args...)
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

func explain(t *testing.T, db *DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.r.Query("EXPLAIN QUERY PLAN "+q, args...)
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
	return strings.Join(plan, "\n")
}
