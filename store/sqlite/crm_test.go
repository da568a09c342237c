package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

// TestEraseLeavesNoBytes checks the file level of an erase: the contract
// suite proves no row keeps the customer's words; here not even the free
// space of the database file or the WAL may, although the words were
// written, rewritten and moved before the erase.
func TestEraseLeavesNoBytes(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	secrets := []string{"绝密客户姓名甲乙丙", "wmBytesSecretExternal", "绝密消息内容丁戊己", "绝密备注庚辛壬"}
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	c, err := db.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: secrets[1]},
		Name: secrets[0] + "旧", Follow: &store.Follow{StaffID: "s1", Remark: secrets[3], AddedAt: base}, Now: base})
	if err != nil {
		t.Fatal(err)
	}
	// A rename leaves the old cell behind in the page's free space.
	if _, err := db.UpdateCustomer(ctx, c.ID, store.CustomerUpdate{Name: ptr(secrets[0]), Now: base}); err != nil {
		t.Fatal(err)
	}
	filler := strings.Repeat("填充", 200)
	for i := range 300 {
		text := filler
		if i%50 == 0 {
			text = secrets[2] + filler
		}
		e := &store.TimelineEntry{CustomerID: c.ID, SourceKey: fmt.Sprintf("k%d", i), Kind: store.EntryMessage, Text: text, At: base}
		if _, err := db.AppendTimeline(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	ev := &store.Event{DedupKey: "msg:wecom:1", Channel: store.ChannelWeCom, Kind: "text", CustomerID: secrets[1], Text: secrets[2],
		Raw: []byte("<xml>" + secrets[2] + "</xml>"), OccurredAt: base, ReceivedAt: base}
	if _, err := db.AppendEvents(ctx, []*store.Event{ev}); err != nil {
		t.Fatal(err)
	}
	// Move everything through a checkpoint, so the words are in the main
	// file as well as in the WAL.
	if _, err := db.w.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
		t.Fatal(err)
	}
	other, err := db.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: "wmOther"},
		Name: "留下的客户", Now: base})
	if err != nil {
		t.Fatal(err)
	}
	files := func() []byte {
		var all []byte
		for _, suffix := range []string{"", "-wal"} {
			b, err := os.ReadFile(db.Path() + suffix)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		return all
	}
	before := files()
	for _, s := range secrets {
		if !bytes.Contains(before, []byte(s)) {
			t.Fatalf("%q is not in the files before the erase; the test would prove nothing", s)
		}
	}
	if err := db.EraseCustomer(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	after := files()
	for _, s := range secrets {
		if bytes.Contains(after, []byte(s)) {
			t.Errorf("%q is still in the database files after the erase", s)
		}
	}
	if !bytes.Contains(after, []byte("留下的客户")) {
		t.Error("the other customer's name is gone from the files")
	}
	if got, err := db.FindCustomerByID(ctx, other.ID); err != nil || got.Name != "留下的客户" {
		t.Errorf("other customer = %+v, %v", got, err)
	}
	// secure_delete is fully on only for the erase (FAST is 2).
	var mode int
	if err := db.w.QueryRowContext(ctx, `PRAGMA secure_delete`).Scan(&mode); err != nil || mode != 2 {
		t.Errorf("secure_delete after the erase = %d, %v; want 2 (FAST)", mode, err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestFindCustomersPlans cross-checks FindCustomers and CountCustomers
// against a brute-force filter over 5,000 customers, so both the sparse and
// the dense last-contact plans and the team merge run on real data.
func TestFindCustomersPlans(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, t.TempDir(), WithSynchronous("NORMAL"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 5000
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	type row struct {
		id      int64
		name    string
		stage   string
		staff   []string
		tag     bool
		contact int64 // 0: never
	}
	rows := make([]row, 0, n)
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		for i := 1; i <= n; i++ {
			r := row{id: int64(i), name: fmt.Sprintf("客户%04d", i), stage: []string{store.StageLead, store.StageWon}[i%2],
				tag: i%7 == 0}
			if i%10 != 0 {
				r.contact = base.Add(time.Duration(i%1000) * time.Hour).UnixNano()
			}
			r.staff = []string{fmt.Sprintf("s%d", i%13)}
			if i%5 == 0 {
				r.staff = append(r.staff, fmt.Sprintf("s%d", (i/5)%13))
			}
			var cust, staffAt any
			if r.contact != 0 {
				// Split the last contact over both columns.
				if i%2 == 0 {
					cust, staffAt = r.contact, r.contact-int64(time.Hour)
				} else {
					cust, staffAt = r.contact-int64(time.Minute), r.contact
				}
			}
			if _, err := tx.Exec(`INSERT INTO customers (id, name, stage, last_customer_msg_at, last_staff_touch_at, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, 1, 1)`, r.id, r.name, r.stage, cust, staffAt); err != nil {
				return err
			}
			for _, s := range r.staff {
				if _, err := tx.Exec(`INSERT OR IGNORE INTO customer_follows (customer_id, staff_id, added_at, deleted) VALUES (?, ?, 1, ?)`,
					r.id, s, i%11 == 0 && len(r.staff) == 1); err != nil {
					return err
				}
			}
			if i%11 == 0 && len(r.staff) == 1 {
				r.staff = nil // the follow ended
			}
			if r.tag {
				if _, err := tx.Exec(`INSERT INTO customer_tags (customer_id, tag) VALUES (?, 'vip')`, r.id); err != nil {
					return err
				}
			}
			rows = append(rows, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	tests := []struct {
		name string
		f    store.CustomerFilter
	}{
		{"BeforeDense", store.CustomerFilter{LastContactBefore: at(900)}},
		{"BeforeSparse", store.CustomerFilter{LastContactBefore: at(3)}},
		{"AfterDense", store.CustomerFilter{LastContactAfter: at(100)}},
		{"AfterSparse", store.CustomerFilter{LastContactAfter: at(998)}},
		{"BetweenSparseWithStage", store.CustomerFilter{LastContactAfter: at(500), LastContactBefore: at(520), Stage: store.StageWon}},
		{"BeforeDenseWithQuery", store.CustomerFilter{LastContactBefore: at(600), Query: "客户4"}},
		{"Team", store.CustomerFilter{StaffIDs: []string{"s1", "s2", "s3"}}},
		{"TeamAndBefore", store.CustomerFilter{StaffIDs: []string{"s4", "s5"}, LastContactBefore: at(200)}},
		{"TeamAndTag", store.CustomerFilter{StaffIDs: []string{"s6", "s7", "s8", "s9"}, Tag: "vip"}},
		{"StaffAndTeam", store.CustomerFilter{StaffID: "s1", StaffIDs: []string{"s8", "s9"}}},
		{"TagAndAfter", store.CustomerFilter{Tag: "vip", LastContactAfter: at(700)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			var want []int64
			for _, r := range rows {
				if matches(r.name, r.stage, r.staff, r.tag, r.contact, f) {
					want = append(want, r.id)
				}
			}
			if len(want) == 0 {
				t.Fatal("the filter matches nothing; the test would prove little")
			}
			var got []int64
			f.Limit = 97
			for {
				page, err := db.FindCustomers(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				for _, c := range page {
					id, _ := parseID(c.ID)
					got = append(got, id)
				}
				f.AfterID = page[len(page)-1].ID
			}
			if !slices.Equal(got, want) {
				t.Fatalf("FindCustomers returned %d customers, want %d (first diff near %v)", len(got), len(want), firstDiff(got, want))
			}
			if cnt, err := db.CountCustomers(ctx, tc.f); err != nil || cnt != int64(len(want)) {
				t.Fatalf("CountCustomers = %d, %v; want %d", cnt, err, len(want))
			}
		})
	}
}

func matches(name, stage string, staff []string, tag bool, contact int64, f store.CustomerFilter) bool {
	anyOf := func(list []string) bool {
		return slices.ContainsFunc(staff, func(s string) bool { return slices.Contains(list, s) })
	}
	switch {
	case f.StaffID != "" && !slices.Contains(staff, f.StaffID),
		f.StaffIDs != nil && !anyOf(f.StaffIDs),
		f.Tag != "" && !tag,
		f.Stage != "" && stage != f.Stage,
		f.Query != "" && !strings.Contains(name, f.Query),
		!f.LastContactBefore.IsZero() && contact >= f.LastContactBefore.UnixNano(),
		!f.LastContactAfter.IsZero() && contact < f.LastContactAfter.UnixNano():
		return false
	}
	return true
}

func firstDiff(a, b []int64) []int64 {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return []int64{a[i], b[i]}
		}
	}
	return nil
}
