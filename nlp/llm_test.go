package nlp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// fakeReply is one scripted answer of the fake endpoint.
type fakeReply struct {
	status  int               // 0 means 200
	header  map[string]string // extra response headers
	content string            // the assistant message content (200 only)
	body    string            // a raw body instead (errors)
	hang    time.Duration     // wait before answering
}

// fakeLLM is a local OpenAI-compatible endpoint (POST /v1/chat/completions)
// that records every request and answers from a script, then from reply.
type fakeLLM struct {
	srv *httptest.Server

	mu       sync.Mutex
	bodies   []string
	auths    []string
	reqs     []openai.ChatCompletionRequest
	script   []fakeReply
	reply    func(req openai.ChatCompletionRequest) fakeReply
	inflight atomic.Int32
	maxIn    atomic.Int32
}

func newFakeLLM(t *testing.T, reply func(openai.ChatCompletionRequest) fakeReply, script ...fakeReply) *fakeLLM {
	t.Helper()
	f := &fakeLLM{script: script, reply: reply}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeLLM) serve(w http.ResponseWriter, r *http.Request) {
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		m := f.maxIn.Load()
		if n <= m || f.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req openai.ChatCompletionRequest
	_ = json.Unmarshal(body, &req)
	f.mu.Lock()
	f.bodies = append(f.bodies, string(body))
	f.auths = append(f.auths, r.Header.Get("Authorization"))
	f.reqs = append(f.reqs, req)
	var rep fakeReply
	if len(f.script) > 0 {
		rep, f.script = f.script[0], f.script[1:]
	} else if f.reply != nil {
		rep = f.reply(req)
	} else {
		rep = fakeReply{content: `{}`}
	}
	f.mu.Unlock()
	if rep.hang > 0 {
		select {
		case <-time.After(rep.hang):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	if rep.status != 0 && rep.status != http.StatusOK {
		w.WriteHeader(rep.status)
		if rep.body == "" {
			rep.body = fmt.Sprintf(`{"error":{"message":"fake error %d","type":"server_error"}}`, rep.status)
		}
		_, _ = io.WriteString(w, rep.body)
		return
	}
	// Usage as a provider would count it: from the prompt and the answer.
	var prompt strings.Builder
	for _, m := range req.Messages {
		prompt.WriteString(m.Content)
	}
	pt, ct := EstimateTokens(prompt.String()), EstimateTokens(rep.content)
	resp := openai.ChatCompletionResponse{
		ID: "fake", Object: "chat.completion", Model: req.Model,
		Choices: []openai.ChatCompletionChoice{{Message: openai.ChatCompletionMessage{Role: "assistant", Content: rep.content}, FinishReason: "stop"}},
		Usage:   openai.Usage{PromptTokens: pt, CompletionTokens: ct, TotalTokens: pt + ct},
	}
	_ = json.NewEncoder(w).Encode(resp)
}

func (f *fakeLLM) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.bodies)
}

func (f *fakeLLM) lastRequest() openai.ChatCompletionRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reqs[len(f.reqs)-1]
}

// testLLM returns a client for the fake with fast, recorded backoff.
func testLLM(t *testing.T, f *fakeLLM, mod func(*LLMConfig)) (*LLM, *[]time.Duration) {
	t.Helper()
	var mu sync.Mutex
	var sleeps []time.Duration
	cfg := LLMConfig{
		BaseURL:     f.srv.URL + "/v1",
		APIKey:      "sk-test-key",
		Model:       "fake-model-1",
		Timeout:     2 * time.Second,
		BackoffBase: 100 * time.Millisecond,
		Sleep: func(d time.Duration) {
			mu.Lock()
			sleeps = append(sleeps, d)
			mu.Unlock()
		},
		Now:    func() time.Time { return testNow },
		Logger: quietLogger,
	}
	if mod != nil {
		mod(&cfg)
	}
	l, err := NewLLM(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l, &sleeps
}

var quietLogger = slog.New(slog.DiscardHandler)

var okSentiment = fakeReply{content: `{"label":"positive","score":0.9}`}

func TestLLMRequestCarriesModelAndKey(t *testing.T) {
	f := newFakeLLM(t, nil, okSentiment)
	l, _ := testLLM(t, f, nil)
	var out SentimentResult
	u, err := l.CompleteJSON(context.Background(), "系统", "很好", sentimentSchema, &out)
	if err != nil {
		t.Fatal(err)
	}
	if out.Label != Positive || out.Score != 0.9 {
		t.Errorf("out = %+v", out)
	}
	if f.auths[0] != "Bearer sk-test-key" {
		t.Errorf("Authorization = %q", f.auths[0])
	}
	req := f.lastRequest()
	if req.Model != "fake-model-1" {
		t.Errorf("model = %q", req.Model)
	}
	if req.ResponseFormat == nil || req.ResponseFormat.Type != openai.ChatCompletionResponseFormatTypeJSONObject {
		t.Errorf("response_format = %+v", req.ResponseFormat)
	}
	if !strings.Contains(req.Messages[0].Content, "JSON") || !strings.Contains(req.Messages[0].Content, `"enum"`) {
		t.Errorf("system prompt lacks the JSON instruction or schema: %q", req.Messages[0].Content)
	}
	if u.Requests != 1 || u.TotalTokens == 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage = %+v", u)
	}
}

func TestLLMRetries(t *testing.T) {
	cases := []struct {
		name      string
		script    []fakeReply
		wantErr   error
		wantReqs  int
		checkWait func(t *testing.T, sleeps []time.Duration)
	}{
		{
			name:     "429 then 200 honours Retry-After",
			script:   []fakeReply{{status: 429, header: map[string]string{"Retry-After": "3"}}, okSentiment},
			wantReqs: 2,
			checkWait: func(t *testing.T, s []time.Duration) {
				if len(s) != 1 || s[0] != 3*time.Second {
					t.Errorf("sleeps = %v, want [3s]", s)
				}
			},
		},
		{
			name: "Retry-After as HTTP date",
			script: []fakeReply{{status: 429, header: map[string]string{"Retry-After": testNow.Add(5 * time.Second).UTC().Format(http.TimeFormat)}},
				okSentiment},
			wantReqs: 2,
			checkWait: func(t *testing.T, s []time.Duration) {
				if len(s) != 1 || s[0] != 5*time.Second {
					t.Errorf("sleeps = %v, want [5s]", s)
				}
			},
		},
		{
			name:     "5xx backs off exponentially with jitter",
			script:   []fakeReply{{status: 503}, {status: 502}, {status: 500}, okSentiment},
			wantReqs: 4,
			checkWait: func(t *testing.T, s []time.Duration) {
				if len(s) != 3 {
					t.Fatalf("sleeps = %v", s)
				}
				for i, d := range s {
					base := 100 * time.Millisecond << i
					if d < base/2 || d > base {
						t.Errorf("sleep %d = %v, want within [%v, %v]", i, d, base/2, base)
					}
				}
			},
		},
		{
			name:     "gives up after max attempts",
			script:   []fakeReply{{status: 500}, {status: 500}, {status: 500}, {status: 500}, okSentiment},
			wantErr:  ErrUnavailable,
			wantReqs: 4,
		},
		{
			name:     "4xx is not retried",
			script:   []fakeReply{{status: 401, body: `{"error":{"message":"bad key","type":"invalid_request_error"}}`}, okSentiment},
			wantErr:  ErrUnavailable,
			wantReqs: 1,
		},
		{
			name:     "timeout is retried",
			script:   []fakeReply{{hang: 3 * time.Second}, okSentiment},
			wantReqs: 2,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeLLM(t, nil, c.script...)
			l, sleeps := testLLM(t, f, func(cfg *LLMConfig) { cfg.Timeout = 300 * time.Millisecond })
			var out SentimentResult
			u, err := l.CompleteJSON(context.Background(), "系统", "很好", sentimentSchema, &out)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
			} else if err != nil || out.Label != Positive {
				t.Fatalf("err = %v, out = %+v", err, out)
			}
			if got := f.requests(); got != c.wantReqs || u.Requests != c.wantReqs {
				t.Errorf("requests = %d (usage says %d), want %d", got, u.Requests, c.wantReqs)
			}
			if c.checkWait != nil {
				c.checkWait(t, *sleeps)
			}
		})
	}
}

func TestLLMRepair(t *testing.T) {
	cases := []struct {
		name     string
		script   []fakeReply
		wantErr  bool
		wantInRp string // in the repair request
	}{
		{"garbage then valid", []fakeReply{{content: "当然可以！情感是正面的。"}, okSentiment}, false, "not valid JSON"},
		{"fenced JSON is accepted", []fakeReply{{content: "```json\n{\"label\":\"negative\",\"score\":0.1}\n```"}}, false, ""},
		{"garbage twice", []fakeReply{{content: "{oops"}, {content: "still not json"}, okSentiment}, true, "not valid JSON"},
		{"enum violation", []fakeReply{{content: `{"label":"happy","score":0.9}`}, {content: `{"label":"sad"}`}}, true, "$.label"},
		{"missing field", []fakeReply{{content: `{"label":"positive"}`}, okSentiment}, false, "$.score: required"},
		{"out of range", []fakeReply{{content: `{"label":"positive","score":7}`}, okSentiment}, false, "maximum"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeLLM(t, nil, c.script...)
			l, _ := testLLM(t, f, nil)
			var out SentimentResult
			u, err := l.CompleteJSON(context.Background(), "系统", "不好", sentimentSchema, &out)
			if c.wantErr {
				if !errors.Is(err, ErrInvalidOutput) {
					t.Fatalf("err = %v, want ErrInvalidOutput", err)
				}
				if f.requests() != 2 || u.Requests != 2 {
					t.Errorf("requests = %d, want exactly one repair", f.requests())
				}
			} else if err != nil {
				t.Fatalf("err = %v", err)
			}
			if c.wantInRp == "" {
				if f.requests() != 1 {
					t.Errorf("requests = %d, want 1", f.requests())
				}
				return
			}
			rep := f.reqs[1]
			if len(rep.Messages) != 4 || rep.Messages[2].Role != openai.ChatMessageRoleAssistant || rep.Messages[2].Content != c.script[0].content {
				t.Fatalf("repair request does not quote the bad answer: %+v", rep.Messages)
			}
			if !strings.Contains(rep.Messages[3].Content, c.wantInRp) {
				t.Errorf("repair prompt %q lacks %q", rep.Messages[3].Content, c.wantInRp)
			}
		})
	}
}

// piiValues are personal data that must never reach the endpoint.
var piiValues = []string{"13812345678", "138 1234 5678", "11010519491231002X", "6222021234567890128", "010-87654321", "zhang.san@example.com", "zs_wechat88"}

const piiText = "我是张三，手机13812345678（也可以打138 1234 5678），身份证11010519491231002X，" +
	"退款打到卡6222021234567890128，座机010-87654321，邮箱zhang.san@example.com，微信 zs_wechat88。明天下午三点前给我回电话。"

func TestLLMNoPIIInRequests(t *testing.T) {
	// The fake echoes a placeholder back, as a model quoting the customer would.
	f := newFakeLLM(t, func(req openai.ChatCompletionRequest) fakeReply {
		user := req.Messages[len(req.Messages)-1].Content
		ph := placeholderRe.FindString(user)
		sys := req.Messages[0].Content
		switch {
		case strings.Contains(sys, "滚动会话摘要"):
			return fakeReply{content: `{"overview":"客户留了电话` + ph + `","needs":["退款"],"objections":[],"answers":[],"commitments":["员工明天回电"],"questions":[]}`}
		case strings.Contains(sys, "承诺"):
			return fakeReply{content: `{"promises":[{"action":"回电话` + ph + `","due":"2026-11-25T15:00:00+08:00","who":"staff"}]}`}
		case strings.Contains(sys, "意图"):
			return fakeReply{content: `{"intent":"售后","confidence":0.8}`}
		}
		return fakeReply{content: `{"label":"neutral","score":0.5}`}
	})
	l, _ := testLLM(t, f, nil)
	a := NewAnalyzer(l, AnalyzerOptions{Now: func() time.Time { return testNow }, Logger: quietLogger})
	ctx := context.Background()
	msg := Message{Role: RoleCustomer, Text: piiText, At: testNow}
	if _, err := a.AnalyzeSentiment(ctx, piiText); err != nil {
		t.Fatal(err)
	}
	pr, err := a.ExtractPromises(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := a.Summarize(ctx, "需求：客户电话13812345678", []Message{msg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ClassifyIntent(ctx, piiText); err != nil {
		t.Fatal(err)
	}
	if f.requests() != 4 {
		t.Fatalf("requests = %d", f.requests())
	}
	for i, body := range f.bodies {
		// JSON escaping cannot hide digits, but check the decoded text too.
		var req openai.ChatCompletionRequest
		_ = json.Unmarshal([]byte(body), &req)
		var all strings.Builder
		for _, m := range req.Messages {
			all.WriteString(m.Content)
		}
		for _, v := range piiValues {
			if strings.Contains(body, v) || strings.Contains(all.String(), v) {
				t.Errorf("request %d carries %q", i, v)
			}
		}
		if !strings.Contains(all.String(), "⟦PHONE_1⟧") {
			t.Errorf("request %d has no phone placeholder", i)
		}
	}
	// Answers come back unmasked.
	if !strings.Contains(sum.Text, "13812345678") || sum.Model != "fake-model-1" {
		t.Errorf("summary not unmasked or wrong model: %+v", sum)
	}
	if len(pr.Promises) != 1 || !strings.Contains(pr.Promises[0].Action, "13812345678") {
		t.Errorf("promises = %+v", pr.Promises)
	}
}

func TestLLMBudgetAndAccounting(t *testing.T) {
	f := newFakeLLM(t, func(openai.ChatCompletionRequest) fakeReply { return okSentiment })
	acc := NewMemoryAccountant()
	l, _ := testLLM(t, f, func(c *LLMConfig) {
		c.DailyTokenBudget = 150
		c.Accountant = acc
	})
	ctx := WithCustomer(context.Background(), "cust-42")
	var out SentimentResult
	u1, err := l.CompleteJSON(ctx, "系统提示", strings.Repeat("很好", 30), sentimentSchema, &out)
	if err != nil {
		t.Fatal(err)
	}
	day := testNow.Format("2006-01-02")
	if got := acc.CustomerTotal(day, "cust-42"); got != int64(u1.TotalTokens) {
		t.Errorf("customer total = %d, want %d", got, u1.TotalTokens)
	}
	if got, _ := acc.DayTotal(ctx, day); got != int64(u1.TotalTokens) || got < 150 {
		t.Fatalf("day total = %d (call used %d); the test needs it over the budget", got, u1.TotalTokens)
	}
	_, err = l.CompleteJSON(ctx, "系统提示", "很好", sentimentSchema, &out)
	if !errors.Is(err, ErrBudgetExhausted) {
		t.Fatalf("err = %v, want ErrBudgetExhausted", err)
	}
	if f.requests() != 1 {
		t.Errorf("a request was sent over budget")
	}
	// The analyzer falls back to the offline model and says why.
	a := NewAnalyzer(l, AnalyzerOptions{Logger: quietLogger})
	res, err := a.AnalyzeSentiment(ctx, "服务态度太差了")
	if err != nil {
		t.Fatal(err)
	}
	if res.Model != OfflineModel || res.Fallback != "budget_exhausted" || res.Label != Negative {
		t.Errorf("fallback result = %+v", res)
	}
	// With NoFallback the caller gets the error to retry later.
	strict := NewAnalyzer(l, AnalyzerOptions{NoFallback: true, Logger: quietLogger})
	if _, err := strict.AnalyzeSentiment(ctx, "服务态度太差了"); !errors.Is(err, ErrBudgetExhausted) {
		t.Errorf("strict err = %v", err)
	}
}

func TestLLMConcurrencyLimit(t *testing.T) {
	f := newFakeLLM(t, func(openai.ChatCompletionRequest) fakeReply {
		return fakeReply{content: okSentiment.content, hang: 50 * time.Millisecond}
	})
	l, _ := testLLM(t, f, func(c *LLMConfig) { c.MaxConcurrency = 2 })
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out SentimentResult
			if _, err := l.CompleteJSON(context.Background(), "s", "u", sentimentSchema, &out); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if m := f.maxIn.Load(); m > 2 || m < 1 {
		t.Errorf("max in flight = %d, want <= 2", m)
	}
	if f.requests() != 8 {
		t.Errorf("requests = %d", f.requests())
	}
}

func TestAnalyzerFallbackWhenDown(t *testing.T) {
	f := newFakeLLM(t, nil)
	url := f.srv.URL
	f.srv.Close() // the endpoint is down for the whole test
	l, err := NewLLM(LLMConfig{BaseURL: url + "/v1", Model: "m", MaxAttempts: 2, Sleep: func(time.Duration) {}, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	a := NewAnalyzer(l, AnalyzerOptions{Now: func() time.Time { return testNow }, Logger: quietLogger})
	ctx := context.Background()
	pr, err := a.ExtractPromises(ctx, Message{Role: RoleStaff, Text: "明天下午三点前发报价", At: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if pr.Model != OfflineModel || pr.Fallback != "unavailable" || len(pr.Promises) != 1 || !errors.Is(pr.Err, ErrUnavailable) {
		t.Errorf("promises = %+v", pr)
	}
	in, err := a.ClassifyIntent(ctx, "这个多少钱？")
	if err != nil || in.Intent != IntentInquiry || in.Fallback != "unavailable" {
		t.Errorf("intent = %+v, %v", in, err)
	}
	sum, err := a.Summarize(ctx, "", []Message{{Role: RoleCustomer, Text: "我想买20台电脑，价格能便宜点吗？"}})
	if err != nil || sum.Model != OfflineModel || !strings.Contains(sum.Text, "20台电脑") {
		t.Errorf("summary = %+v, %v", sum, err)
	}
	strict := NewAnalyzer(l, AnalyzerOptions{NoFallback: true, Logger: quietLogger})
	if _, err := strict.Summarize(ctx, "", []Message{{Role: RoleCustomer, Text: "在吗"}}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("strict err = %v", err)
	}
}

func TestAnalyzerOffline(t *testing.T) {
	a := NewAnalyzer(nil, AnalyzerOptions{Now: func() time.Time { return testNow }, Logger: quietLogger})
	ctx := context.Background()
	s, err := a.AnalyzeSentiment(ctx, "非常满意")
	if err != nil || s.Model != OfflineModel || s.Fallback != "" || s.Label != Positive || s.Usage.TotalTokens != 0 {
		t.Errorf("sentiment = %+v, %v", s, err)
	}
	p, err := a.ExtractPromises(ctx, Message{Role: RoleCustomer, Text: "下周三再联系我"})
	if err != nil || len(p.Promises) != 1 || p.Promises[0].Who != RoleCustomer || p.Promises[0].Owner != RoleStaff || p.Promises[0].Due.Format("2006-01-02") != "2026-12-02" {
		t.Errorf("promises = %+v, %v", p, err)
	}
	none, _ := a.ExtractPromises(ctx, Message{Role: RoleCustomer, Text: "好的谢谢"})
	if none.Promises == nil || len(none.Promises) != 0 {
		t.Errorf("want an empty, non-nil list: %#v", none.Promises)
	}
}

// TestRollingSummaryTokenGrowth measures, through the fake's usage, that
// after a 500-message history one more message costs under twice its own
// tokens plus a fixed overhead (the instructions and the bounded previous
// summary), and that no earlier message is resent.
func TestRollingSummaryTokenGrowth(t *testing.T) {
	// The fake summarises to a fixed-size summary, as a model told to keep
	// at most 5 short items per section does.
	f := newFakeLLM(t, func(req openai.ChatCompletionRequest) fakeReply {
		n := len(req.Messages[1].Content)
		item := func(s string) string { return `"` + s + strings.Repeat("很", 20) + `"` }
		return fakeReply{content: fmt.Sprintf(`{"overview":"已沟通%d字","needs":[%s,%s],"objections":[%s],"answers":[%s],"commitments":[%s],"questions":[]}`,
			n, item("采购笔记本"), item("开发票"), item("价格偏高"), item("可申请优惠"), item("明天发报价"))}
	})
	l, _ := testLLM(t, f, nil)
	a := NewAnalyzer(l, AnalyzerOptions{Now: func() time.Time { return testNow }, Logger: quietLogger})
	ctx := context.Background()
	var history []Message
	for i := 0; i < 500; i++ {
		role := RoleCustomer
		if i%2 == 1 {
			role = RoleStaff
		}
		history = append(history, Message{Role: role, Text: fmt.Sprintf("第%d条消息：关于第%d批货的价格和交期我们再确认一下细节", i, i), At: testNow.Add(time.Duration(i) * time.Minute)})
	}
	summary := ""
	for i := 0; i < len(history); i += 25 {
		res, err := a.Summarize(ctx, summary, history[i:i+25])
		if err != nil || res.Model != "fake-model-1" {
			t.Fatalf("batch %d: %+v %v", i, res.Source, err)
		}
		summary = res.Text
	}
	// Overhead: the same call with an empty message.
	base, err := a.Summarize(ctx, summary, []Message{{Role: RoleCustomer, Text: "", At: testNow}})
	if err != nil {
		t.Fatal(err)
	}
	newMsg := Message{Role: RoleCustomer, Text: "好的，那请把第501批货的正式报价和交货时间一起发给我，我们内部走一下采购流程", At: testNow.Add(501 * time.Minute)}
	res, err := a.Summarize(ctx, summary, []Message{newMsg})
	if err != nil {
		t.Fatal(err)
	}
	own := EstimateTokens(newMsg.Text)
	extra := res.Usage.PromptTokens - base.Usage.PromptTokens
	t.Logf("after 500 messages: prompt %d tokens, overhead %d, new message %d tokens, marginal %d", res.Usage.PromptTokens, base.Usage.PromptTokens, own, extra)
	if extra >= 2*own {
		t.Errorf("one more message cost %d prompt tokens, want < 2×%d", extra, own)
	}
	// The overhead itself is bounded: far below the history's size.
	var hist strings.Builder
	for _, m := range history {
		hist.WriteString(m.Text)
	}
	if base.Usage.PromptTokens > EstimateTokens(hist.String())/10 {
		t.Errorf("overhead %d tokens is not small against a history of %d", base.Usage.PromptTokens, EstimateTokens(hist.String()))
	}
	last := f.lastRequest().Messages[1].Content
	if strings.Contains(last, "第499条消息") || strings.Contains(last, "第0条消息") {
		t.Errorf("the prompt resends earlier messages")
	}
}

// TestLLMNoObfuscatedPIIInRequests runs the analyses against the fake
// endpoint for personal data written in every way obfuscatedPII lists, and
// checks that no request body holds it, neither as written nor as its digits
// once NFKC-normalised and stripped of separators. The sentiment answer is
// invalid at first and quotes the placeholders, so the repair request, which
// quotes the unmasked validation error, is checked too.
func TestLLMNoObfuscatedPIIInRequests(t *testing.T) {
	for _, c := range obfuscatedPII {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeLLM(t, func(req openai.ChatCompletionRequest) fakeReply {
				user := req.Messages[1].Content
				phs := strings.Join(placeholderRe.FindAllString(user, -1), "")
				sys := req.Messages[0].Content
				switch {
				case strings.Contains(sys, "滚动会话摘要"):
					return fakeReply{content: `{"overview":"客户留了联系方式` + phs + `","needs":[],"objections":[],"answers":[],"commitments":[],"questions":[]}`}
				case strings.Contains(sys, "承诺"):
					return fakeReply{content: `{"promises":[]}`}
				case len(req.Messages) == 2:
					return fakeReply{content: `{"label":"` + phs + `","score":0.5}`}
				}
				return fakeReply{content: `{"label":"neutral","score":0.5}`}
			})
			l, _ := testLLM(t, f, nil)
			a := NewAnalyzer(l, AnalyzerOptions{Now: func() time.Time { return testNow }, Logger: quietLogger})
			ctx := context.Background()
			text := "您好，" + c.in + "，明天下午三点前联系我"
			msg := Message{Role: RoleCustomer, Text: text, At: testNow}
			sum, err := a.Summarize(ctx, "", []Message{msg})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.ExtractPromises(ctx, msg); err != nil {
				t.Fatal(err)
			}
			if _, err := a.AnalyzeSentiment(ctx, text); err != nil {
				t.Fatal(err)
			}
			if f.requests() != 4 {
				t.Fatalf("requests = %d, want 4 (the sentiment one repaired)", f.requests())
			}
			for i, body := range f.bodies {
				var req openai.ChatCompletionRequest
				if err := json.Unmarshal([]byte(body), &req); err != nil {
					t.Fatal(err)
				}
				var all strings.Builder
				for _, m := range req.Messages {
					all.WriteString(m.Content + "\n")
				}
				if leakedValue(body, c.value) || leakedValue(all.String(), c.value) {
					t.Errorf("request %d carries %q:\n%s", i, c.value, all.String())
				}
			}
			// The answer quotes the placeholders and comes back unmasked.
			if strings.Contains(sum.Text, "⟦") || !leakedValue(sum.Text, c.value) {
				t.Errorf("summary %q does not restore %q", sum.Text, c.value)
			}
		})
	}
}
