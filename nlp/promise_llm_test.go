package nlp

import (
	"context"
	"strings"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// TestLLMPromisesPostFilter runs the LLM path against the local fake
// endpoint answering what a careless model would: a "promise" in a
// question, one due at a time the message never states (尽快), one resting
// on a past event, and a real request owed by staff. Only the last survives,
// with the owner the model gave and the time span found in the message.
func TestLLMPromisesPostFilter(t *testing.T) {
	answers := map[string]string{
		"98寸的屏下个月能到货吗？":   `{"promises":[{"action":"98寸屏到货","due":"2026-12-01T18:00:00+08:00","who":"staff","time_text":"下个月"}]}`,
		"我们会尽快给您发报价":      `{"promises":[{"action":"发报价","due":"2026-11-25T18:00:00+08:00","who":"staff","time_text":"尽快"}]}`,
		"上周已经发过了，明天不用联系我": `{"promises":[{"action":"联系客户","due":"2026-11-25T18:00:00+08:00","who":"staff","time_text":"明天"}]}`,
		"周末愉快": `{"promises":[{"action":"周末愉快","due":"2026-11-28T18:00:00+08:00","who":"staff"}]}`,
		"麻烦给我发一份10台75寸的正式报价单，含安装和三年质保，周五前要": `{"promises":[{"action":"发正式报价单（10台75寸，含安装和三年质保）","due":"2026-11-27T18:00:00+08:00","who":"staff","time_text":"周五前"}]}`,
	}
	f := newFakeLLM(t, func(req openai.ChatCompletionRequest) fakeReply {
		user := req.Messages[len(req.Messages)-1].Content
		for text, ans := range answers {
			if strings.HasSuffix(strings.TrimSpace(user), text) {
				return fakeReply{content: ans}
			}
		}
		return fakeReply{content: `{"promises":[]}`}
	})
	l, _ := testLLM(t, f, nil)
	a := NewAnalyzer(l, AnalyzerOptions{Now: func() time.Time { return testNow }, Logger: quietLogger})
	ctx := context.Background()
	for text := range answers {
		res, err := a.ExtractPromises(ctx, Message{Role: RoleCustomer, Text: text, At: testNow})
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if res.Model != "fake-model-1" {
			t.Fatalf("%s: answered by %q, want the LLM", text, res.Model)
		}
		if !strings.Contains(text, "报价单") {
			if len(res.Promises) != 0 {
				t.Errorf("%s: kept %+v", text, res.Promises)
			}
			continue
		}
		if len(res.Promises) != 1 {
			t.Fatalf("%s: promises %+v, want one", text, res.Promises)
		}
		p := res.Promises[0]
		if p.Owner != RoleStaff || p.Who != RoleCustomer || p.Expr != "周五前" || text[p.Span[0]:p.Span[1]] != "周五前" ||
			p.Action != "发正式报价单（10台75寸，含安装和三年质保）" {
			t.Errorf("promise = %+v", p)
		}
	}
	// The prompt tells the model who owes a request and what is no promise.
	sys := f.lastRequest().Messages[0].Content
	for _, want := range []string{"承担这项义务", "客户的请求由员工承担", "尽快", "time_text"} {
		if !strings.Contains(sys, want) {
			t.Errorf("system prompt lacks %q", want)
		}
	}
}

// TestAutoMessagesNotRead: an automatic message (off-hours reply, FAQ,
// welcome) is never read for promises, sentiment, intent or the summary,
// neither by the LLM (no request is made) nor offline.
func TestAutoMessagesNotRead(t *testing.T) {
	f := newFakeLLM(t, func(req openai.ChatCompletionRequest) fakeReply {
		if strings.Contains(req.Messages[0].Content, "情感") {
			return fakeReply{content: `{"label":"positive","score":0.8}`}
		}
		return fakeReply{content: `{"promises":[{"action":"回复","due":"2026-11-25T18:00:00+08:00","who":"staff","time_text":"明天上午9点后"}]}`}
	})
	l, _ := testLLM(t, f, nil)
	offHours := Message{Role: RoleStaff, Auto: true, At: testNow,
		Text: "您好，现在是非工作时间，明天上午9点后我们会第一时间回复您，太感谢您的耐心了！"}
	for _, a := range []*Analyzer{
		NewAnalyzer(nil, AnalyzerOptions{Now: func() time.Time { return testNow }, Logger: quietLogger}),
		NewAnalyzer(l, AnalyzerOptions{Now: func() time.Time { return testNow }, Logger: quietLogger}),
	} {
		ctx := context.Background()
		pr, err := a.ExtractPromises(ctx, offHours)
		if err != nil || !pr.Skipped || len(pr.Promises) != 0 || pr.Promises == nil {
			t.Errorf("promises = %+v, %v", pr, err)
		}
		se, err := a.AnalyzeMessageSentiment(ctx, offHours)
		if err != nil || !se.Skipped || se.Label != Neutral {
			t.Errorf("sentiment = %+v, %v", se, err)
		}
		in, err := a.ClassifyMessageIntent(ctx, offHours)
		if err != nil || !in.Skipped {
			t.Errorf("intent = %+v, %v", in, err)
		}
		sum, err := a.Summarize(ctx, "", []Message{offHours})
		if err != nil || strings.Contains(sum.Text, "非工作时间") || strings.Contains(sum.Text, "回复") {
			t.Errorf("summary reads the automatic message: %+v, %v", sum, err)
		}
		if n := f.requests(); n != 0 {
			t.Errorf("%s: %d LLM requests for an automatic message", a.llmName(), n)
		}
		// The same text typed by a person is read.
		human := offHours
		human.Auto = false
		if pr, err := a.ExtractPromises(ctx, human); err != nil || len(pr.Promises) != 1 || pr.Skipped {
			t.Errorf("%s: human message promises = %+v, %v", a.llmName(), pr, err)
		}
		if se, _ := a.AnalyzeMessageSentiment(ctx, human); se.Skipped || se.Label != Positive {
			t.Errorf("%s: human message sentiment = %+v", a.llmName(), se)
		}
	}
}

func (a *Analyzer) llmName() string {
	if a.llm == nil {
		return "offline"
	}
	return "llm"
}
