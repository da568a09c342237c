package bot_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
	"gopkg.in/yaml.v3"

	"net/http/httptest"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/nlp"
	"github.com/scrmhq/scrm/store"
)

var sugNow = time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)

func exampleFAQ(t testing.TB) bot.FAQSource {
	t.Helper()
	b, err := os.ReadFile("../docs/faq.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kb, err := bot.ParseFAQ(b)
	if err != nil {
		t.Fatal(err)
	}
	return bot.StaticFAQ{KB: kb}
}

// sugCustomer creates a customer followed by s1 with a conversation: msgs
// alternate customer, staff, customer, … (the last one is the customer's).
func sugCustomer(t testing.TB, st store.Store, ext string, msgs ...string) string {
	t.Helper()
	ctx := context.Background()
	c, err := st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: ext},
		Name: "客户" + ext, Follow: &store.Follow{StaffID: "s1", AddedAt: sugNow.Add(-time.Hour)}, Now: sugNow.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		dir := store.DirectionIn
		if (len(msgs)-1-i)%2 == 1 {
			dir = store.DirectionOut
		}
		if _, err := st.AppendTimeline(ctx, &store.TimelineEntry{CustomerID: c.ID, SourceKey: fmt.Sprintf("sug:%s:%d", ext, i),
			Kind: store.EntryMessage, Channel: store.ChannelWeCom, Direction: dir, StaffID: "s1", Text: m,
			At: sugNow.Add(time.Duration(i-len(msgs)) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	return c.ID
}

var salesS1 = bot.Actor{Viewer: bot.Viewer{StaffID: "s1", Role: bot.RoleSales}, Source: bot.SourceAPI}

// TestSuggestOfflineHeldOut: for customer questions the FAQ can answer,
// asked in words that are not the FAQ's own, the FAQ's answer is among the
// three offline suggestions.
func TestSuggestOfflineHeldOut(t *testing.T) {
	b, err := os.ReadFile("testdata/faq_paraphrases.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct{ Want, Q string }
	if err := yaml.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 20 {
		t.Fatalf("only %d held-out questions", len(cases))
	}
	st := openStore(t)
	faq := exampleFAQ(t)
	kb, _ := faq.KnowledgeBase(context.Background())
	answers := map[string]string{}
	for _, e := range kb.Entries() {
		answers[e.ID] = e.Answer
	}
	sg := bot.NewReplySuggester(bot.NewCore(st, func() time.Time { return sugNow }), faq, nil, bot.SuggestOptions{})
	hits := 0
	for i, c := range cases {
		id := sugCustomer(t, st, fmt.Sprintf("h%02d", i), "您好", "您好，我是小李，有什么可以帮您？", c.Q)
		got, err := sg.Suggest(context.Background(), salesS1, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != bot.SuggestionCount {
			t.Errorf("%q: %d suggestions, want %d", c.Q, len(got), bot.SuggestionCount)
		}
		found := false
		for _, s := range got {
			if s.Text == answers[c.Want] && s.Source == "faq:"+c.Want {
				found = true
			}
		}
		if found {
			hits++
		} else {
			t.Errorf("%q: the answer of %s is not among %+v", c.Q, c.Want, got)
		}
	}
	t.Logf("held-out questions answered from the FAQ: %d/%d", hits, len(cases))
}

// TestSuggestOfflineNeverEmpty: without a question the FAQ knows, or with
// no messages at all, three replies are still offered; an open promise is
// kept in view; a customer the caller does not follow is not found.
func TestSuggestOfflineNeverEmpty(t *testing.T) {
	st := openStore(t)
	core := bot.NewCore(st, func() time.Time { return sugNow })
	sg := bot.NewReplySuggester(core, exampleFAQ(t), nil, bot.SuggestOptions{})
	ctx := context.Background()
	id := sugCustomer(t, st, "p1", "你们的产品不错", "谢谢认可！", "下周三你再联系我吧，我跟老板商量一下")
	if _, err := st.CreateReminder(ctx, &store.Reminder{CustomerID: id, StaffID: "s1", Kind: store.ReminderPromise,
		Text: "下周三联系客户", DueAt: sugNow.Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got, err := sg.Suggest(ctx, salesS1, id)
	if err != nil || len(got) != 3 {
		t.Fatalf("Suggest = %+v, %v", got, err)
	}
	if !slices.ContainsFunc(got, func(s bot.Suggestion) bool {
		return s.Source == "promise" && strings.Contains(s.Text, "下周三联系客户")
	}) {
		t.Errorf("the open promise is not among the suggestions: %+v", got)
	}
	empty := sugCustomer(t, st, "p2")
	if got, err := sg.Suggest(ctx, salesS1, empty); err != nil || len(got) != 3 {
		t.Errorf("no messages: %+v, %v", got, err)
	}
	other := bot.Actor{Viewer: bot.Viewer{StaffID: "s2", Role: bot.RoleSales}, Source: bot.SourceAPI}
	if _, err := sg.Suggest(ctx, other, id); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("a salesperson who does not follow the customer: %v, want not found", err)
	}
}

// TestSuggestLLMOneRequestNoPII: with a model, one request per set; the
// phone number the customer wrote never leaves (masked), yet the reply the
// salesperson gets has it back; the FAQ entry is in the prompt.
func TestSuggestLLMOneRequestNoPII(t *testing.T) {
	st := openStore(t)
	fake := &askFake{script: func(req openai.ChatCompletionRequest) openai.ChatCompletionMessage {
		// Echo the placeholder the model saw, as a model would when it
		// repeats the customer's number back.
		user := req.Messages[len(req.Messages)-1].Content
		ph := ""
		if i := strings.Index(user, "⟦PHONE_"); i >= 0 {
			ph = user[i : i+strings.Index(user[i:], "⟧")+len("⟧")]
		}
		return openai.ChatCompletionMessage{Content: `{"replies":[
			{"text":"您好，基础版每个账号 599 元/年，10 个账号起购。","source":"faq:pricing"},
			{"text":"我稍后打 ` + ph + ` 跟您详细介绍。","source":"llm"},
			{"text":"方便说下需要多少个账号吗？","source":"faq:nonexistent"}]}`}
	}}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	llm, err := nlp.NewLLM(nlp.LLMConfig{BaseURL: srv.URL + "/v1", Model: "fake", Now: func() time.Time { return sugNow }, DailyTokenBudget: 1000})
	if err != nil {
		t.Fatal(err)
	}
	sg := bot.NewReplySuggester(bot.NewCore(st, func() time.Time { return sugNow }), exampleFAQ(t), llm, bot.SuggestOptions{})
	id := sugCustomer(t, st, "l1", "你好", "您好！", "价格是多少？我电话13812345678，身份证110101199003071234")
	got, err := sg.Suggest(context.Background(), salesS1, id)
	if err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	bodies := append([]string(nil), fake.bodies...)
	fake.mu.Unlock()
	if len(bodies) != 1 {
		t.Fatalf("%d requests for one suggestion set, want 1", len(bodies))
	}
	for _, pii := range []string{"13812345678", "110101199003071234"} {
		if strings.Contains(bodies[0], pii) {
			t.Errorf("the request carries %s", pii)
		}
	}
	if !strings.Contains(bodies[0], "599") {
		t.Error("the FAQ entry that answers the question is not in the prompt")
	}
	want := []bot.Suggestion{
		{Text: "您好，基础版每个账号 599 元/年，10 个账号起购。", Source: "faq:pricing"},
		{Text: "我稍后打 13812345678 跟您详细介绍。", Source: "llm"},
		{Text: "方便说下需要多少个账号吗？", Source: "llm"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("suggestions %+v, want %+v", got, want)
	}

	// An invalid answer is not repaired with a second request: the set is
	// made offline instead. Then the day's budget (1000 tokens; each answer
	// counts 120) is spent: no request is made at all.
	fake.mu.Lock()
	fake.script = func(openai.ChatCompletionRequest) openai.ChatCompletionMessage {
		return openai.ChatCompletionMessage{Content: `{"replies":"not a list"}`}
	}
	fake.mu.Unlock()
	got, err = sg.Suggest(context.Background(), salesS1, id)
	if err != nil || len(got) != 3 || got[0].Source != "faq:pricing" {
		t.Fatalf("after an invalid answer: %+v, %v (want the offline set)", got, err)
	}
	if n := len(fake.bodies); n != 2 {
		t.Errorf("%d requests after two sets, want 2 (no repair)", n)
	}
	for range 10 {
		sg.Suggest(context.Background(), salesS1, id)
	}
	if n := len(fake.bodies); n > 9 {
		t.Errorf("%d requests: the daily token budget was not respected", n)
	}
}
