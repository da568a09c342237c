package bot_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

func ibKFEvents(h *ibHarness) []*store.Event {
	h.t.Helper()
	evs, err := h.st.FindEvents(h.ctx, store.EventFilter{Channel: store.ChannelKF, Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

func (h *ibHarness) kfCallback(token, openKfID string) {
	h.t.Helper()
	d, err := h.drv.SendKFEvent(h.ctx, token, openKfID)
	if err != nil || d.Status != 200 {
		h.t.Fatalf("kf callback: %v %v", d, err)
	}
	h.drain()
}

func TestKFSyncPullsEveryPageOnceAndLinksWeComContacts(t *testing.T) {
	h := newIB(t, ibOptions{kfPage: 2})
	// kfA is also sales1's WeCom contact: kf and 客户联系 share external_userid.
	h.contact("sales1", "wmKfA", "钱七", "")
	start := h.clock.Now()
	texts := []struct{ user, text string }{
		{"wmKfA", "你好，我想咨询售后"}, {"wmKfB", "在吗"}, {"wmKfA", "订单号 SO2026112401"},
		{"wmKfB", "发票怎么开"}, {"wmKfA", "谢谢"},
	}
	var token string
	for i, m := range texts {
		token = h.sim.AddKFMessage(wecomtest.KFMessage{OpenKfID: "wkSupport", ExternalUserID: m.user, Content: m.text,
			SendTime: start.Add(time.Duration(i) * time.Second)})
	}
	// A system event and a message from another account are not this pull's.
	h.sim.AddKFMessage(wecomtest.KFMessage{OpenKfID: "wkSupport", ExternalUserID: "wmKfB", MsgType: "event", EventType: "enter_session"})
	h.sim.AddKFMessage(wecomtest.KFMessage{OpenKfID: "wkOther", ExternalUserID: "wmKfC", Content: "别的账号"})
	h.sim.KFEmptyPages(2) // has_more with empty pages, as the real API does

	h.kfCallback(token, "wkSupport")

	evs := ibKFEvents(h)
	if len(evs) != len(texts) {
		t.Fatalf("stored %d kf messages, want %d", len(evs), len(texts))
	}
	for _, ev := range evs {
		if !strings.HasPrefix(ev.DedupKey, "kf:msg:") || ev.Kind != "text" || ev.Attrs["OpenKfId"] != "wkSupport" || len(ev.Raw) == 0 {
			t.Fatalf("stored event %+v", ev)
		}
	}
	calls := h.sim.Calls("kf/sync_msg")
	if calls < 5 { // 2 empty pages + at least 3 pages of 2
		t.Fatalf("%d sync_msg calls: pages or empty has_more pages were skipped", calls)
	}
	cursor, _ := h.st.GetCursor(h.ctx, "kf:wkSupport")
	if cursor == "" {
		t.Fatal("cursor not persisted")
	}

	// One customer for kf user A and WeCom contact A, with the kf messages in order.
	a := h.customer(store.Identity{Kind: store.IdentityKFUserID, Value: "wmKfA"})
	if w := h.customer(store.Identity{Kind: store.IdentityExternalUserID, Value: "wmKfA"}); w.ID != a.ID || a.Name != "钱七" {
		t.Fatalf("kf user and WeCom contact not linked: %+v / %+v", a, w)
	}
	var got []string
	for _, e := range h.timeline(a.ID) {
		if e.Kind == store.EntryMessage && e.Channel == store.ChannelKF {
			got = append([]string{e.Text}, got...)
		}
	}
	if strings.Join(got, "|") != "你好，我想咨询售后|订单号 SO2026112401|谢谢" {
		t.Fatalf("kf timeline %v", got)
	}
	// Customer A's messages reach their owner.
	if n := h.sentContaining("sales1", "微信客服 · 钱七"); n != 3 {
		t.Fatalf("owner got %d kf forwards, want 3: %+v", n, h.sim.SentTo("sales1"))
	}

	// A new callback with nothing new, and a full re-pull from the start,
	// add nothing: the cursor moves on and dedup keys absorb repeats.
	h.kfCallback(h.sim.NewKFToken(), "wkSupport")
	if n := len(ibKFEvents(h)); n != len(texts) {
		t.Fatalf("%d kf events after a second callback, want %d", n, len(texts))
	}
	if err := h.st.SetCursor(h.ctx, "kf:wkSupport", ""); err != nil {
		t.Fatal(err)
	}
	if n, err := h.kf.Pull(h.ctx, "wkSupport", h.sim.NewKFToken(), "re-pull"); err != nil || n != 0 {
		t.Fatalf("re-pull from the start added %d (err %v), want 0", n, err)
	}
	h.drain()
	if n := len(ibKFEvents(h)); n != len(texts) {
		t.Fatalf("%d kf events after a re-pull, want %d", n, len(texts))
	}
	if n := h.sentContaining("sales1", "微信客服 · 钱七"); n != 3 {
		t.Fatalf("owner got %d forwards after re-pulls, want 3", n)
	}

	// A later message is pulled from the saved cursor.
	h.kfCallback(h.sim.AddKFMessage(wecomtest.KFMessage{OpenKfID: "wkSupport", ExternalUserID: "wmKfB", Content: "还在吗"}), "wkSupport")
	if n := len(ibKFEvents(h)); n != len(texts)+1 {
		t.Fatalf("%d kf events after a new message, want %d", n, len(texts)+1)
	}
}

func TestKFSyncWaitsForAnotherPuller(t *testing.T) {
	h := newIB(t, ibOptions{})
	token := h.sim.AddKFMessage(wecomtest.KFMessage{OpenKfID: "wkSupport", ExternalUserID: "wmKfA", Content: "你好"})
	if ok, err := h.lc.Acquire(h.ctx, "kf:wkSupport", "another-instance", time.Minute); err != nil || !ok {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	ev := &store.Event{Kind: wecom.KindKFMsgOrEvent, DedupKey: "kf:" + token, Attrs: map[string]string{"Token": token, "OpenKfId": "wkSupport"}}
	if err := h.kf.Process(h.ctx, ev); !errors.Is(err, bot.ErrKFBusy) {
		t.Fatalf("pull under another's lease: %v, want ErrKFBusy", err)
	}
	if h.sim.Calls("kf/sync_msg") != 0 {
		t.Fatal("pulled while another instance holds the account")
	}
	if err := h.lc.Release(h.ctx, "kf:wkSupport", "another-instance"); err != nil {
		t.Fatal(err)
	}
	if err := h.kf.Process(h.ctx, ev); err != nil {
		t.Fatal(err)
	}
	if n := len(ibKFEvents(h)); n != 1 {
		t.Fatalf("%d kf events, want 1", n)
	}
	// The lease is given back after the pull.
	if ok, _ := h.lc.Acquire(h.ctx, "kf:wkSupport", "another-instance", time.Minute); !ok {
		t.Fatal("lease not released after the pull")
	}
}

func TestKFReplyGoesThroughTheAccountTheCustomerWroteTo(t *testing.T) {
	h := newIB(t, ibOptions{})
	h.contact("sales1", "wmKfA", "钱七", "")
	h.kfCallback(h.sim.AddKFMessage(wecomtest.KFMessage{OpenKfID: "wkSupport", ExternalUserID: "wmKfA", Content: "退货地址是哪里"}), "wkSupport")

	if got := h.staffSays("sales1", "回 钱七 上海市浦东新区XX路1号"); !strings.Contains(got, "已通过微信客服回复 钱七") {
		t.Fatalf("reply: %q", got)
	}
	sent := h.sim.SentTo("wmKfA")
	if len(sent) != 1 || sent[0].Channel != wecomtest.SentKF || sent[0].From != "wkSupport" || sent[0].Content != "上海市浦东新区XX路1号" {
		t.Fatalf("kf customer got %+v", sent)
	}
	h.clock.Advance(49 * time.Hour)
	if got := h.staffSays("sales1", "回 钱七 还需要吗"); !strings.Contains(got, "钱七 超过48小时未发消息，微信客服无法主动回复，请通过企业微信联系") {
		t.Fatalf("reply after 49 h: %q", got)
	}
	if n := len(h.sim.SentTo("wmKfA")); n != 1 {
		t.Fatalf("kf customer got %d messages, want 1", n)
	}
}

func TestKFSyncPullsWithoutTheTokenOnceItExpired(t *testing.T) {
	h := newIB(t, ibOptions{})
	token := h.sim.AddKFMessage(wecomtest.KFMessage{OpenKfID: "wkSupport", ExternalUserID: "wmKfA", Content: "你好"})
	d, err := h.drv.SendKFEvent(h.ctx, token, "wkSupport")
	if err != nil || d.Status != 200 {
		t.Fatalf("kf callback: %v %v", d, err)
	}
	// scrm was down for longer than the token lives.
	h.clock.Advance(11 * time.Minute)
	h.drain()
	if n := len(ibKFEvents(h)); n != 1 {
		t.Fatalf("%d kf events after a late callback, want 1", n)
	}
	if calls := h.sim.Calls("kf/sync_msg"); calls != 2 {
		t.Fatalf("%d sync_msg calls, want 2 (rejected token, then without one)", calls)
	}
}
