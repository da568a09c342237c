package nlp

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Speaker roles; a promise's Who is the role of whoever said it.
const (
	RoleCustomer = "customer"
	RoleStaff    = "staff"
)

// Promise is a commitment with a due time found in a message.
type Promise struct {
	// Action is what was promised, in the speaker's words without the time
	// expression (e.g. "发报价").
	Action string `json:"action"`
	// Due is when, in the business time zone.
	Due time.Time `json:"due"`
	// Who made the promise: RoleCustomer or RoleStaff (the speaker).
	Who string `json:"who"`
	// Expr is the time expression as written; Span its byte offsets in the
	// text; Exact whether the clock time was stated rather than defaulted.
	Expr  string `json:"expr"`
	Span  [2]int `json:"span"`
	Exact bool   `json:"exact"`
}

// commitmentWords mark an action someone can commit to. They are matched
// only in a clause that also holds a future time expression, which is what
// keeps short words such as 发 or 给 from firing on their own.
var commitmentWords = []string{
	"发", "付", "报价", "联系", "回复", "答复", "回电", "回访", "确认", "付款", "付钱", "打款", "转账", "汇款",
	"结款", "回款", "支付", "交钱", "结账", "签", "盖章", "打电话", "电话", "致电", "再说", "聊", "谈",
	"沟通", "商量", "讨论", "开会", "会议", "见面", "碰头", "拜访", "上门", "过来", "过去", "来", "去",
	"到", "安排", "处理", "解决", "提交", "提供", "给", "送", "寄", "交付", "交货", "下单", "订",
	"采购", "开票", "发票", "准备", "决定", "考虑", "通知", "反馈", "告诉", "约", "测试", "演示", "试用",
	"看", "落实", "搞定", "完成", "汇报", "对接", "续费", "续约", "退款", "退货", "换货", "维修", "修",
	"安装", "培训", "跟进", "提醒", "审核", "审批", "出", "做", "办", "改", "更新", "上线", "交", "申请",
	"拿", "取", "带", "问", "催", "查", "核对", "核实", "整理", "预约", "定", "答应", "保证", "搞",
	"弄", "走", "买", "采", "见", "碰", "找", "回", "还", "补", "退", "换", "装", "签收", "收", "结", "把",
}

// refusals turn a clause into the opposite of a commitment.
var refusals = []string{"不能", "不会", "没法", "无法", "不了", "来不及", "没空", "不用", "不必", "没时间", "不方便", "不行", "别"}

// ExtractPromises finds commitments with a due time in one message said by
// who (RoleCustomer or RoleStaff), resolving times against now (the message
// time) in loc (nil means Asia/Shanghai). A promise needs both a future time
// expression and an action in the same clause or sentence; a text without a
// time expression yields none.
func ExtractPromises(text string, now time.Time, loc *time.Location, who string) []Promise {
	if loc == nil {
		loc = shanghai()
	}
	matches := ParseTimeExpr(text, now, loc)
	if len(matches) == 0 {
		return nil
	}
	var out []Promise
	usedClause := map[int]bool{}
	for _, m := range matches {
		if m.Time.Before(now) {
			continue // 昨天… is a report, not a promise
		}
		sStart, sEnd := sentenceBounds(text, m.Start, m.End)
		clauses := splitClauses(text, sStart, sEnd)
		home := -1
		for ci, c := range clauses {
			if m.Start >= c[0] && m.Start < c[1] {
				home = ci
			}
		}
		if home < 0 || usedClause[clauses[home][0]] {
			continue // one promise per clause: 明天或后天发 is one promise
		}
		// The action is in the time's own clause, else the next one
		// ("明天下午，我把报价发您"), else the one before ("报价的话，明天吧").
		order := []int{home}
		if home+1 < len(clauses) {
			order = append(order, home+1)
		}
		if home > 0 {
			order = append(order, home-1)
		}
		for _, ci := range order {
			c := clauses[ci]
			if usedClause[c[0]] && ci != home {
				continue
			}
			rest := clauseWithout(text, c, matches)
			if !hasCommitment(rest) || hasRefusal(rest) {
				continue
			}
			usedClause[clauses[home][0]] = true
			usedClause[c[0]] = true
			out = append(out, Promise{
				Action: cleanAction(rest),
				Due:    m.Time,
				Who:    who,
				Expr:   m.Text,
				Span:   [2]int{m.Start, m.End},
				Exact:  m.Exact,
			})
			break
		}
	}
	return out
}

const sentenceEnds = "。！？!?；;\n…"
const clauseEnds = "，,、：:~～"

func sentenceBounds(text string, start, end int) (int, int) {
	s := strings.LastIndexAny(text[:start], sentenceEnds)
	if s < 0 {
		s = 0
	} else {
		_, w := utf8.DecodeRuneInString(text[s:])
		s += w
	}
	e := strings.IndexAny(text[end:], sentenceEnds)
	if e < 0 {
		e = len(text)
	} else {
		e += end
	}
	return s, e
}

func splitClauses(text string, start, end int) [][2]int {
	var out [][2]int
	cs := start
	seg := text[start:end]
	for i, r := range seg {
		if (r == ':' || r == '：') && i > 0 && isDigitByte(seg[i-1]) && i+utf8.RuneLen(r) < len(seg) && isDigitByte(seg[i+utf8.RuneLen(r)]) {
			continue // 15:00 is a clock, not a clause break
		}
		if strings.ContainsRune(clauseEnds, r) {
			if start+i > cs {
				out = append(out, [2]int{cs, start + i})
			}
			cs = start + i + utf8.RuneLen(r)
		}
	}
	if end > cs {
		out = append(out, [2]int{cs, end})
	}
	return out
}

// clauseWithout returns the clause text with its time expressions cut out.
func clauseWithout(text string, c [2]int, matches []TimeMatch) string {
	var b strings.Builder
	pos := c[0]
	for _, m := range matches {
		if m.End <= c[0] || m.Start >= c[1] {
			continue
		}
		if m.Start > pos {
			b.WriteString(text[pos:m.Start])
		}
		pos = max(pos, m.End)
	}
	if pos < c[1] {
		b.WriteString(text[pos:c[1]])
	}
	return b.String()
}

func hasCommitment(s string) bool {
	for _, w := range commitmentWords {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func hasRefusal(s string) bool {
	// 能不能, 可不可以, 行不行 ask; they do not refuse.
	s = strings.NewReplacer("能不能", "", "可不可以", "", "行不行", "", "会不会", "", "方不方便", "", "是不是", "").Replace(s)
	for _, w := range refusals {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// cleanAction trims particles and filler around the action words.
func cleanAction(s string) string {
	s = strings.TrimSpace(s)
	for changed := true; changed; {
		changed = false
		for _, p := range []string{"那就", "那我", "那", "就", "好的", "好", "嗯", "的话", "我们", "我", "咱们", "会", "的", "吧", "左右"} {
			if strings.HasPrefix(s, p) && len(s) > len(p) {
				s = strings.TrimSpace(strings.TrimPrefix(s, p))
				changed = true
			}
		}
		for _, p := range []string{"吧", "哈", "啊", "呀", "哦", "呢", "了", "的", "哈哈", "嘛", "~", "～", "喔", "哟"} {
			if strings.HasSuffix(s, p) && len(s) > len(p) {
				s = strings.TrimSpace(strings.TrimSuffix(s, p))
				changed = true
			}
		}
	}
	if utf8.RuneCountInString(s) > 40 {
		s = string([]rune(s)[:40])
	}
	return s
}

func hasLetters(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) {
			return true
		}
	}
	return false
}
