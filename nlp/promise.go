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
	// Action is the whole obligation, without the time expression: the
	// verb and its object, with quantities and conditions said around it
	// in brackets ("发正式报价单（10台75寸，含安装和三年质保）").
	Action string `json:"action"`
	// Due is when, in the business time zone.
	Due time.Time `json:"due"`
	// Who said it: RoleCustomer or RoleStaff (the speaker).
	Who string `json:"who"`
	// Owner owes it: RoleCustomer or RoleStaff. It is the speaker for a
	// commitment ("我明天发报价") and the other party for a request with a
	// deadline ("麻烦周五前发我报价" said by a customer is owed by staff).
	Owner string `json:"owner"`
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
	"弄", "走", "买", "采", "见", "碰", "找", "回", "还", "补", "退", "换", "装", "签收", "收", "结", "把", "开",
}

// refusals turn a clause into the opposite of a commitment.
var refusals = []string{"不能", "不会", "没法", "无法", "不了", "来不及", "没空", "不用", "不必", "没时间", "不方便", "不行", "别",
	"不需要", "不着急", "不急", "取消", "算了", "不在", "出差", "休假", "请假", "放假"}

// pastMarkers make a clause a report of something done, not an obligation.
var pastMarkers = []string{"已经", "已发", "已寄", "已付", "已签", "已安排", "已处理", "刚刚", "刚才", "早就", "过了"}

// hedges make a clause an estimate ("明天应该能到"), which nobody owes.
var hedges = []string{"应该", "估计", "可能", "大概", "也许", "说不定", "或许", "差不多"}

// greetingActions are what is left of a wish or a farewell once its time is
// cut out: "周末愉快", "下周见".
var greetingActions = []string{"愉快", "快乐", "好运", "顺利", "见", "再见", "回见", "晚安", "早安", "休息好", "玩得开心"}

// requestCues mark a sentence that asks the other party to do something.
var requestCues = []string{"麻烦", "请您", "请你", "请", "帮我", "帮忙", "您看", "你看", "记得", "务必", "能不能", "可不可以",
	"能否", "可否", "前要", "要到", "之前要", "就行", "过来"}

// objectMe are the phrases in which the speaker is the one served ("发我",
// "联系我"), so their 我 does not make the speaker the doer.
var objectMe = []string{"给到我", "整理给我", "发给我", "寄给我", "给我", "发我", "寄我", "传我", "联系我", "通知我", "告诉我", "回复我",
	"答复我", "回我", "找我", "提醒我", "打给我", "帮我", "到我", "等我", "跟我", "和我", "让我", "我们公司", "我司", "我这里", "我这"}

// weakActions are deadline words that name no action themselves: in
// "…，周五前要" the obligation is in another clause.
var weakActions = []string{"要", "需要", "要的", "就要", "必须", "得", "可以", "就行", "行", "给我", "要到", "到"}

// questionWords make a clause a question even without a question mark.
var questionWords = []string{"吗", "么", "有没有", "是不是", "能不能", "可不可以", "会不会", "多少", "几点", "哪天", "什么时候", "怎么", "为什么", "多久", "几号"}

// ExtractPromises finds commitments with a due time in one message said by
// who (RoleCustomer or RoleStaff), resolving times against now (the message
// time) in loc (nil means Asia/Shanghai). A promise needs both a future time
// expression and an action in the same sentence; a text without a time
// expression yields none, and so do questions, reports of the past,
// refusals, estimates and wishes ("周末愉快"). A request with a deadline is
// owed by the other party.
func ExtractPromises(text string, now time.Time, loc *time.Location, who string) []Promise {
	return PromisesInMessage(text, who, now, loc)
}

// PromisesInMessage is the promises a message said by who at time at holds
// on its own: what bot reads from a staff message when it is sent. It is
// ExtractPromises with the message's fields in their natural order.
func PromisesInMessage(text, who string, at time.Time, loc *time.Location) []Promise {
	if loc == nil {
		loc = shanghai()
	}
	who = roleOrDefault(who)
	matches := ParseTimeExpr(text, at, loc)
	if len(matches) == 0 {
		return nil
	}
	var out []Promise
	usedClause := map[int]bool{}
	for _, m := range matches {
		if m.Time.Before(at) {
			continue // 昨天… is a report, not a promise
		}
		sStart, sEnd := sentenceBounds(text, m.Start, m.End)
		if !committalSentence(text, sStart, sEnd) {
			continue
		}
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
		homeRest := clauseWithout(text, clauses[home], matches)
		if blocked(homeRest) {
			continue
		}
		// The action is in the time's own clause, else the next one
		// ("明天下午，我把报价发您"), else the one before ("报价的话，明天吧").
		// A deadline clause that names no action ("周五前要") takes the
		// sentence's first clause with one.
		order := []int{home}
		if home+1 < len(clauses) {
			order = append(order, home+1)
		}
		if home > 0 {
			order = append(order, home-1)
		}
		if isWeak(homeRest) {
			order = order[:0]
			for ci := range clauses {
				if ci != home {
					order = append(order, ci)
				}
			}
		}
		for _, ci := range order {
			c := clauses[ci]
			if usedClause[c[0]] && ci != home {
				continue
			}
			rest := clauseWithout(text, c, matches)
			if !hasCommitment(rest) || blocked(rest) || isWeak(rest) {
				continue
			}
			action := cleanAction(rest)
			if isGreeting(action) {
				continue
			}
			usedClause[clauses[home][0]] = true
			usedClause[c[0]] = true
			// Conditions said in their own clauses belong to the action.
			var details []string
			for cj, d := range clauses {
				if cj == ci || cj == home || usedClause[d[0]] {
					continue
				}
				if dt := strings.TrimSpace(clauseWithout(text, d, matches)); isDetail(dt) {
					details = append(details, dt)
					usedClause[d[0]] = true
				}
			}
			owner := who
			if isRequest(text[sStart:sEnd], rest) {
				owner = otherRole(who)
			}
			out = append(out, Promise{
				Action: wholeAction(action, details),
				Due:    m.Time,
				Who:    who,
				Owner:  owner,
				Expr:   m.Text,
				Span:   [2]int{m.Start, m.End},
				Exact:  m.Exact,
			})
			break
		}
	}
	return out
}

// committalTimes lists the future time expressions of text whose sentence
// can hold an obligation: the ones an LLM's promise may be due at.
func committalTimes(text string, at time.Time, loc *time.Location) []TimeMatch {
	var out []TimeMatch
	for _, m := range ParseTimeExpr(text, at, loc) {
		if m.Time.Before(at) {
			continue
		}
		s, e := sentenceBounds(text, m.Start, m.End)
		c := splitClauses(text, s, e)
		home := text[s:e]
		for _, cl := range c {
			if m.Start >= cl[0] && m.Start < cl[1] {
				home = text[cl[0]:cl[1]]
			}
		}
		rest := strings.Replace(home, m.Text, "", 1)
		if committalSentence(text, s, e) && !blocked(rest) && !isGreeting(cleanAction(rest)) {
			out = append(out, m)
		}
	}
	return out
}

// spanFor finds the time expression an LLM quoted among the committal ones:
// the one containing the quote or contained in it. With no quote, the
// message must have exactly one, so that the promise cannot rest on an
// invented time.
func spanFor(spans []TimeMatch, quote string) (TimeMatch, bool) {
	quote = strings.TrimSpace(quote)
	if quote == "" {
		if len(spans) == 1 {
			return spans[0], true
		}
		return TimeMatch{}, false
	}
	for _, m := range spans {
		if strings.Contains(m.Text, quote) || strings.Contains(quote, m.Text) {
			return m, true
		}
	}
	return TimeMatch{}, false
}

// committalSentence reports whether the sentence around a time expression
// can hold an obligation: not a question (unless it asks for something,
// "您看下周一能不能把合同寄过来"), which is how requests are put politely.
func committalSentence(text string, start, end int) bool {
	s := text[start:end]
	term := ""
	if end < len(text) {
		r, _ := utf8.DecodeRuneInString(text[end:])
		term = string(r)
	}
	question := term == "？" || term == "?" || strings.HasSuffix(strings.TrimSpace(s), "?") || strings.HasSuffix(strings.TrimSpace(s), "？")
	if !question {
		q := strings.NewReplacer("请问", "", "要么", "", "怎么样", "", "什么", "").Replace(s)
		for _, w := range questionWords {
			if strings.Contains(q, w) {
				question = true
				break
			}
		}
	}
	return !question || asksForAction(s)
}

// asksForAction reports whether a question is a request: it names what to
// hand over or do for the speaker.
func asksForAction(s string) bool {
	s = strings.ReplaceAll(s, "请问", "")
	for _, w := range []string{"把", "麻烦", "帮我", "帮忙", "给我", "发我", "寄我", "联系我", "通知我", "回复我", "告诉我", "您看", "你看", "能不能", "可不可以", "能否", "可否", "请"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func blocked(s string) bool {
	return hasRefusal(s) || containsAny(s, pastMarkers) || containsAny(s, hedges) || doneWith过(s)
}

// doneWith过 reports a verb marked done by 过 ("发过", "联系过你"), which is
// not the 过 of a direction ("寄过来") or of a look ("过目").
func doneWith过(s string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], "过")
		if j < 0 {
			return false
		}
		j += i
		before, after := s[:j], s[j+len("过"):]
		if before != "" && hasCommitment(lastRuneOf(before)) && !strings.HasPrefix(after, "来") && !strings.HasPrefix(after, "去") &&
			!strings.HasPrefix(after, "目") && !strings.HasPrefix(after, "一下") {
			return true
		}
		i = j + len("过")
	}
}

func lastRuneOf(s string) string {
	_, n := utf8.DecodeLastRuneInString(s)
	return s[len(s)-n:]
}

func isWeak(s string) bool {
	a := cleanAction(strings.NewReplacer("之前", "", "以前", "", "前", "").Replace(s))
	for _, w := range weakActions {
		if a == w {
			return true
		}
	}
	return strings.TrimSpace(a) == ""
}

func isGreeting(action string) bool {
	a := strings.TrimPrefix(strings.TrimPrefix(action, "祝您"), "祝你")
	a = strings.TrimPrefix(strings.TrimPrefix(a, "再"), "一起")
	for _, w := range greetingActions {
		if a == w || strings.HasSuffix(a, "愉快") || strings.HasSuffix(a, "快乐") {
			return true
		}
	}
	return false
}

// isDetail reports whether a clause qualifies the action: what it includes
// or how much ("含安装和三年质保", "要10台").
func isDetail(s string) bool {
	if utf8.RuneCountInString(s) < 2 {
		return false
	}
	for _, p := range []string{"含", "包含", "包括", "带", "附", "另外", "要求", "需含", "加上", "连同"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return strings.IndexFunc(s, unicode.IsDigit) >= 0 && hasQuantityUnit(s)
}

func hasQuantityUnit(s string) bool {
	return strings.ContainsAny(s, "台套件个份张箱寸米吨元块万")
}

// isRequest reports whether the action clause asks the other party to act
// rather than committing the speaker: nobody says 我 as the doer ("我明天
// 发您" commits; "明天发我" asks), and the sentence is put as a request or
// serves the speaker.
func isRequest(sentence, clause string) bool {
	for _, c := range []string{clause, sentence} {
		rest := c
		for _, o := range objectMe {
			rest = strings.ReplaceAll(rest, o, "")
		}
		if strings.Contains(rest, "我") || strings.Contains(rest, "咱") {
			return false
		}
	}
	s := strings.NewReplacer("请问", "", "申请", "", "邀请", "", "请假", "", "请客", "").Replace(sentence)
	if containsAny(s, requestCues) {
		return true
	}
	for _, o := range objectMe[:len(objectMe)-4] {
		if strings.Contains(s, o) {
			return true
		}
	}
	return false
}

func otherRole(role string) string {
	if role == RoleStaff {
		return RoleCustomer
	}
	return RoleStaff
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// wholeAction turns a cleaned clause into the obligation as a reader wants
// it: request wording dropped ("麻烦给我"), the quantities before the object
// moved into brackets with the details ("发一份10台75寸的正式报价单" →
// "发正式报价单（10台75寸，…）").
func wholeAction(a string, details []string) string {
	for changed := true; changed; {
		changed = false
		for _, p := range []string{"麻烦您", "麻烦你", "麻烦", "请您", "请你", "请", "帮我", "帮忙", "您看", "你看", "能不能", "可不可以", "能否", "记得", "务必", "给我"} {
			if strings.HasPrefix(a, p) && len(a) > len(p) {
				a = strings.TrimPrefix(a, p)
				changed = true
			}
		}
	}
	var mods []string
	if i := strings.Index(a, "的"); i > 0 {
		pre, post := a[:i], a[i+len("的"):]
		verb := ""
		for _, w := range commitmentWords {
			if strings.HasPrefix(pre, w) && len(w) > len(verb) {
				verb = w
			}
		}
		q := strings.TrimPrefix(pre, verb)
		for _, m := range []string{"一份", "一套", "一个", "一张", "一下", "份", "个", "套", "张"} {
			q = strings.TrimPrefix(q, m)
		}
		if verb != "" && post != "" && strings.IndexFunc(q, unicode.IsDigit) >= 0 {
			a, mods = verb+post, []string{q}
		}
	}
	for _, m := range []string{"一份", "一下"} {
		if r, ok := strings.CutPrefix(strings.TrimPrefix(a, firstRuneOf(a)), m); ok && r != "" {
			a = firstRuneOf(a) + r
		}
	}
	mods = append(mods, details...)
	if len(mods) > 0 {
		a += "（" + strings.Join(mods, "，") + "）"
	}
	return clip(a, 60)
}

func firstRuneOf(s string) string {
	_, n := utf8.DecodeRuneInString(s)
	return s[:n]
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
	// 不 or 没 before an action refuses it: 先不签, 不发了, 没来.
	for _, neg := range []string{"不", "没"} {
		for i := strings.Index(s, neg); i >= 0; {
			after := s[i+len(neg):]
			for _, w := range commitmentWords {
				if strings.HasPrefix(after, w) {
					return true
				}
			}
			j := strings.Index(after, neg)
			if j < 0 {
				break
			}
			i += len(neg) + j
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
