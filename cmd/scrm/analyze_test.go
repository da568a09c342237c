package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// runAnalyze runs `scrm analyze <args>` with input on a real pipe as its
// standard input, the way a shell feeds it.
func runAnalyze(t *testing.T, input string, args ...string) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		_, _ = w.WriteString(input)
		_ = w.Close()
	}()
	cmd := newAnalyzeCmd()
	var out bytes.Buffer
	cmd.SetIn(r)
	cmd.SetOut(&out)
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func summaries(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var v struct {
			Summary string `json:"summary"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		got = append(got, v.Summary)
	}
	return got
}

func TestAnalyzeSummaryPastedLines(t *testing.T) {
	in := "客户：你好，我想买二十台笔记本电脑，预算每台五千左右\n" +
		"销售: 好的，我们有几款合适的型号，\n  今天下午把报价单发给您\n" +
		"\n" +
		"客户：价格能不能再便宜一点？太贵了\n" +
		"客服：批量采购可以打九折\n"
	out, err := runAnalyze(t, in, "summary", "--offline")
	if err != nil {
		t.Fatalf("analyze summary of pasted lines: %v", err)
	}
	got := summaries(t, out)
	if len(got) != 1 || strings.TrimSpace(got[0]) == "" {
		t.Fatalf("summaries = %q, want one", got)
	}
	// The staff's continuation line belongs to the staff's turn.
	if !strings.Contains(got[0], "报价") {
		t.Errorf("summary %q misses the staff's continued line", got[0])
	}
}

func TestAnalyzeSummaryJSONStillRead(t *testing.T) {
	in := `[{"role":"customer","text":"你好，想了解一下你们的产品价格"},{"role":"staff","text":"您好，明天发您报价"}]` + "\n" +
		`{"dialogue":"客户：发票怎么开？\n客服：下单后在订单页申请"}`
	out, err := runAnalyze(t, in, "summary", "--offline")
	if err != nil {
		t.Fatal(err)
	}
	if got := summaries(t, out); len(got) != 2 {
		t.Fatalf("summaries = %q, want two", got)
	}
}

func TestAnalyzeSummaryRejectsUnlabelledText(t *testing.T) {
	_, err := runAnalyze(t, "只是一段话，没有说话人\n客户：在吗", "summary", "--offline")
	if err == nil || !strings.Contains(err.Error(), "客户") {
		t.Fatalf("err = %v, want one naming the expected 客户： label", err)
	}
	if _, err := runAnalyze(t, " \n", "summary", "--offline"); err == nil || !strings.Contains(err.Error(), "no dialogue") {
		t.Fatalf("empty input err = %v", err)
	}
}
