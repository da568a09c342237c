package nlp

import (
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is one chat message given to the analyzers.
type Message struct {
	Role string    `json:"role"` // RoleCustomer or RoleStaff
	Text string    `json:"text"`
	At   time.Time `json:"at,omitzero"` // when it was sent; resolves promises (zero: now)
	// Auto marks a message the system sent on its own (off-hours reply,
	// FAQ answer, welcome text): canned text is nobody's promise, mood or
	// intent, so the analyzer never reads it.
	Auto bool `json:"auto,omitempty"`
}

// Summary is a conversation summary by section. Text renders the sections
// as lines "需求：…；…", which is also the form a rolling summary is read back
// from.
type Summary struct {
	Text        string   `json:"text"`
	Overview    string   `json:"overview,omitempty"`    // 概要: one or two sentences (LLM only)
	Needs       []string `json:"needs,omitempty"`       // 需求: what the customer wants
	Objections  []string `json:"objections,omitempty"`  // 顾虑: doubts and complaints
	Answers     []string `json:"answers,omitempty"`     // 答复: what staff told the customer
	Commitments []string `json:"commitments,omitempty"` // 承诺: promises, either side
	Questions   []string `json:"questions,omitempty"`   // 待解答: questions still open
}

// Section titles, in the order they are rendered.
const (
	SectionOverview    = "概要"
	SectionNeeds       = "需求"
	SectionObjections  = "顾虑"
	SectionAnswers     = "答复"
	SectionCommitments = "承诺"
	SectionQuestions   = "待解答"
)

// Per-section caps keep a rolling summary bounded however long the
// conversation grows.
const (
	maxItemsPerSection = 3
	maxItemRunes       = 40
)

func (s *Summary) sections() []struct {
	title string
	items *[]string
} {
	return []struct {
		title string
		items *[]string
	}{
		{SectionNeeds, &s.Needs}, {SectionObjections, &s.Objections}, {SectionAnswers, &s.Answers},
		{SectionCommitments, &s.Commitments}, {SectionQuestions, &s.Questions},
	}
}

// render sets Text from the sections.
func (s *Summary) render() {
	var b strings.Builder
	if s.Overview != "" {
		b.WriteString(SectionOverview + "：" + strings.ReplaceAll(s.Overview, "\n", " "))
	}
	for _, sec := range s.sections() {
		if len(*sec.items) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(sec.title)
		b.WriteString("：")
		b.WriteString(strings.Join(*sec.items, "；"))
	}
	s.Text = b.String()
}

// ParseSummary reads a summary rendered by Summary.Text back into sections;
// lines without a known section title are kept as needs so that a summary
// written by hand or by an older model is not lost.
func ParseSummary(text string) Summary {
	var s Summary
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, SectionOverview+"："); ok {
			s.Overview = strings.TrimSpace(rest)
			continue
		}
		matched := false
		for _, sec := range s.sections() {
			for _, sep := range []string{"：", ":"} {
				if rest, ok := strings.CutPrefix(line, sec.title+sep); ok {
					for _, it := range strings.Split(rest, "；") {
						if it = strings.TrimSpace(it); it != "" {
							*sec.items = append(*sec.items, it)
						}
					}
					matched = true
				}
			}
			if matched {
				break
			}
		}
		if !matched {
			s.Needs = append(s.Needs, clip(line, maxItemRunes*2))
		}
	}
	s.render()
	return s
}

// Cue words for sentence roles. Customer needs and objections, staff answers
// and commitments, and questions on either side are what a salesperson
// wants to find in a summary.
var (
	needCues = []string{"想", "要", "需要", "希望", "打算", "准备", "买", "咨询", "了解", "帮我", "帮忙", "麻烦",
		"申请", "退", "换", "修", "改", "查", "订", "采购", "报价", "价格", "多少钱", "预算", "型号", "配置", "发货",
		"到货", "安装", "开票", "发票", "合同", "试用", "样品", "优惠", "活动", "怎么", "如何", "能不能", "可以"}
	objectionCues = []string{"贵", "便宜", "担心", "但是", "可是", "不过", "不想", "不需要", "不合适", "考虑",
		"再看看", "比较", "别家", "太慢", "质量", "问题", "投诉", "失望", "不满", "为什么", "怎么还", "还没",
		"没有收到", "一直", "差", "坏", "错", "不行", "不能", "不对", "不是", "不要", "退款", "退货", "骗"}
	commitCues = []string{"会", "将", "帮您", "为您", "给您", "安排", "稍后", "尽快", "跟进", "备注", "反馈",
		"申请", "处理", "联系您", "通知您", "保证", "负责", "一定", "马上"}
	questionCues = []string{"?", "？", "吗", "什么", "怎么", "为什么", "多少", "几", "哪", "能不能", "可不可以",
		"是否", "有没有", "会不会", "要不要", "咋", "么"}
	// Boilerplate that carries no information in a summary.
	fillerPhrases = []string{"请问还有其他", "还有什么可以", "很高兴为您服务", "感谢您", "祝您", "请问您是咨询之前",
		"本来想给您带来", "还辛苦您", "评价", "请稍等", "稍等", "马上为您查", "为您查询", "带来不便", "见谅",
		"您好", "你好", "在吗", "在的", "人工", "亲爱的", "欢迎光临", "有什么可以帮", "请您放心", "不客气",
		"抱歉久等", "久等了", "感谢您的耐心", "javascript", "http", "www.", "表情", "有什么问题", "可以帮您",
		"很荣幸", "#E-", "业务咨询", "咨询订单号", "还有其他"}
	shortAcks = map[string]bool{"好": true, "好的": true, "好吧": true, "嗯": true, "嗯嗯": true, "恩": true,
		"哦": true, "噢": true, "对": true, "对的": true, "是": true, "是的": true, "可以": true, "可以的": true,
		"谢谢": true, "没有了": true, "没有": true, "行": true, "ok": true, "OK": true, "收到": true, "明白": true,
		"好的谢谢": true, "不用了": true, "知道了": true, "了解": true, "好嘞": true}
)

var (
	urlRe     = regexp.MustCompile(`https?://\S+|www\.\S+|javascript:;?`)
	bracketRe = regexp.MustCompile(`\[[^\]]*\]|⟦[^⟧]*⟧`)
)

type sentence struct {
	text     string
	role     string
	msgIdx   int
	question bool
	score    float64
}

// Summarize writes an extractive summary of msgs in Chinese, merged into a
// previous summary (as rendered by Summary.Text, "" for none). Only the new
// messages are read, so its cost grows with them, not with the history.
// Sentences are scored by cue words, role, position, length and question
// marks; staff promises (ExtractPromises) count as commitments.
func Summarize(msgs []Message, prev string) Summary {
	s := ParseSummary(prev)
	if len(msgs) == 0 {
		return s
	}
	var sents []sentence
	for i, m := range msgs {
		for _, t := range splitSentences(m.Text) {
			sents = append(sents, sentence{text: t, role: m.Role, msgIdx: i, question: isQuestion(t)})
		}
	}
	var needs, objections, answers, commits, open []sentence
	lastStaff := -1
	for i, m := range msgs {
		if m.Role == RoleStaff && substantive(m.Text) {
			lastStaff = i
		}
	}
	seenCustomerNeed := false
	for i := range sents {
		st := &sents[i]
		if !substantive(st.text) {
			continue
		}
		facts := factBonus(st.text)
		n := utf8.RuneCountInString(st.text)
		lengthScore := 1.0
		switch {
		case n < 5:
			lengthScore = 0.3
		case n > 50:
			lengthScore = 0.6
		}
		pos := float64(st.msgIdx) / float64(len(msgs))
		if st.role == RoleCustomer {
			need := countCues(st.text, needCues)
			obj := countCues(strings.ReplaceAll(st.text, "能不能", ""), objectionCues)
			// A sentence with more need than objection cues ("我想买20台，
			// 能便宜点吗") is a need; the negative model catches complaints
			// without cue words.
			if obj > 0 && obj >= need || Sentiment(st.text).Label == Negative && n >= 4 && need <= obj {
				o := *st
				o.score = (1 + float64(obj)) * lengthScore
				objections = append(objections, o)
			}
			if need > 0 || st.question {
				nd := *st
				nd.score = (1 + float64(need) + b2f(st.question) + facts) * lengthScore * (1.3 - 0.6*pos)
				if !seenCustomerNeed {
					nd.score += 1.5 // the opening request frames the conversation
					seenCustomerNeed = true
				}
				needs = append(needs, nd)
			}
			if st.question && st.msgIdx > lastStaff {
				q := *st
				q.score = lengthScore + pos
				open = append(open, q)
			}
			if ps := promisesIn(msgs[st.msgIdx], st.text); ps {
				c := *st
				c.text = "客户：" + c.text
				c.score = (2 + facts) * lengthScore
				commits = append(commits, c)
			}
			continue
		}
		// staff
		if promisesIn(msgs[st.msgIdx], st.text) || countCues(st.text, commitCues) >= 2 {
			c := *st
			c.score = (1 + float64(countCues(st.text, commitCues)) + facts) * lengthScore
			if promisesIn(msgs[st.msgIdx], st.text) {
				c.score += 2
			}
			commits = append(commits, c)
			continue
		}
		if st.question {
			continue // staff asking back rarely belongs in a summary
		}
		// An answer: a staff sentence soon after a customer question, or
		// one that states figures (a price, a quantity, a date).
		if qd := questionDistance(sents, i); qd > 0 || facts > 0 {
			a := *st
			closeness := 0.0
			if qd > 0 {
				closeness = 1 / float64(qd)
			}
			a.score = lengthScore * (1 + closeness) * (0.5 + float64(countCues(st.text, needCues)+countCues(st.text, objectionCues))*0.3 + facts)
			answers = append(answers, a)
		}
	}
	var pickedAll []sentence // a sentence goes into one section only
	merge := func(dst *[]string, cands []sentence) {
		sort.SliceStable(cands, func(a, b int) bool { return cands[a].score > cands[b].score })
		var picked []sentence
		for _, c := range cands {
			if len(picked) >= maxItemsPerSection {
				break
			}
			if nearDuplicate(c.text, picked) || nearDuplicate(c.text, pickedAll) || containsSimilar(*dst, c.text) {
				continue
			}
			picked = append(picked, c)
		}
		pickedAll = append(pickedAll, picked...)
		// Keep the conversation's order within a section.
		sort.SliceStable(picked, func(a, b int) bool { return picked[a].msgIdx < picked[b].msgIdx })
		for _, p := range picked {
			*dst = append(*dst, clip(strings.ReplaceAll(p.text, "；", "，"), maxItemRunes))
		}
		// Old items give way to new ones once a section is full.
		if len(*dst) > maxItemsPerSection {
			*dst = (*dst)[len(*dst)-maxItemsPerSection:]
		}
	}
	if lastStaff >= 0 {
		// Staff has spoken since: earlier open questions were answered.
		s.Questions = nil
	}
	// The most specific section claims a sentence first.
	merge(&s.Questions, open)
	merge(&s.Commitments, commits)
	merge(&s.Objections, objections)
	merge(&s.Needs, needs)
	merge(&s.Answers, answers)
	s.render()
	return s
}

// factRe matches the figures a summary must not lose: quantities, sizes
// and prices ("12台", "75寸", "12800元/台", "九折").
var factRe = regexp.MustCompile(`[0-9０-９]+(?:\.[0-9]+)?\s*(?:台|寸|英寸|套|件|个|箱|份|元|块|万|千|米|吨|%|％|折|年|月|天|人|G|T|kg|KG)(?:/[台套件个箱份人年月])?|[一二两三四五六七八九十]+折`)

// factBonus scores how many facts a sentence carries: each quantity, price
// or date (a deadline such as 周五前) lifts it among its section's
// candidates, so that the key points keep the figures.
func factBonus(s string) float64 {
	n := len(factRe.FindAllStringIndex(s, 3))
	if len(ParseTimeExpr(s, factClock, nil)) > 0 {
		n++
	}
	return 0.8 * float64(min(n, 3))
}

// factClock resolves time expressions only to tell that there is one.
var factClock = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func promisesIn(m Message, sentence string) bool {
	at := m.At
	if at.IsZero() {
		at = time.Now()
	}
	return len(ExtractPromises(sentence, at, nil, m.Role)) > 0
}

// questionDistance is how many sentences back the nearest customer question
// is (0 if there is none within the last 6).
func questionDistance(sents []sentence, i int) int {
	for j := i - 1; j >= 0 && i-j <= 6; j-- {
		if sents[j].role == RoleCustomer && sents[j].question {
			return i - j
		}
	}
	return 0
}

func splitSentences(text string) []string {
	text = urlRe.ReplaceAllString(text, "")
	var out []string
	start := 0
	for i, r := range text {
		if strings.ContainsRune("。！!？?；;\n", r) {
			end := i + utf8.RuneLen(r)
			if r == '\n' || r == ';' || r == '；' {
				end = i
			}
			if t := strings.TrimSpace(text[start:end]); t != "" {
				out = append(out, t)
			}
			start = i + utf8.RuneLen(r)
		}
	}
	if t := strings.TrimSpace(text[start:]); t != "" {
		out = append(out, t)
	}
	return out
}

func isQuestion(s string) bool {
	for _, c := range questionCues {
		if strings.Contains(s, c) {
			if c == "几" && (strings.Contains(s, "几天") || strings.Contains(s, "几个")) && !strings.ContainsAny(s, "?？吗") {
				continue
			}
			return true
		}
	}
	return false
}

// substantive filters greetings, thanks, acknowledgements and service
// boilerplate.
func substantive(s string) bool {
	t := strings.Trim(s, " 。！!？?~～，,.…")
	if shortAcks[t] {
		return false
	}
	// Masked values ([订单编号], ⟦PHONE_1⟧) are not content.
	han := 0
	for _, r := range bracketRe.ReplaceAllString(t, "") {
		if isHan(r) {
			han++
		}
	}
	if han < 3 {
		return false
	}
	// A greeting that carries a figure ("你好，想要12台75寸的") is content.
	for _, f := range fillerPhrases {
		if strings.Contains(t, f) && utf8.RuneCountInString(t) < 30 && !factRe.MatchString(t) {
			return false
		}
	}
	return hasLetters(t)
}

func countCues(s string, cues []string) int {
	n := 0
	for _, c := range cues {
		if strings.Contains(s, c) {
			n++
		}
	}
	return n
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// nearDuplicate reports whether s shares most of its characters with an
// already picked sentence.
func nearDuplicate(s string, picked []sentence) bool {
	for _, p := range picked {
		if charOverlap(s, p.text) > 0.7 {
			return true
		}
	}
	return false
}

func containsSimilar(items []string, s string) bool {
	for _, it := range items {
		if charOverlap(s, strings.TrimSuffix(it, "…")) > 0.7 {
			return true
		}
	}
	return false
}

// charOverlap is the share of the shorter string's characters found in the
// longer one.
func charOverlap(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > len(rb) {
		ra, rb = rb, ra
	}
	if len(ra) == 0 {
		return 0
	}
	set := map[rune]int{}
	for _, r := range rb {
		set[r]++
	}
	hit := 0
	for _, r := range ra {
		if set[r] > 0 {
			set[r]--
			hit++
		}
	}
	return float64(hit) / float64(len(ra))
}
