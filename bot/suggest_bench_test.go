package bot_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
)

// BenchmarkSuggestOffline drafts offline suggestions for a customer with a
// long history (2,000 timeline entries) in a store of 2,000 customers, with
// a 200-entry FAQ: the target is under 200 ms a set.
func BenchmarkSuggestOffline(b *testing.B) {
	st, err := sqlite.Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	ctx := context.Background()
	entries := []*bot.FAQEntry{}
	kb0, _ := exampleFAQ(b).KnowledgeBase(ctx)
	entries = append(entries, kb0.Entries()...)
	topics := []string{"安装", "培训", "数据导入", "权限", "接口", "续费", "合同", "账号", "迁移", "备份"}
	for i := range 195 {
		t := topics[i%len(topics)]
		entries = append(entries, &bot.FAQEntry{ID: fmt.Sprintf("e%03d", i), Question: fmt.Sprintf("%s第%d类问题怎么处理？", t, i),
			Aliases: []string{t + "有问题", t + "怎么弄"}, Keywords: []string{t}, Answer: fmt.Sprintf("关于%s：请按第%d号说明操作，或联系客服。", t, i)})
	}
	kb, err := bot.NewKnowledgeBase(entries)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 2000 {
		if _, err := st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: fmt.Sprintf("bx%04d", i)},
			Name: "客户", Follow: &store.Follow{StaffID: "s1", AddedAt: sugNow}, Now: sugNow}); err != nil {
			b.Fatal(err)
		}
	}
	msgs := make([]string, 2000)
	for i := range msgs {
		msgs[i] = fmt.Sprintf("第%d条消息，关于产品的使用和价格", i)
	}
	msgs[len(msgs)-1] = "报销需要票据，你们能提供吗"
	id := sugCustomer(b, st, "bench", msgs...)
	sg := bot.NewReplySuggester(bot.NewCore(st, func() time.Time { return sugNow }), bot.StaticFAQ{KB: kb}, nil, bot.SuggestOptions{})
	if got, err := sg.Suggest(ctx, salesS1, id); err != nil || got[0].Source != "faq:invoice" {
		b.Fatalf("Suggest = %+v, %v", got, err)
	}
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := sg.Suggest(ctx, salesS1, id); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N)/1000, "ms/set")
}
