package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

// Run with: go test -run '^$' -bench . -benchtime 2s ./store/sqlite/

var benchBase = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

func benchEvent(n int) *store.Event {
	return &store.Event{
		DedupKey:   fmt.Sprintf("wecom:msg:%d", n),
		Channel:    store.ChannelWeCom,
		Kind:       "text",
		FromID:     "zhangsan",
		StaffID:    "zhangsan",
		CustomerID: fmt.Sprintf("wmXYZ%08d", n%5000),
		Text:       "您好，请问这款产品下周三能发货吗？",
		MsgID:      fmt.Sprintf("%d", 7000000000000000000+n),
		Attrs:      map[string]string{"agent_id": "1000002", "msg_type": "text"},
		Raw: []byte(fmt.Sprintf(`<xml><ToUserName><![CDATA[ww1234567890abcdef]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName>`+
			`<CreateTime>1740787200</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[您好，请问这款产品下周三能发货吗？]]></Content>`+
			`<MsgId>%d</MsgId><AgentID>1000002</AgentID></xml>`, 7000000000000000000+n)),
		OccurredAt: benchBase.Add(time.Duration(n) * time.Millisecond),
		ReceivedAt: benchBase.Add(time.Duration(n) * time.Millisecond),
	}
}

func benchOpen(b *testing.B, opts ...Option) *DB {
	b.Helper()
	db, err := Open(context.Background(), b.TempDir(), opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkAppendEvents measures the ack path: one AppendEvents call per
// batch, as the server's group commit issues them.
func BenchmarkAppendEvents(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		for _, batch := range []int{1, 100, 200} {
			b.Run(fmt.Sprintf("sync=%s/batch=%d", sync, batch), func(b *testing.B) {
				db := benchOpen(b, WithSynchronous(sync))
				ctx := context.Background()
				n := 0
				evs := make([]*store.Event, batch)
				b.ResetTimer()
				for b.Loop() {
					for i := range evs {
						evs[i] = benchEvent(n)
						n++
					}
					ins, err := db.AppendEvents(ctx, evs)
					if err != nil || !ins[0] {
						b.Fatalf("append: %v %v", ins, err)
					}
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkClaimComplete measures the processing path over a log that already
// holds many processed events: claim 100, complete each.
func BenchmarkClaimComplete(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run("sync="+sync, func(b *testing.B) {
			db := benchOpen(b, WithSynchronous(sync))
			ctx := context.Background()
			const processed, pending = 200_000, 100_000
			fillEvents(b, db, processed+pending)
			if _, err := db.w.Exec(`UPDATE events SET processed_at = received_at WHERE id <= ?`, processed); err != nil {
				b.Fatal(err)
			}
			now := benchBase.Add(time.Hour)
			done := 0
			b.ResetTimer()
			for b.Loop() {
				evs, err := db.ClaimEvents(ctx, "bench", 100, now, time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				if len(evs) == 0 {
					b.Fatal("log drained; raise pending")
				}
				for _, e := range evs {
					if err := db.CompleteEvent(ctx, e.ID, "bench", now); err != nil {
						b.Fatal(err)
					}
				}
				done += len(evs)
			}
			b.ReportMetric(float64(done)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func fillEvents(b *testing.B, db *DB, n int) {
	b.Helper()
	ctx := context.Background()
	const batch = 1000
	evs := make([]*store.Event, 0, batch)
	for i := range n {
		evs = append(evs, benchEvent(i))
		if len(evs) == batch || i == n-1 {
			if _, err := db.AppendEvents(ctx, evs); err != nil {
				b.Fatal(err)
			}
			evs = evs[:0]
		}
	}
}

// BenchmarkQueries measures the read paths at CRM scale: 100k customers
// followed by 50 staff members, 1M timeline entries.
func BenchmarkQueries(b *testing.B) {
	db := benchOpen(b, WithSynchronous("NORMAL"))
	ctx := context.Background()
	const customers, staff, entries, heavy = 100_000, 50, 1_000_000, 50_000
	fillCustomers(b, db, customers, staff)
	fillTimeline(b, db, customers, entries, heavy)
	var mid int64
	if err := db.r.QueryRow(`SELECT id FROM timeline WHERE customer_id = 1 ORDER BY id LIMIT 1 OFFSET ?`, heavy/2).Scan(&mid); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))

	timeline := []struct {
		name   string
		cid    func() string
		before int64
	}{
		{"Timeline/heavy_first_page", func() string { return formatID(1) }, 0},
		{"Timeline/heavy_deep_page", func() string { return formatID(1) }, mid},
		{"Timeline/random_customer", func() string { return formatID(2 + rng.Int64N(customers-1)) }, 0},
	}
	for _, tc := range timeline {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				got, err := db.FindTimeline(ctx, tc.cid(), tc.before, 50)
				if err != nil || len(got) == 0 {
					b.Fatalf("timeline: %d %v", len(got), err)
				}
			}
		})
	}
	finds := []struct {
		name string
		f    store.CustomerFilter
	}{
		{"Customers/all", store.CustomerFilter{}},
		{"Customers/staff", store.CustomerFilter{StaffID: "staff07"}},
		{"Customers/staff_deep_cursor", store.CustomerFilter{StaffID: "staff07", AfterID: formatID(90_000)}},
		{"Customers/tag", store.CustomerFilter{Tag: "vip"}},
		{"Customers/stage", store.CustomerFilter{Stage: store.StageWon}},
		{"Customers/staff_stage", store.CustomerFilter{StaffID: "staff07", Stage: store.StageWon}},
		{"Customers/query_common", store.CustomerFilter{Query: "张"}},
		{"Customers/query_rare", store.CustomerFilter{Query: "客户99999"}},
		{"Customers/staff_query_rare", store.CustomerFilter{StaffID: "staff07", Query: "客户99"}},
	}
	for _, tc := range finds {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				got, err := db.FindCustomers(ctx, tc.f)
				if err != nil || len(got) == 0 {
					b.Fatalf("find customers: %d %v", len(got), err)
				}
			}
		})
	}
}

func bulk(b *testing.B, db *DB, fn func(tx *sql.Tx) error) {
	b.Helper()
	if err := db.writeTx(context.Background(), fn); err != nil {
		b.Fatal(err)
	}
}

// fillCustomers writes customers straight into the tables: building 100k
// through UpsertCustomer would dominate the benchmark's run time.
func fillCustomers(b *testing.B, db *DB, n, staff int) {
	b.Helper()
	stages := []string{store.StageLead, store.StageActive, store.StageWon, store.StageDormant, store.StageLost}
	surnames := []rune("张王李赵刘陈杨黄周吴")
	bulk(b, db, func(tx *sql.Tx) error {
		for i := 1; i <= n; i++ {
			name := fmt.Sprintf("%c先生 客户%05d", surnames[i%len(surnames)], i)
			at := benchBase.Add(time.Duration(i) * time.Second).UnixNano()
			if _, err := tx.Exec(`INSERT INTO customers (id, name, stage, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
				i, name, stages[i%len(stages)], at, at); err != nil {
				return err
			}
			if _, err := tx.Exec(`INSERT INTO customer_identities (kind, value, customer_id) VALUES (?, ?, ?)`,
				store.IdentityExternalUserID, fmt.Sprintf("wm%08d", i), i); err != nil {
				return err
			}
			// Most customers have one owner, some two.
			for _, s := range []int{i % staff, (i * 7) % staff} {
				if _, err := tx.Exec(`INSERT OR IGNORE INTO customer_follows (customer_id, staff_id, added_at) VALUES (?, ?, ?)`,
					i, fmt.Sprintf("staff%02d", s), at); err != nil {
					return err
				}
			}
			if i%20 == 0 {
				if _, err := tx.Exec(`INSERT INTO customer_tags (customer_id, tag) VALUES (?, 'vip')`, i); err != nil {
					return err
				}
			}
		}
		return bump(context.Background(), tx, counterCustomers, int64(n))
	})
}

func fillTimeline(b *testing.B, db *DB, customers, n, heavy int) {
	b.Helper()
	text := strings.Repeat("好的，我们下周再联系。", 3)
	for start := 0; start < n; start += 100_000 {
		bulk(b, db, func(tx *sql.Tx) error {
			stmt, err := tx.Prepare(`INSERT INTO timeline (customer_id, source_key, kind, channel, direction, text, at)
				VALUES (?, ?, 'message', 'wecom', 'in', ?, ?)`)
			if err != nil {
				return err
			}
			defer stmt.Close()
			for i := start; i < min(start+100_000, n); i++ {
				cid := 1 // the first customer gets a long history
				if i >= heavy {
					cid = 2 + i%(customers-1)
				}
				if _, err := stmt.Exec(cid, fmt.Sprintf("src:%d", i), text, benchBase.Add(time.Duration(i)*time.Second).UnixNano()); err != nil {
					return err
				}
			}
			return nil
		})
	}
}
