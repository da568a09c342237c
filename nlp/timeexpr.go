package nlp

import (
	"strings"
	"sync"
	"time"
	"unicode"
)

// TimeMatch is one Chinese time expression found in a text.
type TimeMatch struct {
	// Start and End are byte offsets of the expression in the text.
	Start, End int
	// Text is the expression as written.
	Text string
	// Time is the moment it resolves to in the business time zone. When the
	// text names no clock time a default is filled in (see DefaultClock);
	// Exact reports whether the clock time came from the text (or from an
	// exact duration such as 半小时后).
	Time  time.Time
	Exact bool
}

// Default clock times for expressions that name a day but no time. A promise
// is a deadline, so a bare day means the end of the business day and a day
// part means the end of that part of the day.
const (
	DefaultHour = 18 // 明天发报价 → tomorrow 18:00
	// A bare "今天" said after 18:00 still means later today.
	lateTodayHour, lateTodayMinute = 23, 59
)

// dayParts maps day-part words to (hour, minute) of their default time and to
// how a bare clock hour in them is read: pm means 1–11 o'clock is afternoon
// or evening.
var dayParts = []struct {
	word     string
	hour     int
	minute   int
	pm       bool
	greeting bool // "下午好" is a greeting, not a time
}{
	{"凌晨", 6, 0, false, false},
	{"清晨", 9, 0, false, false},
	{"早上", 9, 0, false, true},
	{"早晨", 9, 0, false, true},
	{"一早", 9, 0, false, false},
	{"一大早", 9, 0, false, false},
	{"上午", 12, 0, false, true},
	{"中午", 13, 0, true, true},
	{"午后", 18, 0, true, false},
	{"下午", 18, 0, true, true},
	{"傍晚", 19, 0, true, false},
	{"晚上", 21, 0, true, true},
	{"晚间", 21, 0, true, false},
	{"夜里", 23, 0, true, false},
	{"深夜", 23, 59, true, false},
	{"半夜", 23, 59, true, false},
	{"下班前", 18, 0, true, false},
	{"下班之前", 18, 0, true, false},
	{"下班以前", 18, 0, true, false},
	{"上班后", 9, 30, false, false},
	{"早", 9, 0, false, false}, // only after a day (明早) or before a clock (早8点)
	{"晨", 9, 0, false, false}, // only after a day (明晨)
	{"晚", 21, 0, true, false}, // only after a day (今晚) or before a clock (晚8点)
}

// ParseTimeExpr finds the Chinese time expressions in text and resolves each
// against now in loc (nil means Asia/Shanghai). It understands relative days
// (今天, 明天, 后天, 大后天, 昨天), day parts (今晚, 明早, 明天上午, 下午,
// 晚上), weeks and weekdays with 周/星期/礼拜 (下周三, 这周五, 下下周一,
// 周末, 本周内), month and year positions (月底, 月初, 月中, 下个月初,
// 年底), dates (11月30日, 12月1号, 11.30, 2026-12-01), clock times (三点,
// 3点半, 15:00, 十点一刻, 下午三点前) and durations (三天后, 3天内, 两周后,
// 一个月后, 半小时后, 3个工作日内, 过两天, 过几天), with Arabic or Chinese
// numerals, composed as date + day part + clock + modifier.
//
// Conventions for vague phrases (documented because reminders depend on them):
// 过两天 = 2 days, 过几天/几天后 = 3 days, 下周/下个月 (bare) = the first day
// of that week/month, 本周(内)/这周 = Sunday of this week, 本月(内) = the last
// day of the month, 月初 = the 1st, 月中 = the 15th, 上/中/下旬 = the 5th/15th/
// 25th, 周末 = Saturday, 年底 = 31 Dec, 年初 = 1 Jan; a bare clock hour 1–6
// means the afternoon (三点 = 15:00), 7–11 the morning; with no date a bare
// clock means its next occurrence.
func ParseTimeExpr(text string, now time.Time, loc *time.Location) []TimeMatch {
	if loc == nil {
		loc = shanghai()
	}
	p := newTimeParser(text, now.In(loc), loc)
	var out []TimeMatch
	for i := 0; i < len(p.rs); {
		if m, end, ok := p.parseAt(i); ok {
			m.Start, m.End = p.off[i], p.off[end]
			m.Text = text[m.Start:m.End]
			out = append(out, m)
			i = end
			continue
		}
		i++
	}
	return out
}

var shanghai = sync.OnceValue(func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		// Without tzdata the fixed offset is exact: China has no DST.
		l = time.FixedZone("CST", 8*3600)
	}
	return l
})

// BusinessLocation resolves a time zone name such as SCRM_TIMEZONE, falling
// back to Asia/Shanghai when it is empty or unknown.
func BusinessLocation(name string) *time.Location {
	if name == "" {
		return shanghai()
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return shanghai()
	}
	return l
}

type timeParser struct {
	rs    []rune
	off   []int // byte offset of each rune, plus len(text)
	now   time.Time
	loc   *time.Location
	today civil
}

// civil is a calendar date; time.Date normalises out-of-range fields.
type civil struct{ y, m, d int }

func (c civil) addDays(n int) civil {
	t := time.Date(c.y, time.Month(c.m), c.d+n, 12, 0, 0, 0, time.UTC)
	return civil{t.Year(), int(t.Month()), t.Day()}
}

func (c civil) weekday() int { // Monday = 1 … Sunday = 7
	wd := int(time.Date(c.y, time.Month(c.m), c.d, 12, 0, 0, 0, time.UTC).Weekday())
	if wd == 0 {
		return 7
	}
	return wd
}

func (c civil) before(o civil) bool {
	return c.y < o.y || c.y == o.y && (c.m < o.m || c.m == o.m && c.d < o.d)
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 12, 0, 0, 0, time.UTC).Day()
}

func newTimeParser(text string, now time.Time, loc *time.Location) *timeParser {
	p := &timeParser{now: now, loc: loc, today: civil{now.Year(), int(now.Month()), now.Day()}}
	for i, r := range text {
		// Full-width digits and colons are common in chat input.
		switch {
		case r >= '０' && r <= '９':
			r = '0' + (r - '０')
		case r == '：':
			r = ':'
		case r == '／':
			r = '/'
		case r == '－' || r == '—':
			r = '-'
		case r == '．':
			r = '.'
		}
		p.rs = append(p.rs, r)
		p.off = append(p.off, i)
	}
	p.off = append(p.off, len(text))
	return p
}

// lit returns the length in runes of the longest word in words found at i.
func (p *timeParser) lit(i int, words ...string) (string, int) {
	best, bestN := "", 0
	for _, w := range words {
		n := 0
		ok := true
		for _, r := range w {
			if i+n >= len(p.rs) || p.rs[i+n] != r {
				ok = false
				break
			}
			n++
		}
		if ok && n > bestN {
			best, bestN = w, n
		}
	}
	return best, bestN
}

func (p *timeParser) at(i int) rune {
	if i < 0 || i >= len(p.rs) {
		return 0
	}
	return p.rs[i]
}

var cnDigits = map[rune]int{'零': 0, '〇': 0, '一': 1, '二': 2, '两': 2, '三': 3, '四': 4, '五': 5, '六': 6, '七': 7, '八': 8, '九': 9}

// number parses an Arabic or Chinese numeral (up to 9999) at i.
func (p *timeParser) number(i int) (val, n int, ok bool) {
	j := i
	for j < len(p.rs) && p.rs[j] >= '0' && p.rs[j] <= '9' && j-i < 4 {
		val = val*10 + int(p.rs[j]-'0')
		j++
	}
	if j > i {
		if j < len(p.rs) && p.rs[j] >= '0' && p.rs[j] <= '9' {
			return 0, 0, false // a longer number: an order id, not a time
		}
		return val, j - i, true
	}
	// Chinese: [d]十[d], [d]百..., or a run of digits (二〇二六).
	var total, cur int
	seen := false
	for j < len(p.rs) {
		r := p.rs[j]
		if d, isDigit := cnDigits[r]; isDigit {
			cur = cur*10 + d
			if cur > 9999 {
				return 0, 0, false
			}
		} else if r == '十' {
			if cur == 0 {
				cur = 1
			}
			total += cur * 10
			cur = 0
		} else if r == '百' {
			if cur == 0 {
				cur = 1
			}
			total += cur * 100
			cur = 0
		} else {
			break
		}
		if total > 9999 {
			return 0, 0, false
		}
		seen = true
		j++
	}
	if !seen {
		return 0, 0, false
	}
	return total + cur, j - i, true
}

// parsed collects the parts of one expression.
type parsed struct {
	date      civil
	hasDate   bool
	todayWord bool // 今天/今晚…: a bare 今天 after hours means later today
	exact     *time.Time
	dp        int // index into dayParts, -1 if none
	hour, min int
	hasClock  bool
}

// parseAt tries to read one time expression starting at rune i.
func (p *timeParser) parseAt(i int) (TimeMatch, int, bool) {
	if p.at(i-1) == '每' { // 每周三, 每月1号: a recurrence, not a time point
		return TimeMatch{}, 0, false
	}
	if isDigitRune(p.at(i)) && isDigitRune(p.at(i-1)) || p.at(i-1) == '第' {
		return TimeMatch{}, 0, false // inside a longer number, or an ordinal (第2点)
	}
	e := parsed{dp: -1}
	j := i
	if d, n, ok := p.duration(j); ok {
		j += n
		if d.exact != nil {
			e.exact = d.exact
			return p.finish(e, p.modifier(j))
		}
		e.date, e.hasDate = d.date, true
	} else if c, n, todayWord, ok := p.datePart(j); ok {
		j += n
		e.date, e.hasDate, e.todayWord = c, true, todayWord
	}
	// "下周三的下午"
	if e.hasDate && p.at(j) == '的' {
		if k, _ := p.dayPart(j+1, true); k >= 0 {
			j++
		}
	}
	// Parts may be typed with spaces between them: "明天 下午 3点".
	if j > i {
		if sp := p.spaces(j); sp > 0 {
			if k, _ := p.dayPart(j+sp, e.hasDate); k >= 0 {
				j += sp
			} else if _, _, _, ok := p.clock(j+sp, true); ok {
				j += sp
			}
		}
	}
	if k, n := p.dayPart(j, e.hasDate); k >= 0 {
		e.dp = k
		j += n
		if sp := p.spaces(j); sp > 0 {
			if _, _, _, ok := p.clock(j+sp, true); ok {
				j += sp
			}
		}
	}
	if h, m, n, ok := p.clock(j, e.dp >= 0 || e.hasDate); ok {
		e.hour, e.min, e.hasClock = h, m, true
		j += n
	}
	if !e.hasDate && e.dp < 0 && !e.hasClock {
		return TimeMatch{}, 0, false
	}
	if e.dp >= 0 && !e.hasDate && !e.hasClock && (dayParts[e.dp].word == "早" || dayParts[e.dp].word == "晚") {
		return TimeMatch{}, 0, false // 早/晚 alone: 早点, 晚了
	}
	return p.finish(e, p.modifier(j))
}

func (p *timeParser) spaces(j int) int {
	n := 0
	for p.at(j+n) == ' ' || p.at(j+n) == '\u3000' {
		n++
	}
	return n
}

// modifier skips 前/之前/以前/左右/后/内… after an expression.
func (p *timeParser) modifier(j int) int {
	_, n := p.lit(j, "之前", "以前", "前", "左右", "前后", "之后", "以后", "后", "之内", "以内", "内", "为止", "截止", "整")
	if n == 1 && p.at(j+1) == '天' {
		return j // 前天, 后天 are days, not modifiers
	}
	return j + n
}

func (p *timeParser) finish(e parsed, end int) (TimeMatch, int, bool) {
	if e.exact != nil {
		return TimeMatch{Time: *e.exact, Exact: true}, end, true
	}
	date := e.date
	if !e.hasDate {
		date = p.today
	}
	var h, m int
	exact := false
	switch {
	case e.hasClock:
		exact = true
		h, m = e.hour, e.min
		switch {
		case e.dp >= 0:
			dp := dayParts[e.dp]
			if dp.pm && h < 12 && !(dp.word == "中午" && h >= 11) {
				h += 12
			}
			if dp.pm && h == 12 && dp.word != "中午" && dp.word != "下午" {
				h = 24 // 今晚12点 is midnight at the end of the day
			}
			if (dp.word == "凌晨" || dp.word == "早上" || dp.word == "早晨" || dp.word == "早") && h == 12 {
				h = 0
			}
		case h >= 12 || h == 0:
			// unambiguous
		case !e.hasDate:
			// The next occurrence of h o'clock: h, h+12, then tomorrow.
			cand := time.Date(date.y, time.Month(date.m), date.d, h, m, 0, 0, p.loc)
			if !cand.After(p.now) {
				cand = cand.Add(12 * time.Hour)
			}
			if !cand.After(p.now) {
				date = date.addDays(1)
				if h <= 6 {
					h += 12
				}
			} else {
				date = civil{cand.Year(), int(cand.Month()), cand.Day()}
				h = cand.Hour()
			}
		case h <= 6:
			h += 12 // business hours: 三点 is 15:00
		}
	case e.dp >= 0:
		h, m = dayParts[e.dp].hour, dayParts[e.dp].minute
	default:
		h = DefaultHour
		if e.todayWord && date == p.today && p.now.Hour() >= DefaultHour {
			h, m = lateTodayHour, lateTodayMinute
		}
	}
	t := time.Date(date.y, time.Month(date.m), date.d, h, m, 0, 0, p.loc)
	return TimeMatch{Time: t, Exact: exact}, end, true
}

// dayPart reads a day-part word; 早/晚 alone need a date or a clock next.
func (p *timeParser) dayPart(j int, afterDate bool) (int, int) {
	best, bestN := -1, 0
	for k, dp := range dayParts {
		_, n := p.lit(j, dp.word)
		if n == 0 || n <= bestN {
			continue
		}
		if dp.greeting && p.at(j+n) == '好' {
			continue
		}
		if dp.word == "晨" && !afterDate {
			continue
		}
		if (dp.word == "早" || dp.word == "晚") && !afterDate {
			if _, _, _, ok := p.clock(j+1, true); !ok {
				continue
			}
		}
		if dp.word == "晚" && (p.at(j+1) == '了' || p.at(j+1) == '点') {
			continue
		}
		best, bestN = k, n
	}
	return best, bestN
}

// clock reads 三点, 3点半, 十点一刻, 15:00, 3点15(分), 15时. Without context
// (no date or day part before it) 一点 and N点 followed by a noun (三点建议)
// are not read as times.
func (p *timeParser) clock(j int, context bool) (h, m, n int, ok bool) {
	// HH:MM
	if isDigitRune(p.at(j)) {
		k := j
		for k < len(p.rs) && isDigitRune(p.rs[k]) {
			k++
		}
		if k-j <= 2 && p.at(k) == ':' && isDigitRune(p.at(k+1)) && isDigitRune(p.at(k+2)) && !isDigitRune(p.at(k+3)) {
			hh := atoi(p.rs[j:k])
			mm := atoi(p.rs[k+1 : k+3])
			if hh <= 24 && mm < 60 && p.at(k+3) != ':' {
				return hh, mm, k + 3 - j, true
			}
		}
	}
	v, vn, isNum := p.number(j)
	if !isNum || v > 24 {
		return 0, 0, 0, false
	}
	k := j + vn
	if p.at(k) == ' ' && isDigitRune(p.at(k-1)) {
		k++ // "3 点"
	}
	unit, un := p.lit(k, "点钟", "点", "时")
	if un == 0 {
		return 0, 0, 0, false
	}
	if unit == "时" && (p.at(k+1) == '候' || p.at(k+1) == '间') {
		return 0, 0, 0, false
	}
	k += un
	h = v
	mins := -1
	switch w, wn := p.lit(k, "半", "一刻", "三刻", "整"); w {
	case "半":
		mins, k = 30, k+wn
	case "一刻":
		mins, k = 15, k+wn
	case "三刻":
		mins, k = 45, k+wn
	case "整":
		mins, k = 0, k+wn
	default:
		kk := k
		if p.at(kk) == '过' {
			kk++
		}
		if mv, mn, ok := p.number(kk); ok && mv < 60 && unit != "点钟" {
			kk += mn
			if _, n2 := p.lit(kk, "分钟"); n2 > 0 {
				return 0, 0, 0, false // 3点10分钟: not a clock
			}
			if _, n2 := p.lit(kk, "分"); n2 > 0 {
				kk += n2
			}
			mins, k = mv, kk
		}
	}
	if mins < 0 {
		mins = 0
		if !context && unit != "点钟" {
			next := p.at(k)
			// 一点 means "a little" (便宜一点) unless a time word follows.
			if v == 1 && !strings.ContainsRune("前后左多钟整", next) && !(next == '之' || next == '以') {
				return 0, 0, 0, false
			}
			if isHan(next) && strings.ContainsRune(nounAfterPoints, next) {
				return 0, 0, 0, false
			}
		}
	}
	return h, mins, k - j, true
}

// nounAfterPoints are first characters of nouns that follow "N点" when it
// means "N points" (三点建议, 两点原因) rather than a time.
const nounAfterPoints = "建意原要问内理好优不看说需注事方做想经因疑顾困"

func isDigitRune(r rune) bool { return r >= '0' && r <= '9' }

func isHan(r rune) bool { return unicode.Is(unicode.Han, r) }

func atoi(rs []rune) int {
	v := 0
	for _, r := range rs {
		v = v*10 + int(r-'0')
	}
	return v
}

// datePart reads one date: a relative day, a week expression, a numeric
// date, or a year/month/day composition.
func (p *timeParser) datePart(j int) (c civil, n int, todayWord bool, ok bool) {
	if c, n, tw, ok := p.relDay(j); ok {
		return c, n, tw, true
	}
	if c, n, ok := p.week(j); ok {
		return c, n, false, true
	}
	if c, n, ok := p.numericDate(j); ok {
		return c, n, false, true
	}
	if c, n, ok := p.yearMonthDay(j); ok {
		return c, n, false, true
	}
	if c, n, ok := p.holiday(j); ok {
		return c, n, false, true
	}
	return civil{}, 0, false, false
}

func (p *timeParser) relDay(j int) (civil, int, bool, bool) {
	if w, n := p.lit(j, "这两天", "这几天", "这一两天", "近两天", "这俩天"); n > 0 {
		// "within the next couple of days": the end of the second or third.
		days := 2
		if w == "这几天" {
			days = 3
		}
		return p.today.addDays(days), n, false, true
	}
	w, n := p.lit(j, "今天", "今日", "今儿", "今儿个", "明天", "明日", "明儿", "明儿个", "后天", "大后天", "昨天", "昨日", "前天", "大前天", "当天", "今", "明", "昨", "次日", "翌日")
	if n == 0 {
		return civil{}, 0, false, false
	}
	if n == 1 {
		// 今/明/昨 alone only before a day part: 今晚, 明早, 明天 is longer.
		_, dn := p.lit(j+1, "晚", "早", "晨", "上午", "下午", "中午", "夜", "晚上", "早上", "一早", "凌晨", "傍晚")
		if dn == 0 {
			return civil{}, 0, false, false
		}
	}
	if w == "后天" && p.at(j-1) == '大' {
		return civil{}, 0, false, false
	}
	// 明年/今年 are years, handled by yearMonthDay.
	if p.at(j+n) == '年' {
		return civil{}, 0, false, false
	}
	off := map[string]int{"今天": 0, "今日": 0, "今儿": 0, "今儿个": 0, "当天": 0, "今": 0,
		"明天": 1, "明日": 1, "明儿": 1, "明儿个": 1, "明": 1, "次日": 1, "翌日": 1,
		"后天": 2, "大后天": 3, "昨天": -1, "昨日": -1, "昨": -1, "前天": -2, "大前天": -3}[w]
	return p.today.addDays(off), n, off == 0, true
}

// week reads 下周三, 这周五, 周末, 下下周一, 本周内, 下个星期, 礼拜天.
func (p *timeParser) week(j int) (civil, int, bool) {
	k := j
	offset := 0
	prefix, pn := p.lit(k, "下下个", "下下", "上上个", "上上", "下个", "下一个", "下一", "上个", "上一个", "上一", "这个", "这", "本", "下", "上", "今")
	if pn > 0 {
		switch {
		case strings.HasPrefix(prefix, "下下"):
			offset = 2
		case strings.HasPrefix(prefix, "上上"):
			offset = -2
		case strings.HasPrefix(prefix, "下"):
			offset = 1
		case strings.HasPrefix(prefix, "上"):
			offset = -1
		}
		k += pn
	}
	unit, un := p.lit(k, "周", "星期", "礼拜", "週")
	if un == 0 {
		return civil{}, 0, false
	}
	if prefix == "今" && unit != "周" {
		return civil{}, 0, false
	}
	k += un
	monday := p.today.addDays(1 - p.today.weekday() + 7*offset)
	wd := 0
	r := p.at(k)
	switch {
	case r == '末':
		if p.today.weekday() == 7 && pn == 0 {
			return p.today, k + 1 - j, true // on Sunday "周末" is today
		}
		return monday.addDays(5), k + 1 - j, true
	case r == '日' || r == '天':
		wd = 7
	case r >= '1' && r <= '7' && !isDigitRune(p.at(k+1)):
		wd = int(r - '0')
	default:
		if d, ok := cnDigits[r]; ok && d >= 1 && d <= 6 {
			wd = d
		}
	}
	if wd > 0 {
		if r == '二' && p.at(k+1) == '十' {
			return civil{}, 0, false
		}
		c := monday.addDays(wd - 1)
		if pn == 0 && c.before(p.today) {
			c = c.addDays(7) // a bare weekday is its next occurrence
		}
		return c, k + 1 - j, true
	}
	// A bare week needs a prefix: 下周 = next Monday, 本周/这周 = Sunday.
	if pn == 0 || unit == "周" && (r == '年' || r == '岁') {
		return civil{}, 0, false
	}
	if _, nn := p.lit(k, "内", "之内", "以内"); nn > 0 || offset == 0 {
		k += nn
		return monday.addDays(6), k - j, true
	}
	return monday, k - j, true
}

// numericDate reads 2026-12-01, 2026/12/1, 2026.12.1, 11.30, 11/30, 11-30.
func (p *timeParser) numericDate(j int) (civil, int, bool) {
	if !isDigitRune(p.at(j)) {
		return civil{}, 0, false
	}
	if pr := p.at(j - 1); pr == '.' || pr == '-' || pr == '/' || pr == ':' || strings.ContainsRune("¥￥$＄价钱", pr) || pr == 'v' || pr == 'V' {
		return civil{}, 0, false
	}
	var nums []int
	var seps []rune
	k := j
	for len(nums) < 3 {
		s := k
		for k < len(p.rs) && isDigitRune(p.rs[k]) && k-s < 4 {
			k++
		}
		if k == s || isDigitRune(p.at(k)) {
			return civil{}, 0, false
		}
		nums = append(nums, atoi(p.rs[s:k]))
		if len(nums) == 3 {
			break
		}
		sep := p.at(k)
		if sep != '-' && sep != '/' && sep != '.' || !isDigitRune(p.at(k+1)) {
			break
		}
		if len(seps) > 0 && sep != seps[0] {
			break
		}
		seps = append(seps, sep)
		k++
	}
	var y, m, d int
	switch {
	case len(nums) == 3 && nums[0] >= 1900 && k-j >= 8:
		y, m, d = nums[0], nums[1], nums[2]
	case len(nums) == 2 && nums[0] < 100 && nums[1] < 100:
		m, d = nums[0], nums[1]
		// A quantity (2.5元, 1.5倍, 3-5天) or a longer chain is not a date.
		next := p.at(k)
		if next == '.' || next == '-' || next == '/' || next == ':' || isDigitRune(next) {
			return civil{}, 0, false
		}
		if strings.ContainsRune(quantityUnits, unicode.ToLower(next)) || next == '的' {
			return civil{}, 0, false
		}
		if seps[0] == '.' && p.afterAmountWord(j) {
			return civil{}, 0, false // 价格是12.8, 版本2.3
		}
		y = p.inferYear(m, d)
	default:
		return civil{}, 0, false
	}
	if m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return civil{}, 0, false
	}
	if _, n := p.lit(k, "日", "号"); n > 0 {
		k += n
	}
	return civil{y, m, d}, k - j, true
}

// afterAmountWord reports whether one of the words that introduce amounts
// or versions stands just before rune j.
func (p *timeParser) afterAmountWord(j int) bool {
	from := max(0, j-5)
	before := string(p.rs[from:j])
	for _, w := range []string{"价", "钱", "费", "额", "版本", "评分", "分数", "率", "比例", "重", "长", "宽", "高", "数", "量", "共", "计", "约", "大概", "差不多"} {
		if strings.Contains(before, w) {
			return true
		}
	}
	return false
}

// quantityUnits follow numbers that are amounts, not dates.
const quantityUnits = "元块角分万千百亿倍折%％米厘斤公克kgml寸个台件套瓶箱吨升毫度次岁级版秒小年位人天星点周月条张份单包盒只支双把辆根颗粒页"

// inferYear picks the year of a month/day without one: this year unless the
// date lies more than 60 days back, in which case it is next year's.
func (p *timeParser) inferYear(m, d int) int {
	y := p.today.y
	if d > daysIn(y, m) {
		return y
	}
	t := time.Date(y, time.Month(m), d, 12, 0, 0, 0, time.UTC)
	today := time.Date(p.today.y, time.Month(p.today.m), p.today.d, 12, 0, 0, 0, time.UTC)
	if today.Sub(t) > 60*24*time.Hour {
		return y + 1
	}
	return y
}

// yearMonthDay reads [year] [month] [day or position] compositions such as
// 2026年12月1日, 明年3月, 下个月初, 月底, 12月中旬, 15号, 年底.
func (p *timeParser) yearMonthDay(j int) (civil, int, bool) {
	k := j
	y, hasYear := p.today.y, false
	if w, n := p.lit(k, "今年", "明年", "后年", "去年", "本年", "当年"); n > 0 {
		y += map[string]int{"今年": 0, "本年": 0, "当年": 0, "明年": 1, "后年": 2, "去年": -1}[w]
		hasYear = true
		k += n
	} else if v, n, ok := p.number(k); ok && v >= 1900 && v < 2200 && p.at(k+n) == '年' {
		y, hasYear = v, true
		k += n + 1
	}
	if hasYear {
		if w, n := p.lit(k, "底", "末", "年底", "年末", "初", "年初", "中", "年中", "内", "之内", "以内"); n > 0 && p.at(k+n) != '旬' {
			switch w {
			case "底", "末", "年底", "年末", "内", "之内", "以内":
				return civil{y, 12, 31}, k + n - j, true
			case "初", "年初":
				return civil{y, 1, 1}, k + n - j, true
			default:
				return civil{y, 6, 30}, k + n - j, true
			}
		}
	} else if w, n := p.lit(k, "年底", "年末", "年初", "年中", "年内"); n > 0 {
		switch w {
		case "年底", "年末", "年内":
			return civil{y, 12, 31}, n, true
		case "年初":
			if p.today.m > 2 {
				y++
			}
			return civil{y, 1, 1}, n, true
		default:
			if p.today.m > 6 {
				y++
			}
			return civil{y, 6, 30}, n, true
		}
	}

	m, hasMonth := p.today.m, false
	if w, n := p.lit(k, "下下个月", "下个月", "下月", "次月", "这个月", "本月", "这月", "当月", "上个月", "上月"); n > 0 && !hasYear {
		off := map[string]int{"下下个月": 2, "下个月": 1, "下月": 1, "次月": 1, "上个月": -1, "上月": -1}[w]
		t := time.Date(p.today.y, time.Month(p.today.m)+time.Month(off), 1, 12, 0, 0, 0, time.UTC)
		y, m, hasMonth = t.Year(), int(t.Month()), true
		k += n
		if off == 0 {
			// 本月, 本月内: within this month, so its last day.
			if _, n := p.lit(k, "内", "之内", "以内"); n > 0 || p.monthSuffixAt(k) == 0 {
				return civil{y, m, daysIn(y, m)}, k + n - j, true
			}
		}
	} else if v, n, ok := p.number(k); ok && v >= 1 && v <= 12 && p.at(k+n) == '月' {
		if p.at(k-1) == '个' {
			return civil{}, 0, false
		}
		m, hasMonth = v, true
		k += n + 1
		if p.at(k) == '份' {
			k++
		}
		if !hasYear {
			y = p.inferYear(m, 1)
			if y == p.today.y && m < p.today.m && p.today.m-m > 2 {
				y++
			}
		}
	} else if p.at(k) == '月' && !hasYear {
		// 月底, 月初, 月中 without a month: this month.
		if w, n := p.lit(k+1, "底", "末", "初", "中", "内"); n > 0 && p.at(k+1+n) != '旬' && !(w == "中" && p.at(k+2) == '午') {
			k++
			hasMonth = true
			switch w {
			case "初":
				if p.today.d > 10 {
					t := time.Date(y, time.Month(m)+1, 1, 12, 0, 0, 0, time.UTC)
					y, m = t.Year(), int(t.Month())
				}
			case "中":
				if p.today.d > 20 {
					t := time.Date(y, time.Month(m)+1, 1, 12, 0, 0, 0, time.UTC)
					y, m = t.Year(), int(t.Month())
				}
			}
		} else {
			return civil{}, 0, false
		}
	}
	if hasYear && !hasMonth {
		return civil{}, 0, false
	}
	// Day within the month.
	if w, n := p.lit(k, "底", "末", "初", "中", "上旬", "中旬", "下旬", "内", "之内", "以内", "份"); n > 0 && hasMonth {
		if w == "中" && (p.at(k+1) == '午' || p.at(k+1) == '旬') {
			n = 0
		}
		if n > 0 {
			k += n
			switch w {
			case "底", "末", "内", "之内", "以内":
				return civil{y, m, daysIn(y, m)}, k - j, true
			case "初", "份":
				return civil{y, m, 1}, k - j, true
			case "中", "中旬":
				return civil{y, m, 15}, k - j, true
			case "上旬":
				return civil{y, m, 5}, k - j, true
			case "下旬":
				return civil{y, m, 25}, k - j, true
			}
		}
	}
	if v, n, ok := p.number(k); ok && v >= 1 && v <= 31 {
		if unit, un := p.lit(k+n, "日", "号"); un > 0 {
			after := p.at(k + n + un)
			if unit == "号" && strings.ContainsRune(nounAfterHao, after) {
				return civil{}, 0, false
			}
			if !hasMonth {
				if strings.ContainsRune("第个大小加减型编序账单几", p.at(j-1)) {
					return civil{}, 0, false
				}
				// A bare day of month: this month, or next month once past.
				if v < p.today.d {
					t := time.Date(y, time.Month(m)+1, 1, 12, 0, 0, 0, time.UTC)
					y, m = t.Year(), int(t.Month())
				}
			}
			if v > daysIn(y, m) {
				return civil{}, 0, false
			}
			return civil{y, m, v}, k + n + un - j, true
		}
	}
	if hasMonth {
		return civil{y, m, 1}, k - j, true // 下个月, 3月: the first day
	}
	return civil{}, 0, false
}

func (p *timeParser) monthSuffixAt(k int) int {
	_, n := p.lit(k, "底", "末", "初", "中", "上旬", "中旬", "下旬", "日", "号")
	if n == 0 {
		if _, nn, ok := p.number(k); ok {
			return nn
		}
	}
	return n
}

// nounAfterHao follows "N号" when it names a thing (3号楼, 2号线, 5号床).
const nounAfterHao = "楼线门床房机窗店仓柜口位车厅馆桌码球馆台件箱包单字"

// durationResult is a resolved duration: an exact moment for hours and
// minutes, a date for days and longer.
type durationResult struct {
	exact *time.Time
	date  civil
}

// duration reads 三天后, 3天内, 两周后, 一个月后, 半小时后, 一个半小时后,
// 10分钟内, 3个工作日内, 过两天, 过几天, 再过一周.
func (p *timeParser) duration(j int) (durationResult, int, bool) {
	k := j
	guo := false
	// 过两天, 再过三天, 等我两个小时: the duration counts from now
	// without a 后 after it.
	if w, n := p.lit(k, "再过", "过", "等我", "等"); n > 0 && !(w == "等" && strings.ContainsRune("了待级到于", p.at(k+1))) {
		guo = true
		k += n
	}
	var v float64
	switch {
	case p.at(k) == '半':
		v = 0.5
		k++
	case p.at(k) == '几':
		v = 3 // 过几天, 几天后: a few days means three
		k++
	default:
		iv, n, ok := p.number(k)
		if !ok || iv == 0 || iv > 1000 {
			return durationResult{}, 0, false
		}
		v = float64(iv)
		k += n
	}
	if p.at(k) == '个' {
		k++
		if p.at(k) == '半' {
			v += 0.5
			k++
		}
	}
	unit, un := p.lit(k, "天", "日", "周", "星期", "礼拜", "月", "年", "小时", "钟头", "分钟", "刻钟", "工作日", "个工作日")
	if un == 0 {
		return durationResult{}, 0, false
	}
	k += un
	if p.at(k) == '半' && unit != "月" && unit != "年" {
		v += 0.5
		k++
	}
	suffix, sn := p.lit(k, "后", "之后", "以后", "过后", "内", "之内", "以内", "左右")
	if sn == 0 && !guo {
		return durationResult{}, 0, false
	}
	if sn > 0 && suffix == "左右" {
		if _, n2 := p.lit(k+sn, "后", "之后", "以后"); n2 > 0 {
			sn += n2
		}
	}
	k += sn
	var d durationResult
	switch unit {
	case "小时", "钟头":
		t := p.now.Add(time.Duration(v * float64(time.Hour))).Truncate(time.Minute)
		d.exact = &t
	case "分钟":
		t := p.now.Add(time.Duration(v * float64(time.Minute))).Truncate(time.Minute)
		d.exact = &t
	case "刻钟":
		t := p.now.Add(time.Duration(v * 15 * float64(time.Minute))).Truncate(time.Minute)
		d.exact = &t
	case "天", "日":
		if v != float64(int(v)) {
			t := p.now.Add(time.Duration(v * 24 * float64(time.Hour))).Truncate(time.Minute)
			d.exact = &t
			break
		}
		d.date = p.today.addDays(int(v))
	case "周", "星期", "礼拜":
		d.date = p.today.addDays(int(v * 7))
	case "工作日", "个工作日":
		c := p.today
		for left := int(v); left > 0; {
			c = c.addDays(1)
			if c.weekday() <= 5 {
				left--
			}
		}
		d.date = c
	case "月":
		months := int(v)
		t := time.Date(p.today.y, time.Month(p.today.m+months), 1, 12, 0, 0, 0, time.UTC)
		day := min(p.today.d, daysIn(t.Year(), int(t.Month())))
		d.date = civil{t.Year(), int(t.Month()), day}
		if v != float64(months) {
			d.date = d.date.addDays(15)
		}
	case "年":
		months := int(v * 12) // 半年 is six months
		t := time.Date(p.today.y, time.Month(p.today.m+months), 1, 12, 0, 0, 0, time.UTC)
		d.date = civil{t.Year(), int(t.Month()), min(p.today.d, daysIn(t.Year(), int(t.Month())))}
	}
	return d, k - j, true
}

// Lunar holidays by year (Spring Festival, Dragon Boat, Mid-Autumn); the
// Lantern Festival is 14 days after the Spring Festival. Extend the table
// as years pass; a holiday of a year missing here is not recognised.
var lunarHolidays = map[int][3]civil{
	2025: {{2025, 1, 29}, {2025, 5, 31}, {2025, 10, 6}},
	2026: {{2026, 2, 17}, {2026, 6, 19}, {2026, 9, 25}},
	2027: {{2027, 2, 6}, {2027, 6, 9}, {2027, 9, 15}},
	2028: {{2028, 1, 26}, {2028, 5, 28}, {2028, 10, 3}},
	2029: {{2029, 2, 13}, {2029, 6, 16}, {2029, 9, 22}},
	2030: {{2030, 2, 3}, {2030, 6, 5}, {2030, 9, 12}},
	2031: {{2031, 1, 23}, {2031, 6, 24}, {2031, 10, 1}},
}

type holidayDef struct {
	month, day int // fixed date, or 0 for lunar
	lunar      int // index into lunarHolidays, or -1
	offset     int // days after the lunar date (元宵)
	breakDays  int // length of the public holiday
}

var holidays = map[string]holidayDef{
	"元旦": {1, 1, -1, 0, 1}, "情人节": {2, 14, -1, 0, 1}, "劳动节": {5, 1, -1, 0, 5}, "五一": {5, 1, -1, 0, 5},
	"国庆": {10, 1, -1, 0, 7}, "国庆节": {10, 1, -1, 0, 7}, "十一": {10, 1, -1, 0, 7}, "双十一": {11, 11, -1, 0, 1},
	"双11": {11, 11, -1, 0, 1}, "双十二": {12, 12, -1, 0, 1}, "双12": {12, 12, -1, 0, 1}, "圣诞": {12, 25, -1, 0, 1},
	"圣诞节": {12, 25, -1, 0, 1}, "春节": {0, 0, 0, 0, 8}, "过年": {0, 0, 0, 0, 8}, "元宵": {0, 0, 0, 14, 1},
	"元宵节": {0, 0, 0, 14, 1}, "端午": {0, 0, 1, 0, 3}, "端午节": {0, 0, 1, 0, 3}, "中秋": {0, 0, 2, 0, 3},
	"中秋节": {0, 0, 2, 0, 3}, "年": {0, 0, 0, 0, 8},
}

var holidayWords, holidayFirstRunes = func() ([]string, map[rune]bool) {
	var words []string
	first := map[rune]bool{}
	for w := range holidays {
		words = append(words, w)
		first[[]rune(w)[0]] = true
	}
	return words, first
}()

// holiday reads a named holiday, with 前 meaning the day before it and 后
// the first day after its break: 春节前, 国庆后, 元旦, 中秋节之前, 年前, 年后
// (年 alone is the Spring Festival, as in business talk).
func (p *timeParser) holiday(j int) (civil, int, bool) {
	if !holidayFirstRunes[p.at(j)] {
		return civil{}, 0, false
	}
	w, n := p.lit(j, holidayWords...)
	if n == 0 {
		return civil{}, 0, false
	}
	mod, mn := p.lit(j+n, "前", "之前", "以前", "后", "之后", "以后", "前后", "左右")
	if w == "年" || w == "十一" {
		// 年 only as 年前/年后 and not after a number (两年前); 十一 only
		// with a modifier and not as a number (十一点, 十一号).
		if mn == 0 || strings.ContainsRune("0123456789一二两三四五六七八九十百几半个去今明后前这上下每", p.at(j-1)) {
			return civil{}, 0, false
		}
	}
	if p.at(j+n) == '点' || p.at(j+n) == '号' || p.at(j+n) == '月' {
		return civil{}, 0, false
	}
	h := holidays[w]
	var date civil
	for y := p.today.y; y <= p.today.y+1; y++ {
		var c civil
		if h.lunar < 0 {
			c = civil{y, h.month, h.day}
		} else {
			dates, ok := lunarHolidays[y]
			if !ok {
				return civil{}, 0, false
			}
			c = dates[h.lunar].addDays(h.offset)
		}
		// The next occurrence, counting a break still under way.
		if !c.addDays(h.breakDays).before(p.today) {
			date = c
			break
		}
	}
	if date == (civil{}) {
		return civil{}, 0, false
	}
	switch mod {
	case "前", "之前", "以前":
		date = date.addDays(-1) // 春节前: 除夕 at the latest
	case "后", "之后", "以后":
		date = date.addDays(h.breakDays)
	}
	return date, n + mn, true
}
