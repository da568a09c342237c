package bot_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

var openStore = bot.OpenTestStore

// countWhere counts the xs that keep accepts.
func countWhere[T any](xs []T, keep func(T) bool) int {
	n := 0
	for _, x := range xs {
		if keep(x) {
			n++
		}
	}
	return n
}

var t0 = time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)

// wantIn checks that reply holds each of want and none of not.
func wantIn(t *testing.T, what, reply string, want []string, not ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(reply, w) {
			t.Fatalf("%s: reply lacks %q:\n%s", what, w, reply)
		}
	}
	for _, n := range not {
		if strings.Contains(reply, n) {
			t.Fatalf("%s: reply contains %q:\n%s", what, n, reply)
		}
	}
}

// drain calls step until it reports that it did nothing.
func drain(t testing.TB, step func(context.Context) (int, error)) {
	t.Helper()
	for {
		n, err := step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// loadCustomer reads customer id from st.
func loadCustomer(t testing.TB, st interface {
	FindCustomerByID(context.Context, string) (*store.Customer, error)
}, id string) *store.Customer {
	t.Helper()
	c, err := st.FindCustomerByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// putStaff records staff members in st.
func putStaff(t testing.TB, st interface {
	UpsertStaff(context.Context, *store.Staff) error
}, staff ...*store.Staff) {
	t.Helper()
	for _, s := range staff {
		if err := st.UpsertStaff(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
}

func appendEvents(t *testing.T, st store.Store, evs ...*store.Event) {
	t.Helper()
	if _, err := st.AppendEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

func oaText(openid, text, msgID string, at time.Time) *store.Event {
	return &store.Event{DedupKey: "msg:oa:" + msgID, Channel: store.ChannelOA, Kind: "text", FromID: openid,
		CustomerID: openid, Text: text, MsgID: msgID, OccurredAt: at, ReceivedAt: at}
}

func contact(change, staff, ext string, at time.Time) *store.Event {
	return &store.Event{DedupKey: fmt.Sprintf("wecom:evt:%s:%s:%s:%d", change, staff, ext, at.Unix()), Channel: store.ChannelWeCom,
		Kind: "event.change_external_contact." + change, FromID: "sys", StaffID: staff, CustomerID: ext,
		Attrs: map[string]string{"State": "展会二维码"}, OccurredAt: at, ReceivedAt: at}
}

// flaky fails its first n calls per event, then counts successes.
type flaky struct {
	mu    sync.Mutex
	fails map[int64]int
	n     int
	done  map[int64]int
}

func (f *flaky) Name() string { return "flaky" }
func (f *flaky) Process(_ context.Context, ev *store.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails[ev.ID] < f.n {
		f.fails[ev.ID]++
		return errors.New("dependency down")
	}
	f.done[ev.ID]++
	return nil
}

func TestPipelineProcessesEachEventAndRetriesFailures(t *testing.T) {
	st := openStore(t)
	for i := range 50 {
		appendEvents(t, st, oaText("o1", "hi", fmt.Sprint(i), t0))
	}
	now := t0
	f := &flaky{fails: map[int64]int{}, done: map[int64]int{}, n: 2}
	p := bot.NewPipeline(st, bot.PipelineOptions{Owner: "a", Batch: 20, Now: func() time.Time { return now }}, f)
	ctx := context.Background()
	for range 20 {
		if _, err := p.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		now = now.Add(10 * time.Minute) // past every retry backoff
	}
	if len(f.done) != 50 {
		t.Fatalf("%d events processed, want 50", len(f.done))
	}
	for id, n := range f.done {
		if n != 1 {
			t.Fatalf("event %d completed %d times", id, n)
		}
	}
	if _, err := st.OldestUnprocessed(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("log not drained: %v", err)
	}
}

// A worker that claims and dies never completes; once its lease expires
// another instance takes the events over.
func TestPipelineResumesAfterAnInstanceDies(t *testing.T) {
	st := openStore(t)
	for i := range 10 {
		appendEvents(t, st, oaText("o1", "hi", fmt.Sprint(i), t0))
	}
	ctx := context.Background()
	claimed, err := st.ClaimEvents(ctx, "dead-instance", 10, t0, time.Minute)
	if err != nil || len(claimed) != 10 {
		t.Fatalf("claim: %d %v", len(claimed), err)
	}
	f := &flaky{fails: map[int64]int{}, done: map[int64]int{}}
	now := t0.Add(30 * time.Second)
	p := bot.NewPipeline(st, bot.PipelineOptions{Owner: "b", Now: func() time.Time { return now }}, f)
	if n, _ := p.RunOnce(ctx); n != 0 {
		t.Fatalf("took %d events under a live lease", n)
	}
	now = t0.Add(2 * time.Minute)
	if n, _ := p.RunOnce(ctx); n != 10 {
		t.Fatalf("took %d events after the lease expired, want 10", n)
	}
	if err := st.CompleteEvent(ctx, claimed[0].ID, "dead-instance", now); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("the dead instance's late completion must conflict, got %v", err)
	}
}

func TestPipelineRunDrainsOnWake(t *testing.T) {
	st := openStore(t)
	wake := make(chan struct{}, 1)
	f := &flaky{fails: map[int64]int{}, done: map[int64]int{}}
	p := bot.NewPipeline(st, bot.PipelineOptions{Owner: "w", Wake: wake, Poll: time.Hour}, f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	time.Sleep(50 * time.Millisecond)
	for i := range 5 {
		appendEvents(t, st, oaText("o1", "hi", fmt.Sprint(i), t0))
	}
	wake <- struct{}{}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		n := len(f.done)
		f.mu.Unlock()
		if n == 5 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if len(f.done) != 5 {
		t.Fatalf("processed %d of 5 after a wake-up", len(f.done))
	}
}

func TestCustomersProcessorIsIdempotent(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	proc := bot.NewCustomers(st, nil)
	evs := []*store.Event{
		contact("add_external_contact", "zhangsan", "wmA", t0),
		oaText("oA", "你好，想问下报价", "1", t0.Add(time.Minute)),
		oaText("oA", "明天再联系", "2", t0.Add(2*time.Minute)),
		contact("del_follow_user", "zhangsan", "wmA", t0.Add(3*time.Minute)),
	}
	appendEvents(t, st, evs...)
	stored, _ := st.FindEvents(ctx, store.EventFilter{})
	for range 2 { // the second pass is a redelivery: nothing may change
		for _, ev := range stored {
			if err := proc.Process(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	c, err := st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityOpenID, Value: "oA"})
	if err != nil {
		t.Fatal(err)
	}
	if c.LastCustomerMsgAt == nil || !c.LastCustomerMsgAt.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("last customer message at %v", c.LastCustomerMsgAt)
	}
	tl, _ := st.FindTimeline(ctx, c.ID, 0, 50)
	if len(tl) != 2 || tl[0].Text != "明天再联系" || tl[0].Direction != store.DirectionIn {
		t.Fatalf("timeline %+v", tl)
	}
	w, err := st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: "wmA"})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Follows) != 1 || !w.Follows[0].Deleted || w.Follows[0].State != "展会二维码" {
		t.Fatalf("follows %+v", w.Follows)
	}
	wtl, _ := st.FindTimeline(ctx, w.ID, 0, 50)
	if len(wtl) != 2 || !strings.Contains(wtl[0].Text, "流失") {
		t.Fatalf("churn not on the timeline: %+v", wtl)
	}
}

// profiles is a fixed Profiles for tests.
type profiles map[string]bot.Profile

func (p profiles) ExternalContact(_ context.Context, id string) (bot.Profile, error) {
	if pr, ok := p[id]; ok {
		return pr, nil
	}
	return bot.Profile{}, bot.ErrNoProfile
}
func (p profiles) OAFollower(ctx context.Context, id string) (bot.Profile, error) {
	return p.ExternalContact(ctx, id)
}

func TestUnionIDJoinsOAFollowerAndWeComContact(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	proc := bot.NewCustomers(st, profiles{
		"wmB": {Name: "王五", UnionID: "uWANG"},
		"oB":  {Name: "王五的微信", UnionID: "uWANG"},
	})
	appendEvents(t, st, oaText("oB", "在吗", "10", t0), contact("add_external_contact", "lisi", "wmB", t0.Add(time.Hour)))
	evs, _ := st.FindEvents(ctx, store.EventFilter{})
	for _, ev := range evs {
		if err := proc.Process(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityOpenID, Value: "oB"})
	b, _ := st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: "wmB"})
	if a == nil || b == nil || a.ID != b.ID {
		t.Fatalf("one person became two customers: %+v %+v", a, b)
	}
	tl, _ := st.FindTimeline(ctx, a.ID, 0, 10)
	if len(tl) != 2 {
		t.Fatalf("one timeline expected, got %d entries", len(tl))
	}
}

// recorder is a Messenger that keeps what the bot sends.
type recorder struct {
	mu   sync.Mutex
	sent map[string][]string
}

func (r *recorder) SendMarkdown(_ context.Context, to, content string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent[to] = append(r.sent[to], content)
	return nil
}

func TestCommandsRespectVisibility(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	cust := bot.NewCustomers(st, profiles{"wmZ": {Name: "张三"}, "wmW": {Name: "王五"}})
	appendEvents(t, st,
		contact("add_external_contact", "sales1", "wmZ", t0),
		contact("add_external_contact", "sales2", "wmW", t0),
	)
	evs, _ := st.FindEvents(ctx, store.EventFilter{})
	for _, ev := range evs {
		if err := cust.Process(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recorder{sent: map[string][]string{}}
	dir := bot.StaticDirectory{"boss": {Role: bot.RoleManager, Team: []string{"sales1", "sales2"}}}
	cmds := bot.NewCommands(st, dir, rec, time.UTC)
	ask := func(staff, text string, id int) string {
		ev := &store.Event{ID: int64(1000 + id), DedupKey: fmt.Sprint("msg:wecom:", id), Channel: store.ChannelWeCom, Kind: "text",
			FromID: staff, StaffID: staff, Text: text, OccurredAt: t0, ReceivedAt: t0}
		if err := cmds.Process(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if err := cmds.Process(ctx, ev); err != nil { // redelivered: no second reply
			t.Fatal(err)
		}
		got := rec.sent[staff]
		return got[len(got)-1]
	}
	cases := []struct {
		staff, text, want, wantNot string
	}{
		{"sales1", "查 张三", "张三", ""},
		{"sales1", "查 王五", "没有找到", "跟进中"},
		{"sales2", "查 张三", "没有找到", ""},
		{"boss", "查 王五", "王五", "没有找到"},
		{"sales1", "我的客户", "张三", "王五"},
		{"sales1", "帮助", "可用指令", ""},
		{"sales1", "随便说点什么", "没看懂", ""},
		{"sales1", "记 张三 今天电话沟通，下周二回访", "已记下", ""},
		{"sales2", "记 张三 偷偷加一条", "没有找到", "已记下"},
		{"sales1", "张三最近怎么样？", "张三", "没看懂"},
		{"sales2", "张三最近怎么样？", "没有找到", "阶段"},
	}
	for i, tc := range cases {
		t.Run(tc.staff+" "+tc.text, func(t *testing.T) {
			got := ask(tc.staff, tc.text, i)
			if !strings.Contains(got, tc.want) || (tc.wantNot != "" && strings.Contains(got, tc.wantNot)) {
				t.Fatalf("reply %q: want %q, not %q", got, tc.want, tc.wantNot)
			}
		})
	}
	total := 0
	for _, msgs := range rec.sent {
		total += len(msgs)
	}
	if total != len(cases) {
		t.Fatalf("%d replies for %d commands: a redelivery was answered twice", total, len(cases))
	}
	z, _ := st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: "wmZ"})
	tl, _ := st.FindTimeline(ctx, z.ID, 0, 10)
	if notes := countWhere(tl, func(e *store.TimelineEntry) bool { return e.Kind == store.EntryNote }); notes != 1 {
		t.Fatalf("%d notes on 张三, want 1", notes)
	}
}

// testClock is a settable clock the tests hand to processors and runners;
// safe for their goroutines.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock(t time.Time) *testClock { return &testClock{now: t} }

// Now is the clock's time; pass c.Now as a processor's Now option.
func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Add moves the clock on by d.
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// simClient is a WeCom client on the simulator that retries without
// waiting, so tests of outages and limits run at once.
func simClient(t *testing.T, sim *wecomtest.Simulator, cache wecom.TokenCache) *wecom.APIClient {
	t.Helper()
	cfg := sim.APIConfig()
	cfg.RetryBackoff = time.Millisecond
	api, err := wecom.NewAPIClient(cfg, cache, ibQuiet())
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// serveEdge serves scrm's real callback edge (WeCom and Official Account,
// safe mode) over st and returns a driver that delivers the simulator's
// callbacks to it, sealed and signed, on the clock now.
func serveEdge(t *testing.T, st store.Store, co handlers.Coordinator, sim *wecomtest.Simulator, now func() time.Time) *wecomtest.Driver {
	t.Helper()
	wc, err := wecom.NewCrypto(wecomtest.SimToken, wecomtest.SimAESKey, wecomtest.SimCorpID)
	if err != nil {
		t.Fatal(err)
	}
	oc, err := wecom.NewCrypto(wecomtest.SimOAToken, wecomtest.SimOAAESKey, wecomtest.SimOAAppID)
	if err != nil {
		t.Fatal(err)
	}
	srv := handlers.New(st, co, handlers.Options{
		WeCom: wc, OAToken: wecomtest.SimOAToken, OA: oc,
		MaxSkew: 5 * time.Minute, MaxBody: 1 << 20, Writers: 1, Now: now, Logger: ibQuiet(),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	base := "http://" + ln.Addr().String()
	dc := wecomtest.SimDriverConfig(base+"/wecom/callback", base+"/oa/callback", sim)
	dc.Now, dc.Retries = now, -1
	drv, err := wecomtest.NewDriver(dc)
	if err != nil {
		t.Fatal(err)
	}
	return drv
}
