package nlp

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// PII kinds, as they appear in placeholders (⟦PHONE_1⟧).
const (
	PIIPhone    = "PHONE"    // mainland mobile number
	PIILandline = "TEL"      // landline with area code
	PIIIDCard   = "IDCARD"   // 18-character resident ID number
	PIIBankCard = "BANKCARD" // 16–19 digit card number passing the Luhn check
	PIIEmail    = "EMAIL"
	PIIWeChat   = "WECHAT" // a WeChat id written after 微信/vx/wx
)

// Masker replaces personal data with placeholders such as ⟦PHONE_1⟧ and
// restores them. A value keeps its placeholder for the Masker's lifetime, so
// a conversation masked piece by piece stays consistent, and the same number
// written differently (138 1234 5678, +86-13812345678) gets one placeholder.
// A Masker is safe for concurrent use.
type Masker struct {
	mu      sync.Mutex
	byKey   map[string]string // kind + normalised value → placeholder
	byPH    map[string]string // placeholder → value as first written
	counter map[string]int
}

// NewMasker returns an empty Masker.
func NewMasker() *Masker {
	return &Masker{byKey: map[string]string{}, byPH: map[string]string{}, counter: map[string]int{}}
}

var (
	emailRe = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)
	// WeChat ids are 6–20 characters, starting with a letter; only masked
	// after a cue word, since a bare id is indistinguishable from a word.
	wechatRe = regexp.MustCompile(`(?i)(?:微信|威信|薇信|v信|vx|wx|weixin|wechat)(?:号|id)?\s*(?:是|为|:|：)?\s*[:：]?\s*([a-z][-_a-z0-9]{5,19})`)
	// Digit runs with the separators people put in numbers.
	digitsRe = regexp.MustCompile(`(?:\+|00)?(?:[0-9][0-9 \-]*[0-9]|[0-9])[Xx]?|[(（]0[0-9]{2,3}[)）]\s?[0-9]{7,8}`)
)

// Mask returns text with personal data replaced by placeholders.
func (m *Masker) Mask(text string) string {
	if text == "" {
		return text
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	text = emailRe.ReplaceAllStringFunc(text, func(v string) string {
		return m.placeholder(PIIEmail, strings.ToLower(v), v)
	})
	text = replaceSubmatch(wechatRe, text, func(id string) string {
		if isAllDigits(id) {
			return id
		}
		return m.placeholder(PIIWeChat, strings.ToLower(id), id)
	})
	return replaceDigitRuns(text, func(run string) string { return m.maskNumber(run) })
}

// Unmask restores the values behind the placeholders in text.
func (m *Masker) Unmask(text string) string {
	if !strings.Contains(text, "⟦") {
		return text
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return placeholderRe.ReplaceAllStringFunc(text, func(ph string) string {
		if v, ok := m.byPH[ph]; ok {
			return v
		}
		return ph
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
	if ph, ok := m.byKey[k]; ok {
		return ph
	}
	m.counter[kind]++
	ph := fmt.Sprintf("⟦%s_%d⟧", kind, m.counter[kind])
	m.byKey[k] = ph
	m.byPH[ph] = original
	return ph
}

// maskNumber classifies one run of digits (with spaces, dashes, a leading +
// or 00, or a parenthesised area code) and masks it or the part of it that
// is personal data.
func (m *Masker) maskNumber(run string) string {
	trimmed := strings.TrimRight(run, " -")
	tail := run[len(trimmed):]
	digits := onlyDigitsX(trimmed)
	switch {
	case isIDCard(digits):
		return m.placeholder(PIIIDCard, strings.ToUpper(digits), trimmed) + tail
	case isMobile(digits):
		return m.placeholder(PIIPhone, digits[len(digits)-11:], trimmed) + tail
	case isBankCard(digits) && !strings.HasPrefix(trimmed, "+"):
		return m.placeholder(PIIBankCard, digits, trimmed) + tail
	case isLandline(trimmed, digits):
		return m.placeholder(PIILandline, digits, trimmed) + tail
	}
	// A landline with an extension: 010-12345678-123.
	if i := strings.LastIndexByte(trimmed, '-'); i > 0 && len(trimmed)-i-1 <= 4 {
		base := trimmed[:i]
		if d := onlyDigitsX(base); isLandline(base, d) {
			return m.placeholder(PIILandline, d, base) + trimmed[i:] + tail
		}
	}
	// Several numbers separated by spaces ("电话 13812345678 或 010-12345678"
	// arrive as separate runs, but "手机13812345678 2个" may not): try the
	// space-separated parts on their own.
	if strings.Contains(trimmed, " ") {
		parts := strings.Split(trimmed, " ")
		changed := false
		for i, p := range parts {
			if p == "" {
				continue
			}
			if q := m.maskNumber(p); q != p {
				parts[i] = q
				changed = true
			}
		}
		if changed {
			return strings.Join(parts, " ") + tail
		}
	}
	return run
}

// replaceDigitRuns calls fn on each digit run that is not part of a longer
// alphanumeric token (an order id like SO20261124 or a placeholder).
func replaceDigitRuns(text string, fn func(string) string) string {
	locs := digitsRe.FindAllStringIndex(text, -1)
	if locs == nil {
		return text
	}
	var b strings.Builder
	last := 0
	for _, l := range locs {
		s, e := l[0], l[1]
		if s > 0 && isASCIIAlnum(text[s-1]) || e < len(text) && (isASCIIAlnum(text[e]) || text[e] == '.' && e+1 < len(text) && isDigitByte(text[e+1])) {
			continue
		}
		if s > 0 && (text[s-1] == '_' || text[s-1] == '.' && s > 1 && isDigitByte(text[s-2])) {
			continue
		}
		b.WriteString(text[last:s])
		b.WriteString(fn(text[s:e]))
		last = e
	}
	b.WriteString(text[last:])
	return b.String()
}

func replaceSubmatch(re *regexp.Regexp, text string, fn func(string) string) string {
	idx := re.FindAllStringSubmatchIndex(text, -1)
	if idx == nil {
		return text
	}
	var b strings.Builder
	last := 0
	for _, l := range idx {
		s, e := l[2], l[3]
		if e < len(text) && (isASCIIAlnum(text[e]) || text[e] == '_' || text[e] == '-') {
			continue // longer than a WeChat id can be
		}
		b.WriteString(text[last:s])
		b.WriteString(fn(text[s:e]))
		last = e
	}
	b.WriteString(text[last:])
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

func onlyDigitsX(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' || r == 'X' || r == 'x' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isMobile accepts 11-digit mainland mobiles (1[3-9]…), optionally after 86
// or 0086.
func isMobile(d string) bool {
	if strings.ContainsAny(d, "Xx") {
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
	if strings.ContainsAny(d, "Xx") {
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
