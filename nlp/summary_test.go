package nlp

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// csdsVal is evaluation-only data outside the repository.
const csdsVal = "dialogues/csds_topic_val.json"

type csdsItem struct {
	Dialogue string `json:"Dialogue"`
	QASumm   string `json:"QASumm"`
}

// parseCSDS turns "用户:…[SEP][CLS]客服:…" into messages.
func parseCSDS(d string) []Message {
	var out []Message
	for _, part := range strings.Split(d, "[SEP]") {
		part = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(part), "[CLS]"))
		switch {
		case strings.HasPrefix(part, "用户:"):
			out = append(out, Message{Role: RoleCustomer, Text: strings.TrimPrefix(part, "用户:")})
		case strings.HasPrefix(part, "客服:"):
			out = append(out, Message{Role: RoleStaff, Text: strings.TrimPrefix(part, "客服:")})
		}
	}
	return out
}

// rougeScores returns character ROUGE-1 and ROUGE-L F1 of cand against ref,
// ignoring punctuation and spaces.
func rougeScores(cand, ref string) (r1, rl float64) {
	c, r := rougeRunes(cand), rougeRunes(ref)
	if len(c) == 0 || len(r) == 0 {
		return 0, 0
	}
	counts := map[rune]int{}
	for _, x := range r {
		counts[x]++
	}
	overlap := 0
	for _, x := range c {
		if counts[x] > 0 {
			counts[x]--
			overlap++
		}
	}
	r1 = f1(float64(overlap), len(c), len(r))
	// LCS by dynamic programming over two rows.
	prev := make([]int, len(r)+1)
	cur := make([]int, len(r)+1)
	for i := 1; i <= len(c); i++ {
		for j := 1; j <= len(r); j++ {
			switch {
			case c[i-1] == r[j-1]:
				cur[j] = prev[j-1] + 1
			case prev[j] >= cur[j-1]:
				cur[j] = prev[j]
			default:
				cur[j] = cur[j-1]
			}
		}
		prev, cur = cur, prev
	}
	rl = f1(float64(prev[len(r)]), len(c), len(r))
	return r1, rl
}

func f1(hit float64, nc, nr int) float64 {
	if hit == 0 {
		return 0
	}
	p, r := hit/float64(nc), hit/float64(nr)
	return 2 * p * r / (p + r)
}

func rougeRunes(s string) []rune {
	var out []rune
	for _, r := range s {
		if hasLetters(string(r)) || r >= '0' && r <= '9' {
			out = append(out, r)
		}
	}
	return out
}

func TestRouge(t *testing.T) {
	r1, rl := rougeScores("用户询问退款", "用户询问何时退款")
	if r1 < 0.85 || rl < 0.85 || r1 > 1 {
		t.Errorf("r1 %.3f rl %.3f", r1, rl)
	}
	if r1, _ := rougeScores("abc", "xyz"); r1 != 0 {
		t.Errorf("disjoint r1 = %v", r1)
	}
}

// TestSummarizeCSDS compares the extractive summary with a lead-3 baseline
// on the CSDS validation dialogues (references from all topic summaries of
// a dialogue, joined) and requires it to do better on both measures.
func TestSummarizeCSDS(t *testing.T) {
	b, err := os.ReadFile(evalData(t, csdsVal))
	if err != nil {
		t.Fatalf("read evaluation set: %v", err)
	}
	var items []csdsItem
	if err := json.Unmarshal(b, &items); err != nil {
		t.Fatalf("decode evaluation set: %v", err)
	}
	refs := map[string][]string{}
	var order []string
	for _, it := range items {
		if _, ok := refs[it.Dialogue]; !ok {
			order = append(order, it.Dialogue)
		}
		refs[it.Dialogue] = append(refs[it.Dialogue], it.QASumm)
	}
	var ours1, oursL, lead1, leadL, leadN1, leadNL, outLen float64
	for _, d := range order {
		msgs := parseCSDS(d)
		ref := strings.Join(refs[d], "")
		sum := Summarize(msgs, "")
		r1, rl := rougeScores(sum.Text, ref)
		ours1 += r1
		oursL += rl
		outLen += float64(utf8.RuneCountInString(sum.Text))
		var lead []string
		for i := 0; i < len(msgs) && i < 3; i++ {
			lead = append(lead, msgs[i].Text)
		}
		r1, rl = rougeScores(strings.Join(lead, "。"), ref)
		lead1 += r1
		leadL += rl
		// A second baseline: the opening messages cut to our summary's length.
		var all []string
		for _, m := range msgs {
			all = append(all, m.Text)
		}
		r1, rl = rougeScores(clip(strings.Join(all, "。"), utf8.RuneCountInString(sum.Text)), ref)
		leadN1 += r1
		leadNL += rl
		if os.Getenv("SHOW_SUMMARIES") != "" {
			t.Logf("REF %s\nOUT %s", ref, sum.Text)
		}
	}
	n := float64(len(order))
	t.Logf("CSDS val, %d dialogues: extractive ROUGE-1 %.4f ROUGE-L %.4f (mean %.0f chars); lead-3 ROUGE-1 %.4f ROUGE-L %.4f; lead at equal length ROUGE-1 %.4f ROUGE-L %.4f",
		len(order), ours1/n, oursL/n, outLen/n, lead1/n, leadL/n, leadN1/n, leadNL/n)
	if len(order) < 100 {
		t.Fatalf("only %d dialogues", len(order))
	}
	if ours1 <= lead1 || oursL <= leadL || ours1 <= leadN1 || oursL <= leadNL {
		t.Errorf("extractive summary does not beat the lead baselines")
	}
}

func TestSummarizeSections(t *testing.T) {
	at := testNow
	msgs := []Message{
		{Role: RoleCustomer, Text: "你好，在吗", At: at},
		{Role: RoleStaff, Text: "您好，很高兴为您服务", At: at},
		{Role: RoleCustomer, Text: "我们公司想采购20台笔记本电脑，需要开增值税发票", At: at},
		{Role: RoleCustomer, Text: "你们的价格比别家贵了不少，有点担心性价比", At: at},
		{Role: RoleStaff, Text: "批量采购可以申请企业优惠价，比官网低百分之十", At: at},
		{Role: RoleStaff, Text: "我明天下午三点前把正式报价发给您", At: at},
		{Role: RoleCustomer, Text: "好的", At: at},
		{Role: RoleCustomer, Text: "保修期是多久？上门维修吗？", At: at},
	}
	s := Summarize(msgs, "")
	for _, want := range []string{"需求：", "顾虑：", "承诺：", "待解答：", "采购20台笔记本", "贵", "报价发给您", "保修期"} {
		if !strings.Contains(s.Text, want) {
			t.Errorf("summary lacks %q:\n%s", want, s.Text)
		}
	}
	for _, unwanted := range []string{"很高兴为您服务", "在吗"} {
		if strings.Contains(s.Text, unwanted) {
			t.Errorf("summary holds boilerplate %q:\n%s", unwanted, s.Text)
		}
	}
	// Rolling: a staff answer later closes the open question and keeps the
	// earlier sections.
	s2 := Summarize([]Message{{Role: RoleStaff, Text: "保修三年，全国联保，支持上门维修", At: at}}, s.Text)
	if strings.Contains(s2.Text, "待解答") {
		t.Errorf("question still open after the answer:\n%s", s2.Text)
	}
	if !strings.Contains(s2.Text, "采购20台笔记本") || !strings.Contains(s2.Text, "报价发给您") {
		t.Errorf("rolling summary lost earlier sections:\n%s", s2.Text)
	}
	if got := ParseSummary(s2.Text); got.Text != s2.Text {
		t.Errorf("ParseSummary(Text) renders %q, want %q", got.Text, s2.Text)
	}
}

func TestSummarizeBounded(t *testing.T) {
	var msgs []Message
	for i := 0; i < 300; i++ {
		msgs = append(msgs, Message{Role: RoleCustomer, Text: "我想了解一下第" + strings.Repeat("新", i%7+1) + "款产品的价格是多少？", At: time.Now()})
	}
	s := ""
	for i := 0; i < len(msgs); i += 10 {
		s = Summarize(msgs[i:i+10], s).Text
	}
	if n := utf8.RuneCountInString(s); n > 5*maxItemsPerSection*(maxItemRunes+2)+20 {
		t.Errorf("rolling summary grew to %d runes", n)
	}
}

// TestSummaryKeepsFacts (issue 13): the offline summary keeps the
// quantities, prices, dates and products of scrm's own sales dialogues.
func TestSummaryKeepsFacts(t *testing.T) {
	dialogues := []struct {
		lines string
		facts []string
	}{
		{"客户：你好，我们会议室要换屏，想要12台75寸的\n销售：好的，75寸这款是12800元/台，含安装\n客户：价格能再便宜点吗？太贵了\n" +
			"销售：12台以上可以给到12000元/台\n客户：行，那麻烦周五前把正式报价单发我\n销售：好的，周五前发您\n客户：另外质保几年？\n销售：整机三年质保\n",
			[]string{"12台", "75寸", "12800元/台", "周五前"}},
		{"客户：您好，在吗\n销售：在的，您请说\n客户：我们学校采购30套学生桌椅，预算每套800元左右\n销售：可以的，我们有一款850元/套的，含配送\n" +
			"客户：下个月15号前能送到吗？\n销售：可以，我们下个月10号前送到学校\n客户：好的谢谢\n",
			[]string{"30套", "850元/套", "10号前"}},
	}
	for _, d := range dialogues {
		dl, err := ParseDialogueLines(d.lines)
		if err != nil {
			t.Fatal(err)
		}
		for i := range dl.Messages {
			dl.Messages[i].At = testNow
		}
		s := Summarize(dl.Messages, "")
		for _, f := range d.facts {
			if !strings.Contains(s.Text, f) {
				t.Errorf("summary lacks %q:\n%s", f, s.Text)
			}
		}
	}
}
