package bot_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/coord"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// archiveNow is when the archive tests pull: Tuesday 10:00 in Shanghai.
var archiveNow = time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// chat is a one-to-one text message of an archive batch.
func chat(seq uint64, id, from, to, text string, at time.Time) wecom.ArchiveMessage {
	return wecom.ArchiveMessage{Seq: seq, MsgID: id, From: from, ToList: []string{to}, MsgType: "text", Text: text, At: at}
}

// pullTwice runs the archive over its batch twice: the second pull repeats
// it, as after a crash before the cursor moved.
func pullTwice(t *testing.T, st store.Store, w *bot.Archive) {
	t.Helper()
	for range 2 {
		if _, err := w.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := st.SetCursor(context.Background(), bot.ArchiveCursor, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// extCustomer is the customer of a WeCom external contact.
func extCustomer(t *testing.T, st store.Store, ext string) *store.Customer {
	t.Helper()
	c, err := st.FindCustomerByIdentity(context.Background(), store.Identity{Kind: store.IdentityExternalUserID, Value: ext})
	if err != nil {
		t.Fatalf("customer %s: %v", ext, err)
	}
	return c
}

// fakeArchive serves a fixed chat archive by seq and can fail its next calls
// like an unreachable WeCom.
type fakeArchive struct {
	mu    sync.Mutex
	msgs  []wecom.ArchiveMessage // in seq order
	fail  int                    // how many of the next calls fail
	calls int
}

func (f *fakeArchive) FetchArchive(ctx context.Context, after uint64, limit int) ([]wecom.ArchiveMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail > 0 {
		f.fail--
		return nil, errors.New("fake archive: 网络错误")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []wecom.ArchiveMessage
	for _, m := range f.msgs {
		if m.Seq > after && len(out) < limit {
			out = append(out, m)
		}
	}
	return out, nil
}

func (f *fakeArchive) Close() error { return nil }

// crashStore wraps the store and cancels the worker's context after a given
// number of timeline appends, failing every later call like a killed process.
type crashStore struct {
	bot.ArchiveStore
	mu      sync.Mutex
	appends int
	after   int
	cancel  context.CancelFunc
}

func (c *crashStore) AppendTimeline(ctx context.Context, e *store.TimelineEntry) (bool, error) {
	c.mu.Lock()
	c.appends++
	if c.appends == c.after {
		c.cancel()
	}
	c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return c.ArchiveStore.AppendTimeline(ctx, e)
}

func (c *crashStore) SetCursor(ctx context.Context, name, value string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.ArchiveStore.SetCursor(ctx, name, value)
}

// wantEntry is where one archive message must land.
type wantEntry struct {
	customer, staff, dir, text string
	at                         time.Time
}

// archiveFixture builds 50 messages between five customers and their
// salespeople, with images, a recall, a staff-only chat and group chats,
// and the timeline entries they must produce keyed by SourceKey.
func archiveFixture() ([]wecom.ArchiveMessage, map[string]wantEntry, uint64) {
	customers := []string{"wmC1", "woC2", "wmC3", "woC4", "wmC5"}
	staffOf := map[string]string{"wmC1": "zhangsan", "woC2": "lisi", "wmC3": "zhangsan", "woC4": "wangwu", "wmC5": "lisi"}
	base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	var msgs []wecom.ArchiveMessage
	want := map[string]wantEntry{}
	var seq uint64 = 1000
	for i := range 50 {
		seq += uint64(1 + i%3) // seqs have gaps, as in a corp with several archived apps
		at := base.Add(time.Duration(i) * time.Minute)
		id := fmt.Sprintf("msg-%02d", i)
		m := wecom.ArchiveMessage{Seq: seq, MsgID: id, Action: "send", MsgType: "text", Text: fmt.Sprintf("第%d条", i), At: at}
		c := customers[i%len(customers)]
		s := staffOf[c]
		switch {
		case i == 7: // staff among themselves: on no timeline
			m.From, m.ToList = "zhangsan", []string{"lisi"}
			msgs = append(msgs, m)
			continue
		case i == 13 || i == 31: // group chat, staff speaking to two customers
			m.From, m.ToList, m.RoomID = "wangwu", []string{"wmC1", "woC2", "lisi"}, "room1"
			for _, ext := range []string{"wmC1", "woC2"} {
				want["archive:"+id+":"+ext] = wantEntry{customer: ext, staff: "wangwu", dir: "out", text: m.Text, at: at}
			}
			msgs = append(msgs, m)
			continue
		case i == 22: // group chat, a customer speaking: only their timeline
			m.From, m.ToList, m.RoomID = "wmC3", []string{"wmC1", "zhangsan"}, "room1"
			want["archive:"+id] = wantEntry{customer: "wmC3", dir: "in", text: m.Text, at: at}
			msgs = append(msgs, m)
			continue
		}
		text := m.Text
		switch {
		case i%9 == 4:
			m.MsgType, m.Text, text = "image", "", "[图片]"
		case i == 40:
			m.Action, m.MsgType, m.Text, text = "recall", "revoke", "", "[撤回了一条消息]"
		}
		dir := "in"
		if i%2 == 0 {
			m.From, m.ToList = c, []string{s}
		} else {
			m.From, m.ToList, dir = s, []string{c}, "out"
		}
		want["archive:"+id] = wantEntry{customer: c, staff: s, dir: dir, text: text, at: at}
		msgs = append(msgs, m)
	}
	return msgs, want, seq
}

// checkArchived asserts every expected entry is on the right timeline
// exactly once and nothing else is.
func checkArchived(t *testing.T, st store.Store, want map[string]wantEntry) {
	t.Helper()
	ctx := context.Background()
	got := map[string]*store.TimelineEntry{}
	owner := map[string]string{}
	lastIn := map[string]time.Time{}
	for _, w := range want {
		if w.dir == "in" && w.at.After(lastIn[w.customer]) {
			lastIn[w.customer] = w.at
		}
	}
	for _, ext := range []string{"wmC1", "woC2", "wmC3", "woC4", "wmC5"} {
		c := extCustomer(t, st, ext)
		if c.LastCustomerMsgAt == nil || !c.LastCustomerMsgAt.Equal(lastIn[ext]) {
			t.Errorf("customer %s: last customer message %v, want %v", ext, c.LastCustomerMsgAt, lastIn[ext])
		}
		entries, err := st.FindTimeline(ctx, c.ID, 0, 1000)
		if err != nil {
			t.Fatalf("timeline %s: %v", ext, err)
		}
		for _, e := range entries {
			if got[e.SourceKey] != nil {
				t.Errorf("entry %s stored twice", e.SourceKey)
			}
			got[e.SourceKey], owner[e.SourceKey] = e, ext
		}
	}
	for key, w := range want {
		e := got[key]
		if e == nil {
			t.Errorf("entry %s missing", key)
			continue
		}
		if owner[key] != w.customer || e.StaffID != w.staff || e.Direction != w.dir || e.Text != w.text ||
			e.Kind != store.EntryMessage || e.Channel != bot.ChannelArchive || !e.At.Equal(w.at) {
			t.Errorf("entry %s = {customer %s staff %q dir %s text %q kind %s channel %s at %v}, want %+v",
				key, owner[key], e.StaffID, e.Direction, e.Text, e.Kind, e.Channel, e.At, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d archive entries on timelines, want %d", len(got), len(want))
	}
	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Customers != 5 {
		t.Errorf("%d customers, want 5 (staff ids must not become customers)", stats.Customers)
	}
}

func cursorOf(t *testing.T, st store.Store) string {
	t.Helper()
	v, err := st.GetCursor(context.Background(), bot.ArchiveCursor)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestArchiveCrashMidBatchAndRestart(t *testing.T) {
	st := openStore(t)
	msgs, want, lastSeq := archiveFixture()
	src := &fakeArchive{msgs: msgs}
	opts := bot.ArchiveOptions{Batch: 20, Owner: "a"}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	crash := &crashStore{ArchiveStore: st, after: 30, cancel: cancel}
	w := bot.NewArchive(crash, src, nil, opts)
	if n, err := w.RunOnce(ctx); err != nil || n != 20 {
		t.Fatalf("first batch: n=%d err=%v", n, err)
	}
	afterFirst := cursorOf(t, st)
	if afterFirst != fmt.Sprint(msgs[19].Seq) {
		t.Fatalf("cursor after the first batch = %q, want %d", afterFirst, msgs[19].Seq)
	}
	stored := crash.appends
	// The crash hits the second batch part-way through its appends.
	if _, err := w.RunOnce(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("crashed batch: err=%v, want context.Canceled", err)
	}
	if crash.appends <= stored+1 {
		t.Fatalf("the crash did not happen mid-batch (%d appends before, %d after)", stored, crash.appends)
	}
	if got := cursorOf(t, st); got != afterFirst {
		t.Fatalf("cursor moved to %q though the batch was not stored; want %q", got, afterFirst)
	}

	// Restart: a fresh worker on the same store and archive.
	w = bot.NewArchive(st, src, nil, opts)
	for range 10 {
		n, err := w.RunOnce(context.Background())
		if err != nil {
			t.Fatalf("after restart: %v", err)
		}
		if n == 0 {
			break
		}
	}
	if got := cursorOf(t, st); got != fmt.Sprint(lastSeq) {
		t.Fatalf("cursor = %q, want %d", got, lastSeq)
	}
	checkArchived(t, st, want)

	// Caught up: another pass fetches nothing and changes nothing.
	if n, err := w.RunOnce(context.Background()); err != nil || n != 0 {
		t.Fatalf("caught-up pass: n=%d err=%v", n, err)
	}
	checkArchived(t, st, want)
}

func TestArchiveRunOutageAndLease(t *testing.T) {
	st := openStore(t)
	msgs, want, lastSeq := archiveFixture()
	src := &fakeArchive{msgs: msgs, fail: 3}
	lk := coord.NewLocal()
	ctx := context.Background()
	if ok, err := lk.Acquire(ctx, bot.ArchiveLease, "other-instance", time.Minute); err != nil || !ok {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	w := bot.NewArchive(st, src, lk, bot.ArchiveOptions{
		Owner: "me", Batch: 7, Poll: 2 * time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
	})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.Run(rctx) }()
	defer func() { cancel(); <-done }()

	time.Sleep(50 * time.Millisecond)
	src.mu.Lock()
	calls := src.calls
	src.mu.Unlock()
	if calls != 0 || cursorOf(t, st) != "" {
		t.Fatalf("pulled (%d calls) while another instance held the lease", calls)
	}
	if err := lk.Release(ctx, bot.ArchiveLease, "other-instance"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for cursorOf(t, st) != fmt.Sprint(lastSeq) {
		if time.Now().After(deadline) {
			t.Fatalf("cursor %q never reached %d", cursorOf(t, st), lastSeq)
		}
		time.Sleep(2 * time.Millisecond)
	}
	src.mu.Lock()
	fails := src.fail
	src.mu.Unlock()
	if fails != 0 {
		t.Fatalf("%d injected failures never hit", fails)
	}
	checkArchived(t, st, want)
}

func TestPlanArchive(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	many := []string{"zhangsan"}
	for i := range 21 {
		many = append(many, fmt.Sprintf("wm%02d", i))
	}
	tests := []struct {
		name string
		m    wecom.ArchiveMessage
		want []string // "customer/staff/dir/key/text"
	}{
		{"customer to staff", wecom.ArchiveMessage{MsgID: "m1", Action: "send", From: "wmA", ToList: []string{"zhangsan"}, MsgType: "text", Text: "你好"},
			[]string{"wmA/zhangsan/in/archive:m1/你好"}},
		{"staff to customer", wecom.ArchiveMessage{MsgID: "m2", Action: "send", From: "lisi", ToList: []string{"woB"}, MsgType: "voice"},
			[]string{"woB/lisi/out/archive:m2/[语音]"}},
		{"staff among themselves", wecom.ArchiveMessage{MsgID: "m3", Action: "send", From: "lisi", ToList: []string{"zhangsan"}, MsgType: "text", Text: "x"}, nil},
		{"customer to customer", wecom.ArchiveMessage{MsgID: "m4", Action: "send", From: "wmA", ToList: []string{"woB"}, MsgType: "text", Text: "x"}, nil},
		{"switch", wecom.ArchiveMessage{MsgID: "m5", Action: "switch", From: "lisi"}, nil},
		{"unknown type", wecom.ArchiveMessage{MsgID: "m6", Action: "send", From: "wmA", ToList: []string{"lisi"}, MsgType: "hologram"},
			[]string{"wmA/lisi/in/archive:m6/[消息]"}},
		{"group from customer", wecom.ArchiveMessage{MsgID: "m7", Action: "send", From: "wmA", RoomID: "r", ToList: []string{"woB", "lisi"}, MsgType: "file"},
			[]string{"wmA//in/archive:m7/[文件]"}},
		{"group from staff", wecom.ArchiveMessage{MsgID: "m8", Action: "send", From: "lisi", RoomID: "r", ToList: []string{"woB", "zhangsan", "wmA"}, MsgType: "text", Text: "大家好"},
			[]string{"woB/lisi/out/archive:m8:woB/大家好", "wmA/lisi/out/archive:m8:wmA/大家好"}},
		{"broadcast to a big group", wecom.ArchiveMessage{MsgID: "m9", Action: "send", From: "lisi", RoomID: "r", ToList: many, MsgType: "text", Text: "通知"}, nil},
		{"recall", wecom.ArchiveMessage{MsgID: "m10", Action: "recall", From: "lisi", ToList: []string{"woB"}, MsgType: "revoke"},
			[]string{"woB/lisi/out/archive:m10/[撤回了一条消息]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.m.At = at
			got := bot.PlanArchive(tc.m, 20)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestArchiveStaffPromiseBecomesReminder: a promise a salesperson makes in
// an archived one-to-one chat is a reminder for them as the message is
// stored, once however often the batch is pulled again; the same words
// said in a group chat are left to the analysis.
func TestArchiveStaffPromiseBecomesReminder(t *testing.T) {
	ctx, st, now, clock := context.Background(), openStore(t), archiveNow, fixedClock(archiveNow)
	loc, _ := time.LoadLocation("Asia/Shanghai")
	src := &fakeArchive{msgs: []wecom.ArchiveMessage{
		chat(1, "m1", "wmMa", "sales1", "空调不制冷了", now.Add(-2*time.Minute)),
		chat(2, "m2", "sales1", "wmMa", "明天上午安排工程师上门维修", now.Add(-time.Minute)),
		{Seq: 3, MsgID: "m3", From: "sales1", ToList: []string{"wmMa", "wmZhao"}, RoomID: "r1", MsgType: "text", Text: "明天下午三点给大家发新报价", At: now},
	}}
	pullTwice(t, st, bot.NewArchive(st, src, nil, bot.ArchiveOptions{Owner: "a", Core: bot.NewCore(st, clock), Location: loc, Now: clock}))
	c := extCustomer(t, st, "wmMa")
	rs, err := st.FindReminders(ctx, store.ReminderFilter{StaffID: "sales1", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].CustomerID != c.ID || rs[0].Kind != store.ReminderPromise || !strings.Contains(rs[0].Text, "工程师上门维修") {
		t.Fatalf("reminders %+v, want one promise on %s", rs, c.ID)
	}
	if due := rs[0].DueAt.In(loc); due.Day() != 25 || due.Hour() != 9 {
		t.Fatalf("due %v, want 11-25 09:00", due)
	}
	tl, err := st.FindTimeline(ctx, c.ID, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tl {
		want := ""
		if e.Attrs["MsgID"] == "m2" {
			want = "true"
		}
		if e.Kind == store.EntryMessage && e.Attrs[bot.AttrPromisesRead] != want {
			t.Fatalf("entry %s: promises_read=%q, want %q", e.Attrs["MsgID"], e.Attrs[bot.AttrPromisesRead], want)
		}
	}
}

// TestArchiveBatchKeepsResponseWaits: a customer's message and the staff
// member's answer pulled in one batch are stored as if they had arrived one
// after the other: the customer waited for the answer (the reports' first
// response), and an unanswered later message leaves them waiting.
func TestArchiveBatchKeepsResponseWaits(t *testing.T) {
	ctx, st, now := context.Background(), openStore(t), archiveNow
	src := &fakeArchive{msgs: []wecom.ArchiveMessage{
		chat(1, "w1", "wmWa", "sales1", "报价单发我一下", now.Add(-3*time.Hour)),
		chat(2, "w2", "sales1", "wmWa", "好的，已发您邮箱", now.Add(-3*time.Hour+25*time.Minute)),
		chat(3, "w3", "wmWa", "sales1", "收到，价格还能再谈吗？", now.Add(-time.Hour)),
	}}
	w := bot.NewArchive(st, src, nil, bot.ArchiveOptions{Owner: "a", Now: fixedClock(now)})
	if _, err := w.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	waits, err := st.ResponseWaits(ctx, []string{"sales1"}, now.Add(-24*time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(waits) != 1 || waits[0].Waited != 25*time.Minute {
		t.Errorf("response waits %+v, want one of 25 min", waits)
	}
	if c := extCustomer(t, st, "wmWa"); !store.IsWaiting(c) || !c.LastCustomerMsgAt.Equal(now.Add(-time.Hour)) || !c.LastStaffTouchAt.Equal(now.Add(-3*time.Hour+25*time.Minute)) {
		t.Errorf("customer after the batch: waiting %v, last message %v, last touch %v", store.IsWaiting(c), c.LastCustomerMsgAt, c.LastStaffTouchAt)
	}
}

// TestArchiveCustomerRefusalOptsOut: a customer who asks, in a chat with
// sales, to stop mass messages is opted out once, with their words on the
// timeline, however often the batch is pulled; a sentence only sharing the
// words (or a salesperson saying them) opts nobody out.
func TestArchiveCustomerRefusalOptsOut(t *testing.T) {
	ctx, st, now, clock := context.Background(), openStore(t), archiveNow, fixedClock(archiveNow)
	src := &fakeArchive{msgs: []wecom.ArchiveMessage{
		chat(1, "m1", "wmMa", "sales1", "以后活动就不用发我了", now.Add(-3*time.Minute)),
		chat(2, "m2", "wmMa", "sales1", "真的，别再群发了", now.Add(-2*time.Minute)),
		chat(3, "m3", "wmZhao", "sales1", "别发快递，我自己来拿", now.Add(-time.Minute)),
		chat(4, "m4", "sales1", "wmLi", "好的，不再打扰您", now),
	}}
	pullTwice(t, st, bot.NewArchive(st, src, nil, bot.ArchiveOptions{Owner: "a", Core: bot.NewCore(st, clock), Now: clock}))
	for ext, want := range map[string]bool{"wmMa": true, "wmZhao": false, "wmLi": false} {
		c := extCustomer(t, st, ext)
		if bot.OptedOut(c) != want {
			t.Errorf("%s opted out: %v, want %v", ext, bot.OptedOut(c), want)
		}
		audit, _ := st.FindAudit(ctx, c.ID, 0, 10)
		tl, _ := st.FindTimeline(ctx, c.ID, 0, 20)
		entries := 0
		for _, e := range tl {
			if e.Attrs["change"] == "opt_out" {
				entries++
				if !strings.Contains(e.Text, "不用发我了") {
					t.Errorf("entry %q does not quote the customer", e.Text)
				}
			}
		}
		if wantN := map[bool]int{true: 1}[want]; entries != wantN || len(audit) != wantN {
			t.Errorf("%s: %d opt-out entries and %d audit entries, want %d", ext, entries, len(audit), wantN)
		}
	}
}
