package nlp

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestPromptsGolden renders every prompt as sent (before masking) for fixed
// inputs; run with -update after changing a prompt and review the diff.
func TestPromptsGolden(t *testing.T) {
	msg := Message{Role: RoleStaff, Text: "好的，明天下午三点前把报价发给您", At: testNow}
	cases := []struct {
		name         string
		system, user string
		schema       *Schema
	}{
		{"sentiment", sentimentSystem, sentimentUser("你们的服务太慢了，等了一个星期还没发货"), sentimentSchema},
		{"promises", promisesSystem, promisesUser(msg, shanghai()), promisesSchema},
		{"summary", summarySystem, summaryUser("需求：采购20台笔记本\n顾虑：价格偏高", []Message{
			{Role: RoleCustomer, Text: "保修期多久？", At: testNow},
			msg,
		}, shanghai()), summarySchema},
		{"summary_first", summarySystem, summaryUser("", []Message{{Role: RoleCustomer, Text: "你好，想了解一下你们的产品"}}, shanghai()), summarySchema},
		{"intent", intentSystem, intentUser("这个型号现在多少钱？有优惠吗"), intentSchema},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b strings.Builder
			for _, m := range BuildMessages(c.system, c.user, c.schema) {
				b.WriteString("=== " + m.Role + " ===\n" + m.Content + "\n")
			}
			got := b.String()
			path := filepath.Join("testdata", "prompts", c.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("prompt differs from %s (run with -update if intended):\n%s", path, got)
			}
		})
	}
}

func TestRepairPromptGolden(t *testing.T) {
	got := repairPrompt(sentimentSchema.Validate(map[string]any{"label": "happy", "score": 0.5}))
	want := "你上一次的输出不符合要求：$.label: \"happy\" is not one of positive, negative, neutral。请修正后重新输出，只输出一个符合上述 JSON Schema 的 JSON 对象。"
	if got != want {
		t.Errorf("repair prompt = %q", got)
	}
}
