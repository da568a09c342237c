package bot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/nlp"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
)

var anZone = nlp.BusinessLocation("Asia/Shanghai")

// anLog keeps the expected warnings (LLM down, retries) out of the test output.
var anLog = slog.New(slog.DiscardHandler)

// anT0 is Tuesday 2026-11-24 10:00 in Shanghai.
var anT0 = time.Date(2026, 11, 24, 10, 0, 0, 0, anZone)

const (
	fakeModel = "fake-model"
	fakeKey   = "sk-test-key"
	// fakeGarbage is what the fake answers in garbage mode; it must never
	// be stored.
	fakeGarbage = "抱歉，我无法输出JSON GARBAGE-7f3a"
)

// llmFake is a local OpenAI-compatible chat completions endpoint. It answers
// each of the analyzer's tasks (told apart by the system prompt) with a
// valid answer, reports usage as nlp.EstimateTokens of what it received and
// sent, and records every request.
type llmFake struct {
	mu       sync.Mutex
	srv      *httptest.Server
	mode     string // "ok", "down" (503), "garbage"
	tooMany  int    // answer this many requests with 429 first
	requests []llmFakeRequest
}

type llmFakeRequest struct {
	Auth, Model, Task, Body, User string
	Status                        int
}

func newLLMFake(t *testing.T) *llmFake {
	f := &llmFake{mode: "ok"}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *llmFake) URL() string { return f.srv.URL + "/v1" }

func (f *llmFake) set(mode string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = mode
}

func (f *llmFake) all() []llmFakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

var anSentAtRe = regexp.MustCompile(`消息发送时间：(\S+?)（`)

func (f *llmFake) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Model    string `json:"model"`
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	_ = json.Unmarshal(body, &req)
	rec := llmFakeRequest{Auth: r.Header.Get("Authorization"), Model: req.Model, Body: string(body)}
	prompt := ""
	for _, m := range req.Messages {
		prompt += m.Content
		if m.Role == "user" && rec.User == "" {
			rec.User = m.Content
		}
	}
	if len(req.Messages) > 0 {
		sys := req.Messages[0].Content
		switch {
		case strings.Contains(sys, "滚动会话摘要"):
			rec.Task = "summary"
		case strings.Contains(sys, "承诺或约定"):
			rec.Task = "promises"
		case strings.Contains(sys, "情感倾向"):
			rec.Task = "sentiment"
		case strings.Contains(sys, "意图"):
			rec.Task = "intent"
		}
	}
	f.mu.Lock()
	mode := f.mode
	rec.Status = http.StatusOK
	switch {
	case r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost:
		rec.Status = http.StatusNotFound
	case f.tooMany > 0:
		f.tooMany--
		rec.Status = http.StatusTooManyRequests
	case mode == "down":
		rec.Status = http.StatusServiceUnavailable
	}
	f.requests = append(f.requests, rec)
	f.mu.Unlock()
	if rec.Status != http.StatusOK {
		w.Header().Set("Retry-After", "0")
		http.Error(w, `{"error":{"message":"unavailable","type":"server_error"}}`, rec.Status)
		return
	}
	var content string
	switch {
	case mode == "garbage":
		content = fakeGarbage
	case rec.Task == "summary":
		content = `{"overview":"客户在了解企业版的价格和部署方式","needs":["企业版报价"],"objections":[],"answers":[],"commitments":["双方约定再联系"],"questions":["是否支持私有部署"]}`
	case rec.Task == "promises":
		content = `{"promises":[]}`
		if m := anSentAtRe.FindStringSubmatch(rec.User); m != nil && strings.Contains(rec.User, "联系") {
			at, err := time.Parse(time.RFC3339, m[1])
			if err == nil {
				due := at.Add(24 * time.Hour).Format(time.RFC3339)
				content = `{"promises":[{"action":"联系客户","due":"` + due + `","who":"customer"}]}`
			}
		}
	case rec.Task == "sentiment":
		content = `{"label":"neutral","score":0.5}`
	default:
		content = `{"intent":"其他","confidence":0.5}`
	}
	pt, ct := nlp.EstimateTokens(prompt), nlp.EstimateTokens(content)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "created": time.Now().Unix(), "model": req.Model,
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": content}}},
		"usage": map[string]any{"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
	})
}

// anEnv is an analysis over a real SQLite store with a manual clock.
type anEnv struct {
	st       *sqlite.DB
	clock    *jobClock
	analysis *bot.Analysis
	runners  []*bot.JobRunner
}

type anConfig struct {
	llmURL string // "" for offline
	apply  bool
	budget int64
	owners []string // one runner per owner (default one)
}

func newAnEnv(t *testing.T, cfg anConfig) *anEnv {
	t.Helper()
	e := &anEnv{st: openStore(t), clock: newJobClock(anT0)}
	var an *nlp.Analyzer
	if cfg.llmURL != "" {
		llm, err := nlp.NewLLM(nlp.LLMConfig{
			BaseURL: cfg.llmURL, APIKey: fakeKey, Model: fakeModel,
			Timeout: 5 * time.Second, MaxAttempts: 2, DailyTokenBudget: cfg.budget,
			Location: anZone, Now: e.clock.Now, Sleep: func(time.Duration) {}, Logger: anLog,
		})
		if err != nil {
			t.Fatal(err)
		}
		an = nlp.NewAnalyzer(llm, nlp.AnalyzerOptions{Location: anZone, Now: e.clock.Now, NoFallback: true, Logger: anLog})
	}
	e.analysis = bot.NewAnalysis(e.st, an, bot.AnalysisOptions{
		Quiet: 10 * time.Minute, Apply: cfg.apply, Location: anZone, Now: e.clock.Now, Logger: anLog,
	})
	owners := cfg.owners
	if len(owners) == 0 {
		owners = []string{"worker-a"}
	}
	for _, o := range owners {
		e.runners = append(e.runners, bot.NewJobRunner(e.st, bot.AnalysisJobKind, e.analysis.HandleJob,
			bot.RunnerOptions{Owner: o, Batch: 10, Now: e.clock.Now, Logger: anLog}))
	}
	return e
}

// customer creates a customer on the Official Account followed by staff.
func (e *anEnv) customer(t *testing.T, openid, name, staff string) *store.Customer {
	t.Helper()
	u := store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityOpenID, Value: openid}, Name: name, Now: e.clock.Now()}
	if staff != "" {
		u.Follow = &store.Follow{StaffID: staff, AddedAt: e.clock.Now()}
	}
	c, err := e.st.UpsertCustomer(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var anSeq int

// say puts a message on the customer's timeline at the current time and
// arms the analysis, as the customers and analysis processors do.
func (e *anEnv) say(t *testing.T, c *store.Customer, dir, text string) *store.TimelineEntry {
	t.Helper()
	ctx := context.Background()
	anSeq++
	entry := &store.TimelineEntry{CustomerID: c.ID, SourceKey: fmt.Sprintf("test:%d", anSeq), Kind: store.EntryMessage,
		Channel: store.ChannelOA, Direction: dir, Text: text, At: e.clock.Now()}
	if dir == store.DirectionOut {
		entry.StaffID = "zhangwei"
	}
	if _, err := e.st.AppendTimeline(ctx, entry); err != nil {
		t.Fatal(err)
	}
	if err := e.st.ScheduleJob(ctx, bot.AnalysisJobKey(c.ID), bot.AnalysisJobKind, c.ID, e.clock.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	return entry
}

// runDue advances the clock past the quiet period and runs every runner
// concurrently until no analysis job is left (or rounds run out).
func (e *anEnv) runDue(t *testing.T, rounds int) {
	t.Helper()
	for range rounds {
		if jobsPending(t, e.st, bot.AnalysisJobKind) == 0 {
			return
		}
		e.clock.Add(11 * time.Minute)
		var wg sync.WaitGroup
		for _, r := range e.runners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := r.RunOnce(context.Background()); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
}

func (e *anEnv) load(t *testing.T, id string) *store.Customer {
	t.Helper()
	return loadCustomer(t, e.st, id)
}

func (e *anEnv) analyses(t *testing.T, id string) []*store.TimelineEntry {
	t.Helper()
	all, err := e.st.FindTimeline(context.Background(), id, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []*store.TimelineEntry
	for _, x := range all {
		if x.Kind == store.EntryAnalysis {
			out = append(out, x)
		}
	}
	return out
}

func (e *anEnv) reminders(t *testing.T, customerID string) []*store.Reminder {
	t.Helper()
	rs, err := e.st.FindReminders(context.Background(), store.ReminderFilter{CustomerID: customerID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestAnalysisOfflineEndToEnd(t *testing.T) {
	ctx := context.Background()
	e := newAnEnv(t, anConfig{})
	c := e.customer(t, "o-zhang", "张三", "zhangwei")
	procs := []bot.Processor{bot.NewCustomers(e.st, nil), e.analysis}
	p := bot.NewPipeline(e.st, bot.PipelineOptions{Owner: "p", Now: e.clock.Now}, procs...)

	at := e.clock.Now()
	evs := []*store.Event{
		oaText("o-zhang", "你好，想了解一下你们的企业版", "m1", at),
		oaText("o-zhang", "我们内部先商量，下周三下午再联系我", "m2", at.Add(time.Minute)),
	}
	appendEvents(t, e.st, evs...)
	e.clock.Add(time.Minute)
	if n, err := p.RunOnce(ctx); err != nil || n != 2 {
		t.Fatalf("pipeline RunOnce = %d, %v", n, err)
	}
	if got := jobsPending(t, e.st, bot.AnalysisJobKind); got != 1 {
		t.Fatalf("two messages scheduled %d analysis jobs, want 1 (debounced)", got)
	}
	// Not before the conversation has been quiet for the quiet period.
	e.clock.Add(5 * time.Minute)
	if n, _ := e.runners[0].RunOnce(ctx); n != 0 {
		t.Fatal("analysis ran before the quiet period")
	}
	e.runDue(t, 3)
	if got := jobsPending(t, e.st, bot.AnalysisJobKind); got != 0 {
		t.Fatalf("%d analysis jobs left", got)
	}

	got := e.load(t, c.ID)
	if got.Insight == nil {
		t.Fatal("no insight stored")
	}
	ins := got.Insight
	if ins.Model != nlp.OfflineModel || ins.Summary == "" || ins.SentimentLabel == "" || ins.AnalyzedAt.IsZero() {
		t.Errorf("insight = %+v", ins)
	}
	tl, _ := e.st.FindTimeline(ctx, c.ID, 0, 50)
	var lastMsg int64
	for _, x := range tl {
		if x.Kind == store.EntryMessage && x.ID > lastMsg {
			lastMsg = x.ID
		}
	}
	if ins.Through != lastMsg {
		t.Errorf("Through = %d, want the last message %d", ins.Through, lastMsg)
	}

	rs := e.reminders(t, c.ID)
	if len(rs) != 1 {
		t.Fatalf("reminders = %d, want 1: %+v", len(rs), rs)
	}
	r := rs[0]
	due := r.DueAt.In(anZone)
	wantDay := time.Date(2026, 12, 2, 0, 0, 0, 0, anZone) // next Wednesday
	if r.StaffID != "zhangwei" || r.Kind != store.ReminderPromise || r.Status != store.ReminderPending {
		t.Errorf("reminder = %+v", r)
	}
	if due.Weekday() != time.Wednesday || due.YearDay() != wantDay.YearDay() || due.Hour() < 12 || due.Hour() >= 18 {
		t.Errorf("reminder due %v, want the afternoon of Wednesday 2026-12-02 in Shanghai", due)
	}
	for _, want := range []string{"张三", "下周三下午再联系我", "再联系他", "12月2日（周三）下午"} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("reminder text %q lacks %q", r.Text, want)
		}
	}
	as := e.analyses(t, c.ID)
	if len(as) != 1 {
		t.Fatalf("analysis entries = %d, want 1", len(as))
	}
	if as[0].Attrs["model"] != nlp.OfflineModel || as[0].Attrs["through"] != strconv.FormatInt(lastMsg, 10) ||
		!strings.Contains(as[0].Attrs["promises"], "created") {
		t.Errorf("analysis attrs = %v", as[0].Attrs)
	}

	// A redelivered event re-arms the job; the run finds nothing new and
	// changes nothing.
	if err := e.analysis.Process(ctx, evs[1]); err != nil {
		t.Fatal(err)
	}
	e.runDue(t, 3)
	if n := len(e.analyses(t, c.ID)); n != 1 {
		t.Errorf("analysis entries after a redelivery = %d, want 1", n)
	}
	if n := len(e.reminders(t, c.ID)); n != 1 {
		t.Errorf("reminders after a redelivery = %d, want 1", n)
	}
	if again := e.load(t, c.ID).Insight; !again.AnalyzedAt.Equal(ins.AnalyzedAt) {
		t.Errorf("insight rewritten by an empty run: %v → %v", ins.AnalyzedAt, again.AnalyzedAt)
	}

	// A staff promise in the next burst reminds the staff member who made it.
	e.say(t, c, store.DirectionOut, "好的，我明天上午把正式报价发给您")
	e.runDue(t, 3)
	rs = e.reminders(t, c.ID)
	if len(rs) != 2 {
		t.Fatalf("reminders = %d, want 2", len(rs))
	}
	var staffR *store.Reminder
	for _, x := range rs {
		if strings.HasPrefix(x.Text, "你答应") {
			staffR = x
		}
	}
	if staffR == nil || !strings.Contains(staffR.Text, "张三") || !strings.Contains(staffR.Text, "报价") ||
		staffR.DueAt.In(anZone).Day() != 25 || staffR.DueAt.In(anZone).Hour() >= 12 {
		t.Errorf("staff promise reminder = %+v", staffR)
	}
	if n := len(e.analyses(t, c.ID)); n != 2 {
		t.Errorf("analysis entries = %d, want 2", n)
	}
}

// TestAnalysisPromiseReminders: when each promise's reminder fires (the
// start of a named day part, an hour before a stated time, the morning of a
// bare day) and what it says, for promises of both sides.
func TestAnalysisPromiseReminders(t *testing.T) {
	for i, tc := range []struct {
		name, dir, text string
		due             time.Time // Shanghai
		want            []string
	}{
		{"customer asks to be called back", store.DirectionIn, "下周三下午再联系我",
			time.Date(2026, 12, 2, 14, 0, 0, 0, anZone), []string{"客户 张三 说“下周三下午再联系我” → 12月2日（周三）下午 再联系他"}},
		{"customer invites a visit", store.DirectionIn, "好的，周五下午可以来我们公司演示",
			time.Date(2026, 11, 27, 14, 0, 0, 0, anZone), []string{"→ 11月27日（周五）下午 可以去他们公司演示"}},
		{"customer's own commitment", store.DirectionIn, "合同我们法务还在看，月底前签",
			time.Date(2026, 11, 30, 9, 0, 0, 0, anZone), []string{"说“合同我们法务还在看，月底前签” → 11月30日（周一） 跟进"}},
		{"staff promise with a clock time", store.DirectionOut, "我明天下午三点前发报价给您",
			time.Date(2026, 11, 25, 14, 0, 0, 0, anZone), []string{"你答应 张三：明天下午三点前发报价给他（11月25日（周三）15:00）"}},
		{"soon", store.DirectionIn, "半小时后回我电话",
			anT0.Add(15 * time.Minute), []string{"10:30 回他电话"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAnEnv(t, anConfig{})
			c := e.customer(t, fmt.Sprintf("o-p%d", i), "张三", "zhangwei")
			e.say(t, c, tc.dir, tc.text)
			e.runDue(t, 3)
			rs := e.reminders(t, c.ID)
			if len(rs) != 1 {
				t.Fatalf("reminders = %+v, want 1", rs)
			}
			if !rs[0].DueAt.Equal(tc.due) {
				t.Errorf("due %v, want %v", rs[0].DueAt.In(anZone), tc.due)
			}
			for _, w := range tc.want {
				if !strings.Contains(rs[0].Text, w) {
					t.Errorf("text %q lacks %q", rs[0].Text, w)
				}
			}
		})
	}
}

func TestAnalysisSentimentAlertAndProposals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		apply bool
	}{{"proposed only", false}, {"applied", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newAnEnv(t, anConfig{apply: tc.apply})
			c := e.customer(t, "o-li", "李四", "wangfang")
			e.say(t, c, store.DirectionIn, "你们的产品很好用，谢谢！")
			e.say(t, c, store.DirectionIn, "服务也很棒，非常满意")
			e.runDue(t, 3)
			first := e.load(t, c.ID).Insight
			if first == nil || first.SentimentLabel != nlp.Positive {
				t.Fatalf("first insight = %+v, want positive", first)
			}
			if n := len(e.reminders(t, c.ID)); n != 0 {
				t.Fatalf("a happy customer raised %d reminders", n)
			}

			e.say(t, c, store.DirectionOut, "不客气，有问题随时找我")
			e.say(t, c, store.DirectionIn, "你们这服务太差了，货坏了三次都没人管，我要投诉！")
			e.runDue(t, 3)
			got := e.load(t, c.ID)
			ins := got.Insight
			if ins.SentimentLabel != nlp.Negative || ins.SentimentTrend >= -0.4 || ins.Intent != nlp.IntentComplaint {
				t.Errorf("insight = %+v, want negative, falling, 投诉", ins)
			}
			var alert *store.Reminder
			for _, r := range e.reminders(t, c.ID) {
				if r.Kind == store.ReminderSentiment {
					alert = r
				}
			}
			if alert == nil {
				t.Fatal("no sentiment alert")
			}
			if alert.StaffID != "wangfang" || alert.DueAt.After(e.clock.Now()) || !strings.Contains(alert.Text, "李四") ||
				!strings.Contains(alert.Text, "投诉") {
				t.Errorf("alert = %+v", alert)
			}
			as := e.analyses(t, c.ID)
			if len(as) != 2 {
				t.Fatalf("analysis entries = %d", len(as))
			}
			latest := as[0] // newest first
			if latest.Attrs["proposed_tags"] != "有投诉" || latest.Attrs["proposed_stage"] != store.StageActive || latest.Attrs["alert"] != "true" {
				t.Errorf("proposals = %v", latest.Attrs)
			}
			applied := slices.Contains(got.Tags, "有投诉") && got.Stage == store.StageActive
			if applied != tc.apply {
				t.Errorf("apply=%v but tags=%v stage=%s", tc.apply, got.Tags, got.Stage)
			}
			if !tc.apply && got.Stage != store.StageLead {
				t.Errorf("stage changed to %s without apply", got.Stage)
			}
			tags, err := e.st.FindTags(ctx)
			if err != nil {
				t.Fatal(err)
			}
			hasLocal := slices.ContainsFunc(tags, func(tg store.Tag) bool { return tg.ID == "local:有投诉" && tg.Local })
			if hasLocal != tc.apply {
				t.Errorf("local tag in catalogue = %v, want %v", hasLocal, tc.apply)
			}
		})
	}
}

// TestAnalysisSharpDropAlerts: a fall of the sentiment score by 0.4 or more
// alerts the owner even without a complaint; a mild dip does not.
func TestAnalysisSharpDropAlerts(t *testing.T) {
	for i, tc := range []struct {
		name, then string
		alert      bool
	}{
		{"disappointed", "说实话有点失望，效果没有宣传的那么好", true},
		{"neutral question", "请问周六上班吗", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAnEnv(t, anConfig{})
			c := e.customer(t, fmt.Sprintf("o-d%d", i), "周五", "limin")
			e.say(t, c, store.DirectionIn, "服务也很棒，非常满意")
			e.runDue(t, 3)
			e.say(t, c, store.DirectionIn, tc.then)
			e.runDue(t, 3)
			var alerts []*store.Reminder
			for _, r := range e.reminders(t, c.ID) {
				if r.Kind == store.ReminderSentiment {
					alerts = append(alerts, r)
				}
			}
			if (len(alerts) == 1) != tc.alert || len(alerts) > 1 {
				t.Fatalf("alerts = %+v, want alert=%v", alerts, tc.alert)
			}
			if tc.alert && (!strings.Contains(alerts[0].Text, "情绪明显转差") || alerts[0].StaffID != "limin") {
				t.Errorf("alert = %+v", alerts[0])
			}
		})
	}
}

// anPIIMessages hold a mobile number and an ID card number.
var anPIIMessages = []string{
	"你好，我想要企业版的报价，我手机13812345678",
	"开票用我身份证11010519491231002X登记",
	"我们内部先商量，明天再联系我",
}

// piiChat has a customer of zhangwei's send anPIIMessages and runs the
// analysis that falls due.
func (e *anEnv) piiChat(t *testing.T, ext, name string) *store.Customer {
	t.Helper()
	c := e.customer(t, ext, name, "zhangwei")
	for _, m := range anPIIMessages {
		e.say(t, c, store.DirectionIn, m)
	}
	e.runDue(t, 3)
	return c
}

func TestAnalysisWithLLM(t *testing.T) {
	t.Run("429 then 200 is retried; the result is stored with its model; no PII leaves", func(t *testing.T) {
		f := newLLMFake(t)
		f.tooMany = 1
		e := newAnEnv(t, anConfig{llmURL: f.URL()})
		c := e.piiChat(t, "o-wang", "王五")
		reqs := f.all()
		if len(reqs) < 2 || reqs[0].Status != http.StatusTooManyRequests || reqs[1].Status != http.StatusOK || reqs[1].Task != "summary" {
			t.Fatalf("requests = %+v, want a 429 then the retried summary", reqs)
		}
		for i, r := range reqs {
			if r.Auth != "Bearer "+fakeKey || r.Model != fakeModel {
				t.Errorf("request %d: auth %q model %q", i, r.Auth, r.Model)
			}
			for _, pii := range []string{"13812345678", "11010519491231002X", "11010519491231002x", "138 1234 5678"} {
				if strings.Contains(r.Body, pii) {
					t.Errorf("request %d body carries %s", i, pii)
				}
			}
		}
		ins := e.load(t, c.ID).Insight
		if ins == nil || ins.Model != fakeModel || !strings.Contains(ins.Summary, "企业版报价") {
			t.Fatalf("insight = %+v, want the fake model's summary", ins)
		}
		as := e.analyses(t, c.ID)
		if len(as) != 1 {
			t.Fatalf("analysis entries = %d", len(as))
		}
		pt, _ := strconv.Atoi(as[0].Attrs["prompt_tokens"])
		ct, _ := strconv.Atoi(as[0].Attrs["completion_tokens"])
		if as[0].Attrs["model"] != fakeModel || pt <= 0 || ct <= 0 || as[0].Attrs["fallback"] != "" {
			t.Errorf("analysis attrs = %v", as[0].Attrs)
		}
		// Promises were asked only about the message with a time expression,
		// and the LLM's promise became a reminder.
		var promiseReqs int
		for _, r := range reqs {
			if r.Task == "promises" && r.Status == http.StatusOK {
				promiseReqs++
			}
		}
		if promiseReqs != 1 {
			t.Errorf("promise requests = %d, want 1", promiseReqs)
		}
		rs := e.reminders(t, c.ID)
		if len(rs) != 1 || !strings.Contains(rs[0].Text, "联系") || rs[0].StaffID != "zhangwei" {
			t.Errorf("reminders = %+v", rs)
		}
	})

	t.Run("garbage is repaired once, then recorded as a failure and analysed offline", func(t *testing.T) {
		f := newLLMFake(t)
		f.set("garbage")
		e := newAnEnv(t, anConfig{llmURL: f.URL()})
		c := e.piiChat(t, "o-zhao", "赵六")
		reqs := f.all()
		if len(reqs) != 2 || reqs[0].Task != "summary" || reqs[1].Task != "summary" {
			t.Fatalf("requests = %d, want the summary and one repair", len(reqs))
		}
		if !strings.Contains(reqs[1].Body, "不符合要求") || !strings.Contains(reqs[1].Body, "GARBAGE-7f3a") {
			t.Error("the second request is not a repair quoting the bad answer")
		}
		if got := jobsPending(t, e.st, bot.AnalysisJobKind); got != 0 {
			t.Errorf("job left pending: %d", got)
		}
		ins := e.load(t, c.ID).Insight
		if ins == nil || ins.Model != nlp.OfflineModel {
			t.Fatalf("insight = %+v, want the offline analysis", ins)
		}
		as := e.analyses(t, c.ID)
		if len(as) != 1 || as[0].Attrs["fallback"] != "invalid_output" || as[0].Attrs["model"] != nlp.OfflineModel {
			t.Fatalf("analysis entries = %+v", as)
		}
		stored := ins.Summary + as[0].Text + fmt.Sprint(as[0].Attrs)
		for _, r := range e.reminders(t, c.ID) {
			stored += r.Text
		}
		if strings.Contains(stored, "GARBAGE") {
			t.Error("the invalid answer was stored")
		}
		if len(e.reminders(t, c.ID)) != 1 {
			t.Error("the offline run did not turn 明天再联系我 into a reminder")
		}
	})

	t.Run("spent budget analyses offline without calling the LLM", func(t *testing.T) {
		f := newLLMFake(t)
		e := newAnEnv(t, anConfig{llmURL: f.URL(), budget: 1})
		a := e.customer(t, "o-a", "甲", "zhangwei")
		e.say(t, a, store.DirectionIn, "你好，想问下价格")
		e.runDue(t, 3)
		if ins := e.load(t, a.ID).Insight; ins == nil || ins.Model != fakeModel {
			t.Fatalf("first analysis = %+v, want the LLM's (budget not yet spent)", ins)
		}
		before := len(f.all())
		b := e.customer(t, "o-b", "乙", "zhangwei")
		e.say(t, b, store.DirectionIn, "你好，想问下价格")
		e.runDue(t, 3)
		if n := len(f.all()); n != before {
			t.Errorf("%d requests after the budget was spent", n-before)
		}
		ins := e.load(t, b.ID).Insight
		as := e.analyses(t, b.ID)
		if ins == nil || ins.Model != nlp.OfflineModel || len(as) != 1 || as[0].Attrs["fallback"] != "budget_exhausted" {
			t.Errorf("insight = %+v, entries = %+v", ins, as)
		}
	})
}

// TestAnalysisSurvivesLLMOutage: with the LLM down for the whole first
// phase, nothing is stored and every job stays; once it is back, each
// customer is analysed exactly once by the LLM, with two runners competing.
func TestAnalysisSurvivesLLMOutage(t *testing.T) {
	for _, mode := range []string{"503", "connection refused"} {
		t.Run(mode, func(t *testing.T) {
			f := &llmFake{mode: "ok"}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
			addr := srv.Listener.Addr().String()
			t.Cleanup(srv.Close)
			if mode == "503" {
				f.mode = "down"
				srv.Start()
			} else {
				srv.Listener.Close() // nothing listens: connections are refused
			}
			e := newAnEnv(t, anConfig{llmURL: "http://" + addr + "/v1", owners: []string{"a", "b"}})
			var cs []*store.Customer
			for i := range 6 {
				c := e.customer(t, fmt.Sprintf("o-%d", i), fmt.Sprintf("客户%d", i), "zhangwei")
				e.say(t, c, store.DirectionIn, fmt.Sprintf("【客户%02d】你好，想了解企业版的价格", i))
				e.say(t, c, store.DirectionIn, fmt.Sprintf("【客户%02d】明天下午联系我", i))
				cs = append(cs, c)
			}
			e.runDue(t, 8) // an outage of 8 quiet periods and more (backoff grows)
			for _, c := range cs {
				if ins := e.load(t, c.ID).Insight; ins != nil {
					t.Fatalf("insight stored while the LLM was down: %+v", ins)
				}
				if n := len(e.analyses(t, c.ID)); n != 0 {
					t.Fatalf("%d analysis entries while the LLM was down", n)
				}
			}
			if got := jobsPending(t, e.st, bot.AnalysisJobKind); got != int64(len(cs)) {
				t.Fatalf("pending jobs during the outage = %d, want %d", got, len(cs))
			}
			if mode == "503" && len(f.all()) == 0 {
				t.Fatal("no request reached the fake during the outage")
			}

			// The LLM comes back.
			if mode == "503" {
				f.set("ok")
			} else {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				srv.Listener = ln
				srv.Start()
			}
			e.runDue(t, 40)
			if got := jobsPending(t, e.st, bot.AnalysisJobKind); got != 0 {
				t.Fatalf("%d jobs left after the LLM came back", got)
			}
			summaries := map[string]int{}
			for _, r := range f.all() {
				if r.Task == "summary" && r.Status == http.StatusOK {
					if m := regexp.MustCompile(`【客户\d\d】`).FindString(r.User); m != "" {
						summaries[m]++
					}
				}
			}
			for i, c := range cs {
				marker := fmt.Sprintf("【客户%02d】", i)
				if summaries[marker] != 1 {
					t.Errorf("%s: %d successful summary calls, want 1", marker, summaries[marker])
				}
				if n := len(e.analyses(t, c.ID)); n != 1 {
					t.Errorf("%s: %d analysis entries, want 1", marker, n)
				}
				if ins := e.load(t, c.ID).Insight; ins == nil || ins.Model != fakeModel {
					t.Errorf("%s: insight = %+v", marker, ins)
				}
				if n := len(e.reminders(t, c.ID)); n != 1 {
					t.Errorf("%s: %d reminders, want 1", marker, n)
				}
			}
		})
	}
}

// TestAnalysisTokensGrowWithNewMessagesOnly: after a 500-message history,
// one more message costs under twice its own tokens plus the fixed overhead
// of a run (measured on a customer with a one-word conversation).
func TestAnalysisTokensGrowWithNewMessagesOnly(t *testing.T) {
	f := newLLMFake(t)
	e := newAnEnv(t, anConfig{llmURL: f.URL()})
	ctx := context.Background()
	runTokens := func(c *store.Customer) int {
		t.Helper()
		e.runDue(t, 3)
		as := e.analyses(t, c.ID)
		if len(as) == 0 {
			t.Fatal("no analysis")
		}
		n, err := strconv.Atoi(as[0].Attrs["total_tokens"])
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	long := e.customer(t, "o-long", "长", "zhangwei")
	lines := []string{"请问企业版多少钱一年", "我们有两百个销售", "数据能不能私有化部署", "价格有点贵，能优惠吗", "好的，我再考虑一下"}
	for i := range 500 {
		anSeq++
		dir := store.DirectionIn
		if i%3 == 2 {
			dir = store.DirectionOut
		}
		entry := &store.TimelineEntry{CustomerID: long.ID, SourceKey: fmt.Sprintf("hist:%d", i), Kind: store.EntryMessage,
			Direction: dir, Text: fmt.Sprintf("%s（第%d条）", lines[i%len(lines)], i), At: e.clock.Now().Add(time.Duration(i-500) * time.Minute)}
		if _, err := e.st.AppendTimeline(ctx, entry); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.ScheduleJob(ctx, bot.AnalysisJobKey(long.ID), bot.AnalysisJobKind, long.ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	history := runTokens(long)

	for _, tc := range []struct{ name, msg, small string }{
		{"plain message", "我们公司有两百个销售，想把企业微信里的客户统一管起来，最关心的是数据安全、私有化部署和整体价格",
			"嗯"},
		{"message with a promise", "我们内部再讨论一下方案，下周三下午再联系我，到时候把预算和采购流程都定下来，麻烦先准备一份详细的功能清单",
			"明天联系"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The fixed overhead: a run for a short message after a previous summary.
			short := e.customer(t, "o-short-"+tc.small, "短", "zhangwei")
			e.say(t, short, store.DirectionIn, "你好")
			runTokens(short)
			e.say(t, short, store.DirectionIn, tc.small)
			overhead := runTokens(short)

			e.say(t, long, store.DirectionIn, tc.msg)
			cost := runTokens(long)
			own := nlp.EstimateTokens(tc.msg)
			t.Logf("history run %d tokens; one more message (%d tokens) %d tokens; fixed overhead %d", history, own, cost, overhead)
			if cost >= 2*own+overhead {
				t.Errorf("one more message after 500 cost %d tokens, want < 2×%d + %d", cost, own, overhead)
			}
			if cost >= history/4 {
				t.Errorf("one more message cost %d tokens, the 500-message run %d: the history is being resent", cost, history)
			}
		})
	}
}

// anConversation1000 puts a 1,000-message sales conversation on a customer's
// timeline.
func anConversation1000(t testing.TB, st *sqlite.DB, c *store.Customer, start time.Time) {
	t.Helper()
	customer := []string{
		"你好，在吗？", "我们公司想采购%d台笔记本电脑，有什么推荐的型号吗？", "这个配置的价格是多少？能不能便宜一点",
		"比别家贵了%d块，有点担心性价比", "保修期是多久？坏了上门维修吗？", "好的，那我明天下午三点前给你们确认数量",
		"发票可以开增值税专用发票吗", "上次的货到现在还没发，什么情况？", "服务态度很好，谢谢你们",
		"我下周三再联系你，先跟老板汇报一下", "合同我们法务还在看，月底前签", "收到，质量不错，同事都很满意",
		"物流太慢了，等了一个星期，非常失望", "可以先寄个样品吗？地址发你了", "嗯嗯，好的",
	}
	staff := []string{
		"您好，很高兴为您服务", "推荐您看一下这款，性能和续航都不错", "批量采购可以申请企业优惠价，比官网低百分之%d",
		"保修三年，全国联保，支持上门维修", "我明天上午把正式报价发给您", "可以开专票，请把开票信息发我一下",
		"非常抱歉，我马上帮您查一下物流，半小时后回复您", "样品今天下午寄出，3天内到", "好的，有问题随时联系我",
		"下周一下午两点我们上门演示",
	}
	fill := func(tmpl string, n int) string {
		if strings.Contains(tmpl, "%d") {
			return fmt.Sprintf(tmpl, n)
		}
		return tmpl
	}
	ctx := context.Background()
	for i := range 1000 {
		e := &store.TimelineEntry{CustomerID: c.ID, SourceKey: fmt.Sprintf("c1000:%s:%d", c.ID, i), Kind: store.EntryMessage,
			Channel: store.ChannelWeCom, At: start.Add(time.Duration(i) * 17 * time.Minute)}
		if i%3 == 2 {
			e.Direction, e.StaffID, e.Text = store.DirectionOut, "zhangwei", fill(staff[i%len(staff)], 5+i%10)
		} else {
			e.Direction, e.Text = store.DirectionIn, fill(customer[i%len(customer)], 10+i%90)
		}
		if _, err := st.AppendTimeline(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAnalysisOffline1000Messages(t *testing.T) {
	e := newAnEnv(t, anConfig{})
	c := e.customer(t, "o-1000", "大客户", "zhangwei")
	start := e.clock.Now().Add(-1000 * 17 * time.Minute)
	anConversation1000(t, e.st, c, start)
	job := &store.Job{Key: bot.AnalysisJobKey(c.ID), Kind: bot.AnalysisJobKind, Payload: c.ID}
	begin := time.Now()
	if err := e.analysis.HandleJob(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	took := time.Since(begin)
	t.Logf("offline analysis of 1,000 messages through the job handler on SQLite: %v", took)
	ins := e.load(t, c.ID).Insight
	as := e.analyses(t, c.ID)
	if ins == nil || len(as) != 1 || as[0].Attrs["messages"] != "1000" {
		t.Fatalf("insight %+v, entries %d", ins, len(as))
	}
	for _, sec := range []string{"需求：", "承诺："} {
		if !strings.Contains(ins.Summary, sec) {
			t.Errorf("summary lacks %s: %s", sec, ins.Summary)
		}
	}
	// Promises due within the last week, or later, become reminders, the
	// latest twenty at most; the others are only recorded.
	var promises []struct {
		Due      time.Time `json:"due"`
		Reminder string    `json:"reminder"`
	}
	if err := json.Unmarshal([]byte(as[0].Attrs["promises"]), &promises); err != nil {
		t.Fatal(err)
	}
	weekAgo := e.clock.Now().Add(-7 * 24 * time.Hour)
	byState := map[string]int{}
	for i, p := range promises {
		byState[p.Reminder]++
		switch {
		case (p.Reminder == "stale") != p.Due.Before(weekAgo):
			t.Errorf("promise due %v marked %s", p.Due, p.Reminder)
		case p.Reminder == "created" && i < len(promises)-20:
			t.Errorf("promise %d of %d got a reminder past the cap", i, len(promises))
		}
	}
	t.Logf("promises: %v", byState)
	if byState["created"] != 20 || byState["stale"] == 0 || byState["capped"] == 0 {
		t.Errorf("promises by reminder state = %v, want 20 created, and stale and capped ones", byState)
	}
	var promiseReminders int
	for _, r := range e.reminders(t, c.ID) {
		if r.Kind == store.ReminderPromise {
			promiseReminders++
		}
	}
	if promiseReminders != byState["created"] {
		t.Errorf("%d promise reminders, %d created", promiseReminders, byState["created"])
	}
	if took > 10*time.Second {
		t.Errorf("took %v", took)
	}
}

// BenchmarkAnalysisOffline1000 is one offline analysis run over a
// 1,000-message conversation through the job handler on SQLite (reads,
// analysis and the keyed writes; the insight is reset between runs).
func BenchmarkAnalysisOffline1000(b *testing.B) {
	st, err := sqlite.Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	clock := newJobClock(anT0)
	c, err := st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityOpenID, Value: "o-bench"},
		Name: "大客户", Follow: &store.Follow{StaffID: "zhangwei", AddedAt: anT0}, Now: anT0})
	if err != nil {
		b.Fatal(err)
	}
	anConversation1000(b, st, c, anT0.Add(-1000*17*time.Minute))
	a := bot.NewAnalysis(st, nil, bot.AnalysisOptions{Location: anZone, Now: clock.Now})
	job := &store.Job{Key: bot.AnalysisJobKey(c.ID), Kind: bot.AnalysisJobKind, Payload: c.ID}
	for b.Loop() {
		b.StopTimer()
		if _, err := st.UpdateCustomer(ctx, c.ID, store.CustomerUpdate{Insight: &store.Insight{}, Now: anT0}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := a.HandleJob(ctx, job); err != nil {
			b.Fatal(err)
		}
	}
}
