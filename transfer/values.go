package transfer

import (
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"

	"github.com/scrmhq/scrm/store"
)

// narrow maps full-width letters, digits, punctuation and the ideographic
// space to their ASCII forms, leaving Chinese characters alone. Chinese
// spreadsheets mix both freely (１３８…, （必填）, ＶＩＰ).
func narrow(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return width.Narrow.String(s)
		}
	}
	return s
}

// narrowText narrows a name or company for storage, but keeps a leading
// full-width ＝ ＋ － ＠ as written: its ASCII form would make the text a
// formula in every spreadsheet it is exported to.
func narrowText(s string) string {
	if r, n := utf8.DecodeRuneInString(s); strings.ContainsRune("＝＋－＠", r) {
		return s[:n] + narrow(s[n:])
	}
	return narrow(s)
}

// clean trims a cell: surrounding whitespace (including the ideographic
// space and non-breaking spaces) and invisible characters Excel and web
// copies leave behind.
func clean(s string) string {
	if s == "" {
		return s
	}
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\u200b', '\u200c', '\u200d', '\ufeff', '\u2060':
			return -1
		case '\u00a0', '\u3000':
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// squash cleans a name and collapses runs of whitespace inside it.
func squash(s string) string { return strings.Join(strings.Fields(clean(s)), " ") }

// keyText normalises text for comparisons: half-width, lower case, without
// whitespace. "ＡＣＭＥ 公司" and "acme公司" compare equal.
func keyText(s string) string {
	s = strings.ToLower(narrow(clean(s)))
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

// phoneKind tells a mobile number from a landline.
type phoneKind int

const (
	phoneInvalid phoneKind = iota
	phoneMobile
	phoneLandline
)

// parsePhone classifies one phone number and normalises it: mainland mobiles
// become 11 digits (+86, 0086 and 86 prefixes, spaces, dashes, dots,
// parentheses and full-width digits removed); landlines (area code 0xx/0xxx,
// 400/800 numbers, bare 7–8 digit numbers, an optional extension) keep their
// digits with one dash after the area code.
func parsePhone(raw string) (string, phoneKind) {
	s := strings.ToLower(narrow(clean(raw)))
	if s == "" {
		return "", phoneInvalid
	}
	// An extension is kept apart so its digits don't confuse the length checks.
	ext := ""
	for _, sep := range []string{"转", "ext.", "ext", "x", "#"} {
		if i := strings.Index(s, sep); i > 0 {
			ext = onlyDigits(s[i+len(sep):])
			s = s[:i]
			break
		}
	}
	var b strings.Builder
	plus := false
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && b.Len() == 0 && !plus:
			plus = true
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", phoneInvalid
		}
	}
	d := b.String()
	if plus && !strings.HasPrefix(d, "86") {
		return "", phoneInvalid // foreign numbers are not mainland identities
	}
	switch {
	case strings.HasPrefix(d, "0086"):
		d = d[4:]
	case strings.HasPrefix(d, "86") && len(d) == 13:
		d = d[2:]
	case plus:
		d = d[2:]
	}
	if ext == "" && len(d) == 11 && d[0] == '1' && d[1] >= '3' && d[1] <= '9' {
		return d, phoneMobile
	}
	switch {
	case (strings.HasPrefix(d, "400") || strings.HasPrefix(d, "800")) && len(d) == 10:
		d = d[:3] + "-" + d[3:6] + "-" + d[6:]
	case strings.HasPrefix(d, "01") || strings.HasPrefix(d, "02"):
		// Beijing 010, Shanghai 021 … : three-digit area codes.
		if len(d) < 10 || len(d) > 11 {
			return "", phoneInvalid
		}
		d = d[:3] + "-" + d[3:]
	case strings.HasPrefix(d, "0"):
		if len(d) < 10 || len(d) > 12 {
			return "", phoneInvalid
		}
		d = d[:4] + "-" + d[4:]
	case len(d) == 7 || len(d) == 8:
	default:
		return "", phoneInvalid
	}
	if ext != "" {
		d += "转" + ext
	}
	return d, phoneLandline
}

func onlyDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// phoneSeparators split a cell holding several numbers ("138… / 010-…").
var phoneSeparators = func(r rune) bool {
	switch r {
	case '/', ',', ';', '、', '|', '\n', '，', '；', '／':
		return true
	}
	return false
}

// splitPhones parses a phone cell: the whole cell as one number first (so
// "138 0013 8000" stays one), else each piece between separators.
func splitPhones(raw string) (mobiles, landlines, bad []string) {
	if n, k := parsePhone(raw); k != phoneInvalid {
		if k == phoneMobile {
			return []string{n}, nil, nil
		}
		return nil, []string{n}, nil
	}
	for _, part := range strings.FieldsFunc(raw, phoneSeparators) {
		if clean(part) == "" {
			continue
		}
		switch n, k := parsePhone(part); k {
		case phoneMobile:
			mobiles = appendNew(mobiles, n)
		case phoneLandline:
			landlines = appendNew(landlines, n)
		default:
			bad = append(bad, clean(part))
		}
	}
	if len(mobiles)+len(landlines)+len(bad) == 0 {
		bad = []string{clean(raw)}
	}
	return mobiles, landlines, bad
}

func appendNew(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

// excelEpoch is day 0 of Excel's 1900 date system (it counts the
// non-existent 1900-02-29, which this epoch absorbs for all modern dates).
var excelEpoch = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)

// parseDate reads the date formats found in Chinese sheets and returns
// YYYY-MM-DD: 2026-01-02, 2026/1/2, 2026.1.2, 2026年1月2日, 20260102, a
// leading date with a time after it, and Excel serial numbers. When
// partialOK (birthdays), a month and day without a year ("3月15日",
// "03-15") is accepted as ISO 8601's "--03-15".
func parseDate(raw string, partialOK bool) (string, bool) {
	s := narrow(clean(raw))
	if s == "" {
		return "", false
	}
	// Excel serial numbers (cells read raw): whole days, perhaps with a time
	// fraction. 10000..80000 is 1927..2119, which leaves out bare years and
	// yyyymmdd.
	if f, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "-+eE") {
		if f >= 10000 && f < 80000 {
			d := excelEpoch.AddDate(0, 0, int(f))
			return d.Format(time.DateOnly), true
		}
	}
	// Drop a time part: "2026-01-02 15:04:05", "2026/1/2 9:30".
	if i := strings.IndexAny(s, " T"); i > 0 {
		s = s[:i]
	}
	if len(s) == 8 && onlyDigits(s) == s {
		s = s[:4] + "-" + s[4:6] + "-" + s[6:]
	}
	parts := strings.FieldsFunc(s, func(r rune) bool {
		return r == '-' || r == '/' || r == '.' || r == '年' || r == '月' || r == '日' || r == '号'
	})
	nums := make([]int, 0, 3)
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return "", false
		}
		nums = append(nums, n)
	}
	switch {
	case len(nums) == 3 && len(parts[0]) == 4:
		y, m, d := nums[0], nums[1], nums[2]
		if y < 1900 || y > 2200 || !validDay(y, m, d) {
			return "", false
		}
		return fmt.Sprintf("%04d-%02d-%02d", y, m, d), true
	case len(nums) == 2 && partialOK:
		m, d := nums[0], nums[1]
		if !validDay(2000, m, d) { // a leap year, so 02-29 passes
			return "", false
		}
		return fmt.Sprintf("--%02d-%02d", m, d), true
	}
	return "", false
}

func validDay(y, m, d int) bool {
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	return t.Day() == d && int(t.Month()) == m
}

// parseEmail accepts a bare address and returns it lower-cased.
func parseEmail(raw string) (string, bool) {
	s := narrow(clean(raw))
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s[strings.LastIndex(s, "@"):], ".") {
		return "", false
	}
	return strings.ToLower(s), true
}

// stageAliases are the words sheets use for scrm's stages, keyed by
// keyText.
var stageAliases = func() map[string]string {
	m := map[string]string{}
	for stage, words := range map[string][]string{
		store.StageLead:    {"新线索", "线索", "新客户", "潜在客户", "lead", "new"},
		store.StageActive:  {"跟进中", "跟进", "意向客户", "洽谈中", "active"},
		store.StageWon:     {"已成交", "成交", "已签约", "成交客户", "won"},
		store.StageDormant: {"沉睡", "休眠", "沉默", "dormant"},
		store.StageLost:    {"流失", "已流失", "lost"},
	} {
		for _, w := range words {
			m[w] = stage
		}
	}
	return m
}()

// parseStage maps a stage cell to one of scrm's stages.
func parseStage(raw string) (string, bool) {
	st, ok := stageAliases[keyText(raw)]
	return st, ok
}

// tagSeparators are the explicit separators of a tags cell.
func isTagSeparator(r rune) bool {
	switch r {
	case ',', '，', ';', '；', '、', '|', '｜', '\n':
		return true
	}
	return false
}

// splitTags splits a tags cell on ，,;、| and, when the cell has none of
// those, on whitespace — unless the whole cell is a tag already known
// (known may be nil), so a tag like "VIP 客户" survives an export and
// re-import.
func splitTags(raw string, known func(string) bool) []string {
	s := clean(raw)
	if s == "" {
		return nil
	}
	var parts []string
	if strings.IndexFunc(s, isTagSeparator) >= 0 {
		parts = strings.FieldsFunc(s, isTagSeparator)
	} else if known != nil && known(s) {
		parts = []string{s}
	} else {
		parts = strings.Fields(s)
	}
	var out []string
	for _, p := range parts {
		if p = clean(p); p != "" {
			out = appendNew(out, p)
		}
	}
	return out
}

// looksLikeUnionID reports whether s has the shape of a WeChat unionid
// (28 characters starting with "o"), as opposed to a 微信号 someone typed.
func looksLikeUnionID(s string) bool {
	if len(s) != 28 || s[0] != 'o' {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
