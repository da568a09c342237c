package handlers_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/coord"
	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/transfer"
)

// The console at scale: 100,000 customers and 2,000,000 messages over a
// year in the embedded store, every call the console makes measured
// through real HTTP on the Fiber app, beside the API's own list and
// timeline queries. Run:
//
//	go test -run '^$' -bench ConsoleAt100k -benchtime 1x ./handlers/
//
// The fixture is written straight into the tables (rows exactly as the
// store writes them, waits stamped) and cached in the temp directory.

const (
	benchGenerator = "console-bench-v2" // v2: migration 0016 (follow state; the rows are v1's)
	benchCustomers = 100_000
	benchMessages  = 2_000_000
	benchSales     = 40 // four teams of ten
	benchSamples   = 50
)

var benchNow = time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)

func benchStaff() []*store.Staff {
	out := []*store.Staff{{ID: "boss", Name: "老板", Role: bot.RoleAdmin, Active: true}}
	for m := range 4 {
		var team []string
		for s := range 10 {
			team = append(team, fmt.Sprintf("s%02d", m*10+s))
		}
		out = append(out, &store.Staff{ID: fmt.Sprintf("m%d", m), Name: fmt.Sprintf("经理%d", m), Role: bot.RoleManager, Team: team, Active: true})
	}
	for s := range benchSales {
		out = append(out, &store.Staff{ID: fmt.Sprintf("s%02d", s), Name: fmt.Sprintf("销售%02d", s), Role: bot.RoleSales, Active: true})
	}
	return out
}

func benchStore(b *testing.B) string {
	dir := filepath.Join(os.TempDir(), "scrm-"+benchGenerator)
	if _, err := os.Stat(filepath.Join(dir, "done")); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	start := time.Now()
	if err := buildBenchStore(dir); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "done"), nil, 0o600); err != nil {
		b.Fatal(err)
	}
	b.Logf("built the fixture in %v", time.Since(start).Round(time.Second))
	return dir
}

func buildBenchStore(dir string) error {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir) // creates the schema
	if err != nil {
		return err
	}
	for _, s := range benchStaff() {
		if err := st.UpsertStaff(ctx, s); err != nil {
			return err
		}
	}
	st.Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName)+"?_pragma=synchronous(OFF)&_pragma=journal_mode(WAL)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	rng := rand.New(rand.NewPCG(3, 4))
	year := int64(365 * 24 * time.Hour)
	now := benchNow.UnixNano()
	stages := []string{store.StageLead, store.StageActive, store.StageActive, store.StageWon, store.StageDormant, store.StageLost}
	labels := []string{"positive", "neutral", "neutral", "negative"}
	owner := func(i int) string { return fmt.Sprintf("s%02d", i%benchSales) }
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	for i := 1; i <= benchCustomers; i++ {
		created := now - year - rng.Int64N(year)
		var lastIn, lastOut, awaiting, insight any
		if rng.IntN(10) != 0 {
			in := now - rng.Int64N(year)
			out := in + rng.Int64N(int64(4*time.Hour))
			lastIn, lastOut = in, out
			if rng.IntN(8) == 0 { // waiting for an answer
				lastOut, awaiting = in-rng.Int64N(int64(48*time.Hour)), in
			}
			insight = fmt.Sprintf(`{"sentiment_label":%q,"sentiment_score":0.5,"sentiment_trend":0,"analyzed_at":"2026-11-01T00:00:00Z","through":0}`, labels[rng.IntN(len(labels))])
		}
		if _, err := tx.Exec(`INSERT INTO customers (id, name, stage, tier, last_customer_msg_at, last_staff_touch_at, awaiting_since, insight, created_at, updated_at)
			VALUES (?, ?, ?, '', ?, ?, ?, ?, ?, ?)`, i, fmt.Sprintf("客户%06d", i), stages[rng.IntN(len(stages))], lastIn, lastOut, awaiting, insight, created, created); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO customer_identities (kind, value, customer_id) VALUES ('external_userid', ?, ?)`, fmt.Sprintf("wmB%07d", i), i); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO customer_follows (customer_id, staff_id, state, added_at) VALUES (?, ?, 'expo', ?)`, i, owner(i), created+rng.Int64N(2*year)%(now-created)); err != nil {
			return err
		}
		if rng.IntN(6) == 0 {
			if _, err := tx.Exec(`INSERT INTO customer_tags (customer_id, tag) VALUES (?, ?)`, i, []string{"vip", "高意向", "上海"}[rng.IntN(3)]); err != nil {
				return err
			}
		}
	}
	if _, err := tx.Exec(`INSERT INTO counters (name, n) VALUES ('customers', ?) ON CONFLICT (name) DO UPDATE SET n = excluded.n`, benchCustomers); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// Messages in time order over the year; a reply after a customer's
	// message carries the wait it answered, as AppendTimeline stamps it.
	step := year / benchMessages
	waitingSince := map[int]int64{}
	for lo := 0; lo < benchMessages; lo += 200_000 {
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		stmt, err := tx.Prepare(`INSERT INTO timeline (customer_id, source_key, kind, channel, direction, staff_id, text, at, waited)
			VALUES (?, ?, 'message', 'wecom', ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		for i := lo; i < min(lo+200_000, benchMessages); i++ {
			cid := 1 + rng.IntN(benchCustomers)
			if rng.IntN(2) == 0 {
				cid = 1 + rng.IntN(benchCustomers/10) // a tenth of the customers talk half the time
			}
			at := now - year + int64(i)*step
			dir, text := store.DirectionIn, "您好，请问这款产品下周三能发货吗？"
			var waited any
			if rng.IntN(2) == 0 {
				dir, text = store.DirectionOut, "好的，我们内部讨论一下再回复您。"
				if since, ok := waitingSince[cid]; ok {
					waited = at - since
					delete(waitingSince, cid)
				}
			} else if _, ok := waitingSince[cid]; !ok {
				waitingSince[cid] = at
			}
			if _, err := stmt.Exec(cid, fmt.Sprintf("msg:bench:%d", i), dir, owner(cid), text, at, waited); err != nil {
				return err
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	if _, err := db.Exec(`INSERT INTO counters (name, n) VALUES ('messages', ?) ON CONFLICT (name) DO UPDATE SET n = excluded.n`, benchMessages); err != nil {
		return err
	}
	// Reminders through the store: a few overdue and due today for each
	// salesperson, promises among them.
	st, err = sqlite.Open(ctx, dir, sqlite.WithSynchronous("NORMAL"))
	if err != nil {
		return err
	}
	defer st.Close()
	for s := range benchSales {
		for k := range 30 {
			kind := []string{store.ReminderManual, store.ReminderPromise, store.ReminderCadence}[k%3]
			c, err := st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: fmt.Sprintf("wmB%07d", 1+s+k*benchSales)})
			if err != nil {
				return err
			}
			r := &store.Reminder{CustomerID: c.ID, StaffID: fmt.Sprintf("s%02d", s), Kind: kind,
				Text: "回访客户", DueAt: benchNow.Add(time.Duration(k-20) * 6 * time.Hour)}
			if _, err := st.CreateReminder(ctx, r); err != nil {
				return err
			}
		}
	}
	_, err = db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// BenchmarkConsoleAt100k measures every console call and, beside them, the
// API's list and timeline queries, benchSamples times each, sequentially.
func BenchmarkConsoleAt100k(b *testing.B) {
	dir := benchStore(b)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := func() time.Time { return benchNow }
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		b.Fatal(err)
	}
	// Business hours as the default configuration has them: the console
	// counts waits in them, as scrm serve's does.
	hours, err := config.ParseBusinessHours(config.Default().BusinessHours, loc)
	if err != nil {
		b.Fatal(err)
	}
	opts := handlers.Options{APIToken: apiTok, Now: now, Core: bot.NewCore(st, now), Sheets: transfer.NewSheets(st), Location: loc,
		Console: bot.NewConsole(st, bot.ConsoleOptions{Hours: hours, Location: loc, Now: now})}
	base := listen(b, handlers.New(st, coord.NewLocal(), opts))
	exp := benchNow.Add(24 * time.Hour)
	tok := func(id string) string {
		t, err := handlers.MintStaffToken(apiTok, id, exp)
		if err != nil {
			b.Fatal(err)
		}
		return t
	}
	sales, manager, admin := tok("s07"), tok("m0"), tok("boss")
	client := &http.Client{Timeout: time.Minute}
	month := "?from=2026-11-01&to=2026-11-30"
	// Customer 7 is s07's (owners go round the salespeople), one of the
	// talkative tenth.
	c8, err := st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: "wmB0000007"})
	if err != nil {
		b.Fatal(err)
	}
	one := "/api/v1/customers/" + c8.ID
	calls := []struct{ name, token, path string }{
		{"workbench, sales", sales, "/api/v1/workbench"},
		{"workbench, manager (team of 10)", manager, "/api/v1/workbench"},
		{"workbench, admin (40 salespeople)", admin, "/api/v1/workbench"},
		{"reports for a month, sales", sales, "/api/v1/reports" + month},
		{"reports for a month, manager", manager, "/api/v1/reports" + month},
		{"reports for a month, admin", admin, "/api/v1/reports" + month},
		{"customers list, sales, stage filter", sales, "/api/v1/customers?stage=" + store.StageActive},
		{"customers list, manager, tag + last contact", manager, "/api/v1/customers?tag=vip&last_contact_after=2026-10-01"},
		{"customers list, admin, owner filter", admin, "/api/v1/customers?owner=s07"},
		{"customers list, manager, waiting", manager, "/api/v1/customers?waiting=true"},
		{"customers list, sales, negative sentiment", sales, "/api/v1/customers?sentiment=negative"},
		{"customers list, admin, waiting + negative", admin, "/api/v1/customers?waiting=true&sentiment=negative"},
		{"customer detail, sales", sales, one},
		{"customer sentiment, sales", sales, one + "/sentiment"},
		{"timeline page, sales", sales, one + "/timeline?limit=50"},
		{"reminders, sales", sales, "/api/v1/reminders"},
		{"reminders, manager", manager, "/api/v1/reminders"},
		{"API baseline: customers list, admin, no filter", admin, "/api/v1/customers"},
		{"API baseline: timeline page, admin", admin, one + "/timeline"},
	}
	// SCRM_BENCH_ONLY (a regexp on the call's name) and SCRM_BENCH_SAMPLES
	// narrow a run, for profiling one call.
	samples := benchSamples
	if n, err := strconv.Atoi(os.Getenv("SCRM_BENCH_SAMPLES")); err == nil && n > 0 {
		samples = n
	}
	only := regexp.MustCompile(os.Getenv("SCRM_BENCH_ONLY"))
	for b.Loop() {
		fmt.Println("| call | p50 ms | p99 ms |") // stdout: go test truncates long benchmark logs
		fmt.Println("|---|---|---|")
		for _, c := range calls {
			if !only.MatchString(c.name) {
				continue
			}
			var d []time.Duration
			for range samples {
				req, _ := http.NewRequest("GET", base+c.path, nil)
				req.Header.Set("Authorization", "Bearer "+c.token)
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				d = append(d, time.Since(start))
				if resp.StatusCode != 200 {
					b.Fatalf("%s: %d %s", c.name, resp.StatusCode, body)
				}
			}
			slices.Sort(d)
			p := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))]) / float64(time.Millisecond) }
			fmt.Printf("| %s | %.1f | %.1f |\n", c.name, p(0.5), p(0.99))
		}
	}
}
