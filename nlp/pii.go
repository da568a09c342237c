package nlp

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// PII kinds, as they appear in placeholders (⟦PHONE_1⟧).
const (
	PIIPhone    = "PHONE"    // mainland mobile number
	PIILandline = "TEL"      // landline with area code
	PIIIDCard   = "IDCARD"   // resident ID number, whatever its check character
	PIIBankCard = "BANKCARD" // 16–19 digit card number, whatever its Luhn sum
	PIIEmail    = "EMAIL"
	PIIWeChat   = "WECHAT" // a WeChat id written after 微信/vx/wx/V
	PIIQQ       = "QQ"     // a QQ number written after QQ/扣扣
	PIINumber   = "NUM"    // any other run of seven or more digits
)

// Masker replaces personal data with placeholders such as ⟦PHONE_1⟧ and
// restores them. A value keeps its placeholder for the Masker's lifetime, so
// a conversation masked piece by piece stays consistent, and the same number
// written differently (138 1234 5678, +86-13812345678) gets one placeholder.
// A Masker is safe for concurrent use.
//
// Matching runs on the NFKC form of the text with Chinese numerals read as
// digits, so full-width digits (１３８…), a full-width ＠ and 一三八… are
// caught; placeholders replace the text as written, and Unmask gives that
// back. Beyond the recognised kinds, every run of seven or more digits, with
// any punctuation or spaces between them, is masked: a number that is not
// personal data costs nothing masked, because the answer is unmasked. The one
// exception is a calendar date written on its own (2026-11-24), which the
// models need to reason about time and which identifies nobody.
type Masker struct {
	mu      sync.Mutex
	byKey   map[string]string   // kind + normalised value → placeholder
	byPH    map[string][]string // placeholder → the value as written, once per occurrence
	counter map[string]int
}

// NewMasker returns an empty Masker.
func NewMasker() *Masker {
	return &Masker{byKey: map[string]string{}, byPH: map[string][]string{}, counter: map[string]int{}}
}

var (
	// Emails, on NFKC text (＠ is @ there); 。 also separates domain labels.
	emailRe = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:[.。][A-Za-z0-9-]+)*[.。][A-Za-z]{2,}`)
	// WeChat ids are 6–20 characters, starting with a letter; only masked
	// after a cue word, since a bare id is indistinguishable from a word. A
	// lone V is a cue after 加/加我/+ or before a colon ("V：abc123").
	wechatRe = regexp.MustCompile(`(?i)(?:(?:微信|威信|薇信|v信|vx|wx|weixin|wechat|加我?v|\+v)(?:号码?|id)?\s*(?:是|为)?\s*:?|(?:^|[^a-z0-9])v(?:号码?|id)?\s*:)\s*([a-z][-_a-z0-9]{5,19})`)
	// Cues after which a shorter digit run (from five digits) is an account:
	// QQ numbers start at five digits.
	qqCueRe     = regexp.MustCompile(`(?i)(?:qq|扣扣|企鹅)(?:号码?|id)?\s*(?:是|为)?\s*[:=]?\s*`)
	wechatCueRe = regexp.MustCompile(`(?i)(?:微信|威信|薇信|v信|vx|wx|weixin|wechat|加我?v|\+v)(?:号码?|id)?\s*(?:是|为)?\s*[:=]?\s*`)
	// A calendar date on its own, the only long digit run left in clear.
	dateRe = regexp.MustCompile(`^(?:19|20)[0-9]{2}([-/.])(?:1[0-2]|0?[1-9])([-/.])(?:3[01]|[12][0-9]|0?[1-9])`)
)

// piiSpan is one value to mask, in byte offsets of the normalised text.
type piiSpan struct {
	s, e      int
	kind, key string
}

// Mask returns text with personal data replaced by placeholders.
func (m *Masker) Mask(text string) string {
	if text == "" {
		return text
	}
	nt := normalizePII(text)
	spans := findPII(nt.s)
	if len(spans) == 0 {
		return text
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// Widen each span to whole normalisation segments, so it covers exactly
	// the characters as written; two spans meeting in one segment merge.
	type origSpan struct {
		s, e      int
		kind, key string
	}
	var out []origSpan
	for _, sp := range spans {
		os, oe := nt.origStart(sp.s), nt.origEnd(sp.e)
		if n := len(out); n > 0 && os < out[n-1].e {
			prev := &out[n-1]
			prev.e = max(prev.e, oe)
			prev.kind, prev.key = PIINumber, text[prev.s:prev.e]
			continue
		}
		out = append(out, origSpan{os, oe, sp.kind, sp.key})
	}
	var b strings.Builder
	last := 0
	for _, sp := range out {
		b.WriteString(text[last:sp.s])
		b.WriteString(m.placeholder(sp.kind, sp.key, text[sp.s:sp.e]))
		last = sp.e
	}
	b.WriteString(text[last:])
	return b.String()
}

// Unmask restores the values behind the placeholders in text. The n-th
// occurrence of a placeholder gets the n-th way its value was written (the
// first way once those run out), so Unmask(Mask(x)) is x even when a number
// is written twice in different ways.
func (m *Masker) Unmask(text string) string {
	return m.unmask(text, nil)
}

// UnmaskJSON is Unmask for JSON text whose placeholders stand inside
// strings: values are restored JSON-escaped, so a value holding a quote or
// a backslash (138"1234"5678 is masked as one number) keeps the JSON valid.
func (m *Masker) UnmaskJSON(text string) string {
	return m.unmask(text, func(v string) string {
		b, err := json.Marshal(v)
		if err != nil {
			return v
		}
		return string(b[1 : len(b)-1])
	})
}

func (m *Masker) unmask(text string, escape func(string) string) string {
	if !strings.Contains(text, "⟦") {
		return text
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]int{}
	return placeholderRe.ReplaceAllStringFunc(text, func(ph string) string {
		forms, ok := m.byPH[ph]
		if !ok {
			return ph
		}
		n := seen[ph]
		seen[ph]++
		v := forms[0]
		if n < len(forms) {
			v = forms[n]
		}
		if escape != nil {
			v = escape(v)
		}
		return v
	})
}

var placeholderRe = regexp.MustCompile(`⟦[A-Z]+_[0-9]+⟧`)

// Count reports how many distinct values the Masker has replaced.
func (m *Masker) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byPH)
}

func (m *Masker) placeholder(kind, key, original string) string {
	k := kind + "\x00" + key
	ph, ok := m.byKey[k]
	if !ok {
		m.counter[kind]++
		ph = fmt.Sprintf("⟦%s_%d⟧", kind, m.counter[kind])
		m.byKey[k] = ph
	}
	m.byPH[ph] = append(m.byPH[ph], original)
	return ph
}

// normText is NFKC text with the way back to the text as written.
type normText struct {
	s string
	// Segment i is s[nStart[i]:nStart[i+1]], written as orig[oStart[i]:oStart[i+1]].
	nStart, oStart []int
}

func normalizePII(text string) normText {
	var it norm.Iter
	it.InitString(norm.NFKC, text)
	var b strings.Builder
	var nt normText
	for !it.Done() {
		nt.nStart = append(nt.nStart, b.Len())
		nt.oStart = append(nt.oStart, it.Pos())
		b.Write(it.Next())
	}
	nt.nStart = append(nt.nStart, b.Len())
	nt.oStart = append(nt.oStart, len(text))
	nt.s = b.String()
	return nt
}

// segment returns the segment holding normalised byte p.
func (nt normText) segment(p int) int {
	return sort.Search(len(nt.nStart)-1, func(i int) bool { return nt.nStart[i+1] > p })
}

func (nt normText) origStart(p int) int { return nt.oStart[nt.segment(p)] }
func (nt normText) origEnd(p int) int   { return nt.oStart[nt.segment(p-1)+1] }

// findPII returns the spans to mask in normalised text, sorted and disjoint.
func findPII(s string) []piiSpan {
	var spans []piiSpan
	taken := func(a, b int) bool {
		for _, sp := range spans {
			if a < sp.e && sp.s < b {
				return true
			}
		}
		return false
	}
	for _, l := range emailRe.FindAllStringIndex(s, -1) {
		spans = append(spans, piiSpan{l[0], l[1], PIIEmail, strings.ToLower(strings.ReplaceAll(s[l[0]:l[1]], "。", "."))})
	}
	for _, l := range wechatRe.FindAllStringSubmatchIndex(s, -1) {
		a, b := l[2], l[3]
		if b < len(s) && (isASCIIAlnum(s[b]) || s[b] == '_' || s[b] == '-') {
			continue // longer than a WeChat id can be
		}
		if !taken(a, b) {
			spans = append(spans, piiSpan{a, b, PIIWeChat, strings.ToLower(s[a:b])})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].s < spans[j].s })
	cues := map[int]string{}
	for _, l := range qqCueRe.FindAllStringIndex(s, -1) {
		cues[l[1]] = PIIQQ
	}
	for _, l := range wechatCueRe.FindAllStringIndex(s, -1) {
		cues[l[1]] = PIIWeChat
	}
	var runs []piiSpan
	next := 0 // index of the first span not yet passed
	for i := 0; i < len(s); {
		for next < len(spans) && spans[next].e <= i {
			next++
		}
		if next < len(spans) && spans[next].s <= i {
			i = spans[next].e
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isPIIDigit(r) {
			i += size
			continue
		}
		if d := dateRe.FindStringSubmatch(s[i:]); d != nil && d[1] == d[2] {
			e := i + len(d[0])
			r2, _ := utf8.DecodeRuneInString(s[e:])
			if !isPIIDigit(r2) && !(strings.ContainsRune("-/.", r2) && e+1 < len(s) && isPIIDigit(firstRune(s[e+1:]))) {
				i = e // a date on its own; what follows starts afresh
				continue
			}
		}
		// The run: digits with separators between them, up to the next
		// character that is neither, or the next span.
		limit := len(s)
		if next < len(spans) {
			limit = spans[next].s
		}
		start, end, n := i, i, 0
		for j := i; j < limit; {
			r, size := utf8.DecodeRuneInString(s[j:])
			if isPIIDigit(r) {
				n++
				j += size
				end = j
				continue
			}
			if !isPIISeparator(r) {
				break
			}
			j += size
		}
		if n == 17 && end < limit && (s[end] == 'X' || s[end] == 'x') && (end+1 == len(s) || !isASCIIAlnum(s[end+1])) {
			end++ // the check character of an ID number
		}
		cue := cues[start]
		if n >= 7 || n >= 5 && cue != "" {
			if start > 0 && (s[start-1] == '+' || s[start-1] == '(' && strings.Contains(s[start:end], ")")) {
				start--
			}
			runs = append(runs, numberSpans(s, start, end, cue)...)
		}
		i = end
	}
	spans = append(spans, runs...)
	sort.Slice(spans, func(i, j int) bool { return spans[i].s < spans[j].s })
	return spans
}

func firstRune(s string) rune {
	r, _ := utf8.DecodeRuneInString(s)
	return r
}

// numberSpans classifies one digit run s[a:b] and returns the spans that
// mask it: the whole run as one value, or, for several numbers written in a
// row, one span per number, with the unrecognised rest masked as NUM when
// it holds seven digits or more.
func numberSpans(s string, a, b int, cue string) []piiSpan {
	written := s[a:b]
	if kind, key := classifyNumber(written); kind != "" {
		return []piiSpan{{a, b, kind, key}}
	}
	// A landline with an extension: 010-12345678-123.
	if i := strings.LastIndexByte(written, '-'); i > 0 {
		if ext := digitsOf(written[i+1:]); len(ext) >= 1 && len(ext) <= 4 {
			if kind, key := classifyNumber(written[:i]); kind == PIILandline {
				return []piiSpan{{a, b, kind, key}}
			}
		}
	}
	// Several numbers in a row ("13812345678 / 010-87654321"): try the parts
	// between spaces, slashes and commas on their own.
	var parts [][2]int
	p := a
	for j := a; j < b; {
		r, size := utf8.DecodeRuneInString(s[j:])
		if isPartBreak(r) {
			if p < j {
				parts = append(parts, [2]int{p, j})
			}
			p = j + size
		}
		j += size
	}
	if p < b {
		parts = append(parts, [2]int{p, b})
	}
	var out []piiSpan
	rest := [2]int{-1, -1} // unrecognised parts in a row
	flush := func() {
		if rest[0] < 0 {
			return
		}
		if d := digitsOf(s[rest[0]:rest[1]]); len(d) >= 7 || cue != "" && len(d) >= 5 {
			out = append(out, piiSpan{rest[0], rest[1], fallbackKind(cue), d})
		}
		rest = [2]int{-1, -1}
	}
	for _, pt := range parts {
		if d := digitsOf(s[pt[0]:pt[1]]); len(d) >= 7 {
			if kind, key := classifyNumber(s[pt[0]:pt[1]]); kind != "" {
				flush()
				out = append(out, piiSpan{pt[0], pt[1], kind, key})
				continue
			}
		}
		if rest[0] < 0 {
			rest[0] = pt[0]
		}
		rest[1] = pt[1]
	}
	flush()
	if len(out) == 0 {
		return []piiSpan{{a, b, fallbackKind(cue), digitsOf(written)}}
	}
	return out
}

func fallbackKind(cue string) string {
	if cue != "" {
		return cue
	}
	return PIINumber
}

// isPartBreak reports whether r separates two numbers written in a row.
func isPartBreak(r rune) bool {
	return unicode.IsSpace(r) || strings.ContainsRune("/,、;|", r)
}

// classifyNumber names the kind of one number as written (NFKC), and the
// key that identifies its value; "" when it is none of the known kinds.
func classifyNumber(written string) (kind, key string) {
	written = strings.TrimLeft(written, "(")
	d := digitsOf(written)
	switch {
	case isMobile(d):
		return PIIPhone, d[len(d)-11:]
	case isIDCard(d) || len(d) == 18 && isDigitsX(d) && plausibleBirth(d[6:14]) || len(d) == 15 && isAllDigits(d) && plausibleBirth("19"+d[6:12]):
		return PIIIDCard, strings.ToUpper(d)
	case isBankCard(d) && !strings.HasPrefix(written, "+"):
		return PIIBankCard, d
	case isLandline(written, d):
		return PIILandline, d
	case len(d) >= 16 && len(d) <= 19 && isAllDigits(d):
		return PIIBankCard, d
	}
	return "", ""
}

// chineseDigits are the numerals people spell numbers with, 幺 and 两
// included (幺三八 is how 138 is read out).
var chineseDigits = map[rune]byte{
	'〇': '0', '零': '0', '洞': '0',
	'一': '1', '壹': '1', '幺': '1', '么': '1',
	'二': '2', '贰': '2', '貳': '2', '两': '2', '兩': '2',
	'三': '3', '叁': '3', '參': '3',
	'四': '4', '肆': '4',
	'五': '5', '伍': '5',
	'六': '6', '陆': '6', '陸': '6',
	'七': '7', '柒': '7', '拐': '7',
	'八': '8', '捌': '8',
	'九': '9', '玖': '9', '勾': '9',
}

// isPIIDigit reports whether r is a digit of any script or a Chinese numeral.
func isPIIDigit(r rune) bool {
	if r >= '0' && r <= '9' {
		return true
	}
	_, ok := chineseDigits[r]
	return ok || unicode.IsDigit(r)
}

// isPIISeparator reports whether r may stand between the digits of one
// number: spaces, invisible format characters, and punctuation and symbols
// people put in numbers (138.1234.5678, 138—1234—5678, 138_1234_5678). The
// colon is not one, so times (10:30-11:30) stay apart; nor are @ (emails)
// and ⟦⟧ (placeholders).
func isPIISeparator(r rune) bool {
	switch r {
	case ':', '@', '⟦', '⟧', '%':
		return false
	case '+', '*', '=', '~', '|', '^', '`', '<', '>', '−':
		return true
	}
	return unicode.IsSpace(r) || unicode.In(r, unicode.P, unicode.Cf)
}

// digitsOf returns the digits of s as ASCII (Chinese numerals read as
// digits, other scripts' digits kept as they are) and an X check character.
func digitsOf(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9' || r == 'X' || r == 'x':
			b.WriteRune(r)
		case chineseDigits[r] != 0:
			b.WriteByte(chineseDigits[r])
		case unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isASCIIAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isDigitByte(c byte) bool { return c >= '0' && c <= '9' }

func isAllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigitByte(s[i]) {
			return false
		}
	}
	return s != ""
}

// isDigitsX reports whether s is ASCII digits with perhaps a final X.
func isDigitsX(s string) bool {
	return s != "" && isAllDigits(strings.TrimRight(s, "Xx")) && len(strings.TrimRight(s, "Xx")) >= len(s)-1
}

// plausibleBirth reports whether yyyymmdd is a date an ID number could hold.
func plausibleBirth(d string) bool {
	if len(d) != 8 || !isAllDigits(d) {
		return false
	}
	y, mo, day := atoiStr(d[:4]), atoiStr(d[4:6]), atoiStr(d[6:])
	return y >= 1900 && y <= 2100 && mo >= 1 && mo <= 12 && day >= 1 && day <= daysIn(y, mo)
}

// isMobile accepts 11-digit mainland mobiles (1[3-9]…), optionally after 86
// or 0086.
func isMobile(d string) bool {
	if !isAllDigits(d) {
		return false
	}
	switch {
	case len(d) == 13 && strings.HasPrefix(d, "86"):
		d = d[2:]
	case len(d) == 15 && strings.HasPrefix(d, "0086"):
		d = d[4:]
	}
	return len(d) == 11 && d[0] == '1' && d[1] >= '3' && d[1] <= '9'
}

// isLandline accepts area code + number: 010/02x + 8 digits, 0xxx + 7–8
// digits, written with a dash, a space, parentheses or nothing at all; an
// optional +86 is dropped first.
func isLandline(written, d string) bool {
	if !isAllDigits(d) {
		return false
	}
	if strings.HasPrefix(written, "+86") || strings.HasPrefix(written, "0086") {
		d = strings.TrimPrefix(strings.TrimPrefix(d, "00"), "86")
		if !strings.HasPrefix(d, "0") {
			d = "0" + d
		}
	}
	if len(d) < 10 || len(d) > 12 || d[0] != '0' || d[1] == '0' {
		return false
	}
	if d[1] == '1' || d[1] == '2' { // 3-digit area codes: 010, 020–029
		if d[1] == '1' && d[2] != '0' {
			return false
		}
		return len(d) == 11
	}
	return len(d) == 11 || len(d) == 12
}

var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const idCheck = "10X98765432"

// isIDCard accepts an 18-character resident ID number with a plausible
// birth date and a valid ISO 7064 check character.
func isIDCard(d string) bool {
	if len(d) != 18 || !isAllDigits(d[:17]) {
		return false
	}
	y := atoiStr(d[6:10])
	mo := atoiStr(d[10:12])
	day := atoiStr(d[12:14])
	if y < 1900 || y > 2100 || mo < 1 || mo > 12 || day < 1 || day > daysIn(y, mo) {
		return false
	}
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(d[i]-'0') * idWeights[i]
	}
	return strings.EqualFold(string(idCheck[sum%11]), d[17:])
}

// isBankCard accepts 16–19 digit card numbers of the common issuer ranges
// (UnionPay 62, Visa 4, Mastercard 5, JCB/Amex 3) that pass the Luhn check.
func isBankCard(d string) bool {
	if len(d) < 16 || len(d) > 19 || !isAllDigits(d) || d[0] < '3' || d[0] > '6' {
		return false
	}
	sum := 0
	for i := 0; i < len(d); i++ {
		n := int(d[len(d)-1-i] - '0')
		if i%2 == 1 {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
	}
	return sum%10 == 0
}

func atoiStr(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}
