package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/coord"
	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// harness is a minimal scrm (edge, store, customer pipeline) with the demo
// mounted, wired the way cmd/scrm wires it, but without cmd's flags.
type harness struct {
	demo *Demo
	sim  *wecomtest.Simulator
	st   *sqlite.DB
	url  string
	done <-chan struct{}
}

type harnessOpts struct {
	wecomToken  string // the server's WeCom token; a wrong one makes every WeCom callback fail
	skipHistory bool
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.WithSynchronous("NORMAL"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	token := wecomtest.SimToken
	if o.wecomToken != "" {
		token = o.wecomToken
	}
	wc, err := wecom.NewCrypto(token, wecomtest.SimAESKey, wecomtest.SimCorpID)
	if err != nil {
		t.Fatal(err)
	}
	oc, err := wecom.NewCrypto(wecomtest.SimOAToken, wecomtest.SimOAAESKey, wecomtest.SimOAAppID)
	if err != nil {
		t.Fatal(err)
	}
	co := coord.NewLocal()
	log := slog.New(slog.DiscardHandler)
	srv := handlers.New(st, co, handlers.Options{WeCom: wc, OAToken: wecomtest.SimOAToken, OA: oc, Writers: 1, Logger: log}, co)
	d, err := New(Options{Store: st, Sim: sim, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	d.Mount(srv.App())
	pipe := bot.NewPipeline(st, bot.PipelineOptions{Owner: "test", Wake: co.Subscribe(ctx, handlers.TopicEvents),
		Poll: 100 * time.Millisecond, Logger: log}, bot.NewCustomers(st, nil))
	workers := make(chan struct{})
	go func() { defer close(workers); pipe.Run(ctx) }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	h := &harness{demo: d, sim: sim, st: st, url: "http://" + ln.Addr().String()}
	h.done, err = d.Start(ctx, h.url, o.skipHistory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		cancel()
		<-workers
		_ = sim.Close()
		_ = st.Close()
	})
	return h
}

func (h *harness) waitSeeded(t *testing.T) {
	t.Helper()
	select {
	case <-h.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("seeding did not finish: %+v", h.demo.State().Seed)
	}
}

func (h *harness) getJSON(t *testing.T, path string, out any) int {
	t.Helper()
	resp, err := http.Get(h.url + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("GET %s: decode: %v", path, err)
		}
	}
	return resp.StatusCode
}

func (h *harness) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(h.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually polls cond for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSeedData(t *testing.T) {
	stages := []string{store.StageLead, store.StageActive, store.StageWon, store.StageDormant, store.StageLost}
	var allTags []string
	for _, g := range TagGroups {
		allTags = append(allTags, g.Tags...)
	}
	t.Run("company", func(t *testing.T) {
		managers := 0
		for _, s := range StaffList {
			if s.Manager {
				managers++
			}
		}
		if managers != 1 || len(StaffList) != 4 {
			t.Fatalf("want 1 manager and 3 salespeople, got %d staff with %d managers", len(StaffList), managers)
		}
		if n := len(People); n < 25 || n > 35 {
			t.Fatalf("want about 30 customers, got %d", n)
		}
	})
	t.Run("people are consistent", func(t *testing.T) {
		seen := map[string]bool{}
		for _, p := range People {
			for _, id := range []string{p.Key, p.ExternalUserID, p.OpenID, p.UnionID} {
				if id == "" || seen[id] {
					t.Errorf("%s: empty or duplicate id %q", p.Key, id)
				}
				seen[id] = true
			}
			if FindStaff(p.Owner) == nil {
				t.Errorf("%s: unknown owner %q", p.Key, p.Owner)
			}
			if !slices.Contains(stages, p.Stage) {
				t.Errorf("%s: stage %q is not a store stage", p.Key, p.Stage)
			}
			for _, tag := range p.Tags {
				if !slices.Contains(allTags, tag) {
					t.Errorf("%s: tag %q is in no tag group", p.Key, tag)
				}
			}
			if p.Channel != ChannelOA && p.Channel != ChannelKF {
				t.Errorf("%s: channel %q", p.Key, p.Channel)
			}
			if len(p.Lines) == 0 {
				t.Errorf("%s: no conversation", p.Key)
			}
			if len(p.ExternalUserID) != 32 || len(p.OpenID) != 28 {
				t.Errorf("%s: ids do not look like WeCom's: %q %q", p.Key, p.ExternalUserID, p.OpenID)
			}
		}
	})
	t.Run("directory: the manager sees the team, sales themselves", func(t *testing.T) {
		dir := Directory()
		ctx := context.Background()
		mgr, _ := dir.Viewer(ctx, "limin")
		sales, _ := dir.Viewer(ctx, "wangfang")
		for _, p := range People {
			c := &store.Customer{Follows: []store.Follow{{StaffID: p.Owner}}}
			if !mgr.CanSee(c) {
				t.Errorf("manager cannot see %s", p.Key)
			}
			if got, want := sales.CanSee(c), p.Owner == "wangfang"; got != want {
				t.Errorf("王芳 sees %s: %v, want %v", p.Key, got, want)
			}
		}
	})
	t.Run("kf lines are inside sync_msg's three days", func(t *testing.T) {
		for _, p := range People {
			for _, l := range p.Lines {
				if p.Channel == ChannelKF && l.DaysAgo > 2 {
					t.Errorf("%s: kf line %d days ago is outside the 3-day window", p.Key, l.DaysAgo)
				}
			}
		}
	})
}

func TestLineTimes(t *testing.T) {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	lines := []Line{{2, "10:00", "a"}, {0, "09:00", "b"}, {0, "09:00", "c"}, {0, "23:59", "d"}}
	tests := []struct {
		name string
		now  time.Time
	}{
		{"early morning: today's lines slide before now", time.Date(2025, 3, 5, 6, 30, 0, 0, loc)},
		{"evening: today's lines keep their clock", time.Date(2025, 3, 5, 23, 59, 30, 0, loc)},
		{"just after midnight", time.Date(2025, 3, 5, 0, 1, 0, 0, loc)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := lineTimes(lines, tt.now, loc)
			for i, at := range ts {
				if !at.Before(tt.now) {
					t.Errorf("line %d at %v is not before now %v", i, at, tt.now)
				}
				if i > 0 && !at.After(ts[i-1]) {
					t.Errorf("line %d at %v is not after line %d at %v", i, at, i-1, ts[i-1])
				}
			}
			if got := ts[0].In(loc); got.Day() != 3 || got.Hour() != 10 {
				t.Errorf("line 0 at %v, want 2 days before at 10:00", got)
			}
		})
	}
}

// TestHistoryBuildsTimelines checks that the seeded history goes through the
// real callback path and that scrm's pipeline turns it into records.
func TestHistoryBuildsTimelines(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.waitSeeded(t)
	st := h.demo.State()
	if st.Seed.State != "ready" || st.Seed.Done != st.Seed.Total || st.Seed.Total == 0 {
		t.Fatalf("seed state %+v", st.Seed)
	}
	ctx := context.Background()
	stats, err := h.st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Events != int64(st.Seed.Total) {
		t.Fatalf("store has %d events, seeding sent %d callbacks", stats.Events, st.Seed.Total)
	}

	// Wait until the pipeline has processed the log.
	eventually(t, 15*time.Second, "pipeline to catch up", func() bool {
		_, err := h.st.OldestUnprocessed(ctx)
		return errors.Is(err, store.ErrNotFound)
	})

	for _, p := range People {
		if p.Channel != ChannelOA {
			continue // kf messages need scrm's kf sync, which pulls them itself
		}
		t.Run(p.Key, func(t *testing.T) {
			rec, err := h.demo.Record(ctx, FindPerson(p.Key))
			if err != nil {
				t.Fatal(err)
			}
			if rec.Card == nil {
				t.Fatal("no record in scrm")
			}
			if !slices.Contains(rec.Card.Owners, staffName(p.Owner)) {
				t.Errorf("owners %v, want %s", rec.Card.Owners, staffName(p.Owner))
			}
			var texts []string
			for _, e := range rec.Timeline {
				if e.Kind == store.EntryMessage {
					texts = append(texts, e.Text)
				}
			}
			for _, l := range p.Lines {
				if !slices.Contains(texts, l.Text) {
					t.Errorf("timeline lacks %q", l.Text)
				}
			}
			for i := 1; i < len(rec.Timeline); i++ {
				if rec.Timeline[i].At.After(rec.Timeline[i-1].At) {
					t.Errorf("timeline not newest first at %d", i)
				}
			}
		})
	}

	t.Run("salesperson's feed holds only their customers", func(t *testing.T) {
		var items struct{ Items []FeedItem }
		h.getJSON(t, "/demo/api/staff/zhangwei/feed", &items)
		if len(items.Items) == 0 {
			t.Fatal("empty feed")
		}
		for _, it := range items.Items {
			if FindPerson(it.Key).Owner != "zhangwei" {
				t.Errorf("feed shows %s, owned by %s", it.Name, FindPerson(it.Key).Owner)
			}
		}
		var mgr struct{ Items []FeedItem }
		h.getJSON(t, "/demo/api/staff/limin/feed", &mgr)
		owners := map[string]bool{}
		for _, it := range mgr.Items {
			owners[FindPerson(it.Key).Owner] = true
		}
		if len(owners) < 2 {
			t.Errorf("manager's feed covers %d salespeople, want the team", len(owners))
		}
	})
}

func TestSendAsCustomerReachesTimeline(t *testing.T) {
	h := newHarness(t, harnessOpts{skipHistory: true})
	ctx := context.Background()
	msg := fmt.Sprintf("下周三下午再联系我 %d", time.Now().UnixNano())
	code, body := h.post(t, "/demo/api/customers/zhaolei/messages", `{"channel":"oa","text":"`+msg+`"}`)
	if code != http.StatusOK {
		t.Fatalf("send: %d %s", code, body)
	}
	// First message on the OA: the demo makes them follow first.
	evs, err := h.st.FindEvents(ctx, store.EventFilter{Channel: store.ChannelOA})
	if err != nil {
		t.Fatal(err)
	}
	kinds := []string{}
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	if !slices.Equal(kinds, []string{"event.subscribe", "text"}) {
		t.Fatalf("stored OA events %v, want a follow then the text", kinds)
	}
	eventually(t, 10*time.Second, "the message on the timeline", func() bool {
		var rec RecordView
		h.getJSON(t, "/demo/api/customers/zhaolei", &rec)
		for _, e := range rec.Timeline {
			if e.Text == msg && e.Direction == store.DirectionIn && e.Channel == store.ChannelOA {
				return true
			}
		}
		return false
	})
	var phone struct{ Messages []PhoneMsgView }
	h.getJSON(t, "/demo/api/customers/zhaolei/phone?channel=oa", &phone)
	if len(phone.Messages) != 1 || phone.Messages[0].Text != msg || phone.Messages[0].Status != "ok" {
		t.Fatalf("phone shows %+v", phone.Messages)
	}
	var act struct{ Items []activity }
	h.getJSON(t, "/demo/api/activity", &act)
	if len(act.Items) != 2 || !strings.Contains(act.Items[0].Summary, "/oa/callback") || act.Items[0].Status != "ok" {
		t.Fatalf("activity %+v", act.Items)
	}
	for _, a := range act.Items {
		if strings.Contains(a.Summary, msg) {
			t.Errorf("activity log shows the message text: %q", a.Summary)
		}
	}

	t.Run("kf message is delivered as a kf callback and queued for sync_msg", func(t *testing.T) {
		code, body := h.post(t, "/demo/api/customers/wumin/messages", `{"channel":"kf","text":"在吗"}`)
		if code != http.StatusOK {
			t.Fatalf("send: %d %s", code, body)
		}
		evs, err := h.st.FindEvents(ctx, store.EventFilter{Kind: "event.kf_msg_or_event"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Attrs["OpenKfId"] != KFAccountID || evs[0].Attrs["Token"] == "" {
			t.Fatalf("kf events %+v", evs)
		}
	})
}

func TestSendAsStaffAndBotChat(t *testing.T) {
	h := newHarness(t, harnessOpts{skipHistory: true})
	code, body := h.post(t, "/demo/api/staff/wangfang/messages", `{"text":"帮助"}`)
	if code != http.StatusOK {
		t.Fatalf("send: %d %s", code, body)
	}
	evs, err := h.st.FindEvents(context.Background(), store.EventFilter{Channel: store.ChannelWeCom, Kind: "text"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].StaffID != "wangfang" || evs[0].Text != "帮助" {
		t.Fatalf("stored %+v", evs)
	}
	// Play scrm answering through the WeCom API, as the bot does.
	sendApp(t, h.sim, "wangfang", "markdown", map[string]any{"content": "**scrm 助手**\n> 查 张三"})
	var chat struct{ Messages []ChatMsgView }
	h.getJSON(t, "/demo/api/staff/wangfang/chat", &chat)
	if len(chat.Messages) != 2 || chat.Messages[0].From != "me" || chat.Messages[1].From != "bot" ||
		chat.Messages[1].Kind != "markdown" || !strings.Contains(chat.Messages[1].Text, "scrm 助手") {
		t.Fatalf("chat %+v", chat.Messages)
	}
	var other struct{ Messages []ChatMsgView }
	h.getJSON(t, "/demo/api/staff/zhangwei/chat", &other)
	if len(other.Messages) != 0 {
		t.Fatalf("another salesperson sees %+v", other.Messages)
	}
	var stats StatsView
	h.getJSON(t, "/demo/api/stats", &stats)
	if stats.BotSent != 1 || stats.Events != 1 {
		t.Fatalf("stats %+v", stats)
	}

	t.Run("pressing a card button is a template_card_event callback", func(t *testing.T) {
		code, body := h.post(t, "/demo/api/staff/wangfang/card-event", `{"task_id":"r-42","key":"done:42","card_type":"button_interaction"}`)
		if code != http.StatusOK {
			t.Fatalf("press: %d %s", code, body)
		}
		evs, err := h.st.FindEvents(context.Background(), store.EventFilter{Kind: "event.template_card_event"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].StaffID != "wangfang" || evs[0].Attrs["TaskId"] != "r-42" || evs[0].Attrs["EventKey"] != "done:42" {
			t.Fatalf("stored %+v", evs)
		}
	})
}

// sendApp sends an app message through the simulator's API the way scrm's
// outbound client does.
func sendApp(t *testing.T, sim *wecomtest.Simulator, to, msgType string, obj map[string]any) {
	t.Helper()
	resp, err := http.Get(sim.URL + "/cgi-bin/gettoken?corpid=" + wecomtest.SimCorpID + "&corpsecret=" + wecomtest.SimAppSecret)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	body, _ := json.Marshal(map[string]any{"touser": to, "msgtype": msgType, "agentid": wecomtest.SimAgentID, msgType: obj})
	resp, err = http.Post(sim.URL+"/cgi-bin/message/send?access_token="+tok.AccessToken, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var ans struct {
		ErrCode int `json:"errcode"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if ans.ErrCode != 0 {
		t.Fatalf("message/send: errcode %d", ans.ErrCode)
	}
}

func TestAPIRejectsBadInput(t *testing.T) {
	h := newHarness(t, harnessOpts{skipHistory: true})
	long := strings.Repeat("长", maxText+1)
	tests := []struct {
		name, path, body string
		want             int
	}{
		{"unknown customer", "/demo/api/customers/nobody/messages", `{"text":"hi"}`, http.StatusNotFound},
		{"unknown staff", "/demo/api/staff/nobody/messages", `{"text":"hi"}`, http.StatusNotFound},
		{"empty text", "/demo/api/customers/liuyang/messages", `{"text":"   "}`, http.StatusBadRequest},
		{"too long", "/demo/api/customers/liuyang/messages", `{"text":"` + long + `"}`, http.StatusBadRequest},
		{"bad channel", "/demo/api/customers/liuyang/messages", `{"channel":"sms","text":"hi"}`, http.StatusBadRequest},
		{"not json", "/demo/api/staff/wangfang/messages", `text=hi`, http.StatusBadRequest},
		{"card event without key", "/demo/api/staff/wangfang/card-event", `{"task_id":"t1"}`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := h.post(t, tt.path, tt.body)
			if code != tt.want {
				t.Fatalf("status %d (%s), want %d", code, body, tt.want)
			}
			var e struct{ Error string }
			if json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
				t.Fatalf("error body %q is not {\"error\": …}", body)
			}
		})
	}
	stats, err := h.st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Events != 0 {
		t.Fatalf("rejected requests stored %d events", stats.Events)
	}
	if code := h.getJSON(t, "/demo/api/customers/liuyang/phone?channel=sms", nil); code != http.StatusBadRequest {
		t.Fatalf("phone with bad channel: %d", code)
	}
}

// TestRejectedCallbackIsReported points the demo at a server with another
// WeCom token: scrm refuses the signature, and the page must say so rather
// than show the message as delivered.
func TestRejectedCallbackIsReported(t *testing.T) {
	h := newHarness(t, harnessOpts{wecomToken: "someothertoken", skipHistory: true})
	code, body := h.post(t, "/demo/api/staff/wangfang/messages", `{"text":"帮助"}`)
	if code != http.StatusBadGateway || !strings.Contains(body, "HTTP 401") {
		t.Fatalf("status %d body %s, want 502 naming scrm's 401", code, body)
	}
	chat := h.demo.Chat("wangfang")
	if len(chat) != 1 || chat[0].Status != "failed" {
		t.Fatalf("chat %+v", chat)
	}
	if a := h.demo.Activity(1); len(a) != 1 || a[0].Status != "failed" {
		t.Fatalf("activity %+v", a)
	}
}

func TestBotMessageRendering(t *testing.T) {
	tests := []struct {
		name string
		in   wecomtest.SentMessage
		want ChatMsgView
	}{
		{"markdown", wecomtest.SentMessage{MsgType: "markdown", Content: "**hi**", Raw: json.RawMessage(`{"content":"**hi**"}`)},
			ChatMsgView{From: "bot", Kind: "markdown", Text: "**hi**"}},
		{"textcard strips markup", wecomtest.SentMessage{MsgType: "textcard", Content: "提醒\n回访",
			Raw: json.RawMessage(`{"title":"提醒","description":"<div class=\"gray\">今天</div>回访 刘洋","url":"https://x.example/1"}`)},
			ChatMsgView{From: "bot", Kind: "textcard", Text: "提醒\n回访", Title: "提醒", Description: "今天回访 刘洋", URL: "https://x.example/1"}},
		{"template card with buttons", wecomtest.SentMessage{MsgType: "template_card", Content: "回访提醒",
			Raw: json.RawMessage(`{"card_type":"button_interaction","task_id":"r-42","main_title":{"title":"回访提醒","desc":"刘洋"},` +
				`"horizontal_content_list":[{"keyname":"时间","value":"周三 15:00"}],` +
				`"button_list":[{"text":"完成","key":"done:42"},{"text":"推迟一天","key":"snooze:42"}]}`)},
			ChatMsgView{From: "bot", Kind: "template_card", Text: "回访提醒", Title: "回访提醒", Description: "刘洋\n时间：周三 15:00",
				TaskID: "r-42", CardType: "button_interaction",
				Buttons: []ButtonView{{Text: "完成", Key: "done:42"}, {Text: "推迟一天", Key: "snooze:42"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := botMessage(tt.in)
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tt.want)
			if !bytes.Equal(gj, wj) {
				t.Fatalf("got  %s\nwant %s", gj, wj)
			}
		})
	}
}

func TestPageIsSelfContained(t *testing.T) {
	h := newHarness(t, harnessOpts{skipHistory: true})
	tests := []struct {
		path, ctype string
		must        []string
	}{
		{"/demo", "text/html", []string{`data-testid="customer-input"`, `data-testid="bot-chat"`, `data-testid="timeline"`, "消息经真实的签名、加密回调进入 scrm"}},
		{"/demo/assets/app.js", "javascript", []string{"/demo/api"}},
		{"/demo/assets/app.css", "text/css", []string{".timeline"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(h.url + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), tt.ctype) {
				t.Fatalf("status %d content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if !utf8.Valid(b) {
				t.Fatal("not UTF-8")
			}
			for _, m := range tt.must {
				if !strings.Contains(string(b), m) {
					t.Errorf("lacks %q", m)
				}
			}
			// No external resources: the demo must work offline.
			for _, bad := range []string{`src="http`, `href="http`, `url(http`, "@import", "//cdn", "fonts.googleapis"} {
				if strings.Contains(string(b), bad) {
					t.Errorf("refers to an external resource: %q", bad)
				}
			}
		})
	}
	if resp, err := http.Get(h.url + "/demo/assets/index.html"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("asset route serves index.html: %v %v", resp.StatusCode, err)
	}
}
