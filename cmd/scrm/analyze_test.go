package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/nlp"
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

// TestAnalyzePromisesDevSet is issue 13's acceptance through the command:
// nlp/testdata/promises_dev.jsonl fed as JSON lines with who, text and at;
// no promise on a line that promises nothing, and at least 90 % of the
// dated lines due on a day inside their window.
func TestAnalyzePromisesDevSet(t *testing.T) {
	b, err := os.ReadFile("../../nlp/testdata/promises_dev.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	type devLine struct {
		Who, Text, At string
		DueFrom       string `json:"due_from"`
		DueTo         string `json:"due_to"`
		Owner         string
	}
	var dev []devLine
	var in strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(l, `{"#"`) {
			continue
		}
		var d devLine
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatal(err)
		}
		dev = append(dev, d)
		in.WriteString(l + "\n")
	}
	// An automatic off-hours reply with a time in it is skipped.
	in.WriteString(`{"who":"staff","auto":true,"text":"您好，现在是非工作时间，明天上午9点后我们会第一时间回复您。","at":"2026-11-24T21:00:00+08:00"}` + "\n")
	out, err := runAnalyze(t, in.String(), "promises", "--offline")
	if err != nil {
		t.Fatal(err)
	}
	outs := strings.Split(strings.TrimSpace(out), "\n")
	if len(outs) != len(dev)+1 {
		t.Fatalf("%d output lines for %d input lines", len(outs), len(dev)+1)
	}
	var dated, inWindow int
	for i, l := range outs {
		var got struct {
			Text     string
			Promises []struct{ Action, Due, Who, Owner string }
		}
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if i == len(dev) {
			if len(got.Promises) != 0 {
				t.Errorf("automatic message read: %s", l)
			}
			continue
		}
		d := dev[i]
		if d.DueFrom == "" {
			if len(got.Promises) != 0 {
				t.Errorf("promise on a line that promises nothing: %s", l)
			}
			continue
		}
		dated++
		if len(got.Promises) == 0 {
			continue
		}
		p := got.Promises[0]
		due, err := time.Parse(time.RFC3339, p.Due)
		if err != nil {
			t.Fatal(err)
		}
		day := due.Format("2006-01-02") // printed in the business time zone
		if day >= d.DueFrom && day <= d.DueTo && p.Owner == d.Owner && p.Who == d.Who {
			inWindow++
		} else {
			t.Logf("wrong: %s (want %s..%s owed by %s)", l, d.DueFrom, d.DueTo, d.Owner)
		}
	}
	t.Logf("analyze promises: %d/%d dated lines due in window and owed by the right party", inWindow, dated)
	if float64(inWindow) < 0.9*float64(dated) {
		t.Errorf("%d of %d dated lines right, want >= 90%%", inWindow, dated)
	}
}

func TestAnalyzeSentimentIntensity(t *testing.T) {
	out, err := runAnalyze(t, "98寸的屏下个月能到货吗？\n服务态度太差了，我要投诉\n", "sentiment", "--offline")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("output %q", out)
	}
	var q, c struct {
		Label, Intensity, Display string
		Score                     float64
	}
	if err := json.Unmarshal([]byte(lines[0]), &q); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &c); err != nil {
		t.Fatal(err)
	}
	if q.Label != nlp.Neutral || q.Display != "中性" || q.Intensity != "" {
		t.Errorf("question: %s", lines[0])
	}
	if c.Label != nlp.Negative || c.Intensity == "" || c.Display != "负面·"+c.Intensity {
		t.Errorf("complaint: %s", lines[1])
	}
}
