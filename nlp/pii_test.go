package nlp

import (
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestMaskPositive(t *testing.T) {
	cases := []struct {
		name, in, value, kind string
	}{
		{"mobile", "我的手机13812345678，谢谢", "13812345678", PIIPhone},
		{"mobile spaces", "电话 138 1234 5678 找我", "138 1234 5678", PIIPhone},
		{"mobile dashes", "手机：138-1234-5678", "138-1234-5678", PIIPhone},
		{"mobile +86", "call +86 138 1234 5678 pls", "+86 138 1234 5678", PIIPhone},
		{"mobile +86 dash", "+86-13912345678", "+86-13912345678", PIIPhone},
		{"mobile 0086", "0086 15012345678", "0086 15012345678", PIIPhone},
		{"mobile 19x", "号码19912345678", "19912345678", PIIPhone},
		{"mobile english context", "phone:13812345678.", "13812345678", PIIPhone},
		{"landline beijing", "座机010-12345678", "010-12345678", PIILandline},
		{"landline shenzhen 7", "0755-1234567转人工", "0755-1234567", PIILandline},
		{"landline parens", "电话(021)61234567", "(021)61234567", PIILandline},
		{"landline fullwidth parens", "电话（0571）88881234", "（0571）88881234", PIILandline},
		{"landline no dash", "打02161234567", "02161234567", PIILandline},
		{"landline space", "0755 12345678", "0755 12345678", PIILandline},
		{"landline extension", "总机010-12345678-8021", "010-12345678", PIILandline},
		{"id card X", "身份证11010519491231002X", "11010519491231002X", PIIIDCard},
		{"id card x lower", "身份证号 44030419900307123x 谢谢", "44030419900307123x", PIIIDCard},
		{"id card digits", "证件号320102198511154212", "320102198511154212", PIIIDCard},
		{"bank unionpay 19", "卡号6222021234567890128", "6222021234567890128", PIIBankCard},
		{"bank spaced", "转到 6222 0212 3456 7890 128 这张卡", "6222 0212 3456 7890 128", PIIBankCard},
		{"bank visa 16", "card 4111111111111111", "4111111111111111", PIIBankCard},
		{"bank dashed", "6217-0000-0000-0000-004", "6217-0000-0000-0000-004", PIIBankCard},
		{"email", "邮箱是zhang.san@example.com，发这里", "zhang.san@example.com", PIIEmail},
		{"email plus", "Mail: Li_Si+crm@mail.co.cn", "Li_Si+crm@mail.co.cn", PIIEmail},
		{"wechat space", "加我微信 abc_123 吧", "abc_123", PIIWeChat},
		{"wechat vx colon", "vx: zhangsan88", "zhangsan88", PIIWeChat},
		{"wechat VX fullwidth colon", "VX：Wang-Wu_2024", "Wang-Wu_2024", PIIWeChat},
		{"wechat wx hao", "wx号wxid_k2j3h4", "wxid_k2j3h4", PIIWeChat},
		{"wechat weixinhao shi", "我的微信号是 liuliu666", "liuliu666", PIIWeChat},
		{"wechat number is phone", "微信：13812345678", "13812345678", PIIPhone},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := NewMasker()
			got := m.Mask(c.in)
			if strings.Contains(got, c.value) {
				t.Fatalf("Mask(%q) = %q still holds %q", c.in, got, c.value)
			}
			want := "⟦" + c.kind + "_1⟧"
			if !strings.Contains(got, want) {
				t.Fatalf("Mask(%q) = %q, want placeholder %s", c.in, got, want)
			}
			if back := m.Unmask(got); back != c.in {
				t.Errorf("Unmask(Mask(x)) = %q, want %q", back, c.in)
			}
		})
	}
}

// TestMaskNegative lists text that holds no run of seven digits, or only a
// calendar date, and so is sent as written.
func TestMaskNegative(t *testing.T) {
	cases := []string{
		"价格13800元",
		"合计¥1,380.00",
		"日期2026-11-24",
		"2026-11-24 15:00 到货",
		"2026/11/24 前发货",
		"2026.1.5 签约",
		"消息发送时间：2026-11-24T10:00:00+08:00（星期二）",
		"[2026-11-24 15:04] 客户：你好",
		"10:30-11:30 开会",
		"微信 abc", // too short for a WeChat id
		"微信支付 100 元",
		"型号 X13-2026",
		"重量 0.75kg",
		"工号 007",
		"预计 3-5 天到",
		"QQ群 123", // too short for a QQ number
		"一两句话，三四个要点",
		"订单号 123456 已发货", // six digits
	}
	for _, in := range cases {
		t.Run(in, func(t *testing.T) {
			m := NewMasker()
			if got := m.Mask(in); got != in {
				t.Errorf("Mask(%q) = %q, want unchanged", in, got)
			}
		})
	}
}

// TestMaskLongDigitRuns: every run of seven or more digits is masked, also
// when it fails a checksum or is no personal data at all (an order number):
// the answer is unmasked, so over-masking costs nothing, while a number let
// through because it looked harmless may be a phone number written oddly.
func TestMaskLongDigitRuns(t *testing.T) {
	cases := []struct{ in, value, kind string }{
		{"订单号 2026112412345678 已发货", "2026112412345678", PIIBankCard},
		{"订单SO20261124000123", "20261124000123", PIINumber},
		{"单号：JD0012345678901", "0012345678901", PIINumber},
		{"报价 13812.50 元", "13812.50", PIINumber},
		{"20261124", "20261124", PIINumber},
		{"版本 1.38.12345678", "1.38.12345678", PIIPhone},
		{"数量12345678个", "12345678", PIINumber},
		{"快递单号 773012345678901", "773012345678901", PIINumber},
		{"身份证号11010519491231002", "11010519491231002", PIIBankCard},
		{"身份证11010519491231003X", "11010519491231003X", PIIIDCard},    // bad check character
		{"身份证 440304199003071235", "440304199003071235", PIIIDCard},   // bad check digit
		{"卡号6222021234567890121", "6222021234567890121", PIIBankCard}, // fails Luhn
		{"卡号 6222 0212 3456 7890 121", "6222 0212 3456 7890 121", PIIBankCard},
		{"编号 12345678901", "12345678901", PIINumber},
		{"电话 12812345678", "12812345678", PIINumber},
		{"第123456789012345678999号", "123456789012345678999", PIINumber},
		{"2026-11-24-12345", "2026-11-24-12345", PIINumber}, // not a date on its own
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			m := NewMasker()
			got := m.Mask(c.in)
			if strings.Contains(got, c.value) {
				t.Fatalf("Mask(%q) = %q still holds %q", c.in, got, c.value)
			}
			if want := "⟦" + c.kind + "_1⟧"; !strings.Contains(got, want) {
				t.Errorf("Mask(%q) = %q, want placeholder %s", c.in, got, want)
			}
			if back := m.Unmask(got); back != c.in {
				t.Errorf("Unmask(Mask(x)) = %q, want %q", back, c.in)
			}
		})
	}
}

// obfuscatedPII is personal data written to slip past a plain pattern.
var obfuscatedPII = []struct{ name, in, value, kind string }{
	{"full-width mobile", "手机１３８１２３４５６７８", "13812345678", PIIPhone},
	{"dotted mobile", "打138.1234.5678找我", "13812345678", PIIPhone},
	{"spaced mobile", "电话 139 8765 4321", "13987654321", PIIPhone},
	{"dashed mobile", "号码是158-0000-1111哦", "15800001111", PIIPhone},
	{"underscored mobile", "手机1 5 9_1234_5678", "15912345678", PIIPhone},
	{"slashed mobile", "186/1234/5678", "18612345678", PIIPhone},
	{"ideographic stops", "177。1234。5678", "17712345678", PIIPhone},
	{"middle dots", "135·2468·1357", "13524681357", PIIPhone},
	{"em dashes", "136—1357—2468", "13613572468", PIIPhone},
	{"quoted digits", `手机138"1234"5678`, "13812345678", PIIPhone},
	{"backslashes", `138\\1234\\5678`, "13812345678", PIIPhone},
	{"zero-width spaces", "137\u200b1234\u200b5678", "13712345678", PIIPhone},
	{"full-width junk", "１３８－１２３４－５６７８", "13812345678", PIIPhone},
	{"chinese digits", "手机一三八一二三四五六七八", "13812345678", PIIPhone},
	{"yao for one", "打幺三八幺二三四五六七八", "13812345678", PIIPhone},
	{"chinese digits spaced", "一三九 八七六五 四三二一", "13987654321", PIIPhone},
	{"mixed scripts", "138一二三四5678", "13812345678", PIIPhone},
	{"capital numerals", "壹叁捌壹贰叁肆伍陆柒捌", "13812345678", PIIPhone},
	{"landline dash", "座机010-12345678", "01012345678", PIILandline},
	{"landline spaces", "0755 8888 6666", "075588886666", PIILandline},
	{"landline parens full-width", "（0571）8888-1234", "057188881234", PIILandline},
	{"id bad checksum", "身份证110105194912310021", "110105194912310021", PIIIDCard},
	{"id full-width", "身份证１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X", PIIIDCard},
	{"id spaced", "110105 1949 1231 002X", "11010519491231002X", PIIIDCard},
	{"card fails luhn", "卡号6222 0212 3456 7890 123", "6222021234567890123", PIIBankCard},
	{"card dotted", "4111.1111.1111.1112", "4111111111111112", PIIBankCard},
	{"email full-width at", "邮箱zhang.san＠example.com", "zhang.san@example.com", PIIEmail},
	{"email full-width all", "ｌｉｓｉ＠ｑｑ．ｃｏｍ", "lisi@qq.com", PIIEmail},
	{"qq number", "加我QQ 12345", "12345", PIIQQ},
	{"qq colon", "QQ：8765432", "8765432", PIIQQ},
	{"koukou", "扣扣 98765", "98765", PIIQQ},
	{"qq hao", "我的qq号是123456", "123456", PIIQQ},
	{"qq full-width", "ＱＱ：５６７８９", "56789", PIIQQ},
	{"wechat V colon", "V：zhang_san88", "zhang_san88", PIIWeChat},
	{"wechat jiawo V", "加我V wangwu2024", "wangwu2024", PIIWeChat},
	{"wechat jia V", "加v:lisi_666", "lisi_666", PIIWeChat},
	{"wechat weixin", "微信 abc_12345", "abc_12345", PIIWeChat},
	{"wechat vx", "vx zhaoliu99", "zhaoliu99", PIIWeChat},
	{"wechat wx full-width", "ｗｘ：ｓｕｎｑｉ７７", "sunqi77", PIIWeChat},
	{"wechat digits", "微信 654321", "654321", PIIWeChat},
}

// TestMaskObfuscated covers personal data written to slip past a plain
// pattern: full-width or Chinese digits, junk between the digits, a
// full-width ＠, account ids after their cue words. Nothing of the value may
// remain, neither as written nor as its digits.
func TestMaskObfuscated(t *testing.T) {
	for _, c := range obfuscatedPII {
		t.Run(c.name, func(t *testing.T) {
			m := NewMasker()
			got := m.Mask(c.in)
			if leak := leakedValue(got, c.value); leak {
				t.Fatalf("Mask(%q) = %q still holds %q", c.in, got, c.value)
			}
			if want := "⟦" + c.kind + "_1⟧"; !strings.Contains(got, want) {
				t.Errorf("Mask(%q) = %q, want placeholder %s", c.in, got, want)
			}
			if back := m.Unmask(got); back != c.in {
				t.Errorf("Unmask(Mask(x)) = %q, want %q", back, c.in)
			}
		})
	}
}

// squash returns text as a reader of digits sees it: NFKC, Chinese numerals
// as digits, lower case, and nothing but letters and digits, so that a value
// is found however it was spaced or punctuated.
func squash(text string) string {
	var b strings.Builder
	for _, r := range norm.NFKC.String(text) {
		if d, ok := chineseDigits[r]; ok {
			b.WriteByte(d)
			continue
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// leakedValue reports whether text still holds value, as written or squashed.
func leakedValue(text, value string) bool {
	text = placeholderRe.ReplaceAllString(text, "⟦⟧") // their counters are no leak
	return strings.Contains(strings.ToLower(norm.NFKC.String(text)), strings.ToLower(value)) ||
		strings.Contains(squash(text), squash(value))
}

func TestMaskStablePlaceholders(t *testing.T) {
	m := NewMasker()
	a := m.Mask("手机13812345678，备用 139-1234-5678")
	b := m.Mask("还是打 138 1234 5678 吧，邮箱 a.b@c.com")
	if a != "手机⟦PHONE_1⟧，备用 ⟦PHONE_2⟧" {
		t.Errorf("first = %q", a)
	}
	if b != "还是打 ⟦PHONE_1⟧ 吧，邮箱 ⟦EMAIL_1⟧" {
		t.Errorf("second = %q", b)
	}
	if m.Count() != 3 {
		t.Errorf("count = %d", m.Count())
	}
	if got := m.Unmask("请联系⟦PHONE_2⟧或⟦EMAIL_1⟧，⟦PHONE_9⟧未知"); got != "请联系139-1234-5678或a.b@c.com，⟦PHONE_9⟧未知" {
		t.Errorf("unmask = %q", got)
	}
}

func TestMaskSeveral(t *testing.T) {
	in := "张先生 13812345678 / 010-87654321，身份证 11010519491231002X，卡 6222021234567890128，微信 zhang_san9，邮箱 z@s.cn"
	m := NewMasker()
	got := m.Mask(in)
	for _, v := range []string{"13812345678", "87654321", "11010519491231002X", "6222021234567890128", "zhang_san9", "z@s.cn"} {
		if strings.Contains(got, v) {
			t.Errorf("%q not masked in %q", v, got)
		}
	}
	if m.Unmask(got) != in {
		t.Errorf("round trip failed: %q", m.Unmask(got))
	}
}

func FuzzMask(f *testing.F) {
	for _, s := range []string{"13812345678", "+86 138 1234 5678", "11010519491231002X", "a@b.cn", "vx: abc_123", "(010)12345678",
		"１３８．１２３４．５６７８", "一三八一二三四五六七八", "QQ 12345", "V：abc_123", "2026-11-24 15:00", "13812345678 或 138-1234-5678",
		"010-12345678-8021", "a＠b．cn", "1\u200b2\u200b3\u200b4\u200b5\u200b6\u200b7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(s, "⟦") {
			return
		}
		m := NewMasker()
		masked := m.Mask(s)
		if got := m.Unmask(masked); got != s {
			t.Fatalf("round trip %q → %q → %q", s, masked, got)
		}
		if n, run := longestDigitRun(masked); n >= 7 {
			t.Fatalf("Mask(%q) = %q leaves a run of %d digits: %q", s, masked, n, run)
		}
	})
}

// longestDigitRun returns the longest run of digits in text after NFKC,
// with separators (isPIISeparator) between them, placeholders and calendar
// dates on their own (2026-11-24) not counted.
func longestDigitRun(text string) (int, string) {
	text = norm.NFKC.String(placeholderRe.ReplaceAllString(text, "⟦⟧"))
	best, bestRun := 0, ""
	rs := []rune(text)
	for i := 0; i < len(rs); {
		if !isPIIDigit(rs[i]) {
			i++
			continue
		}
		if n := calendarDateLen(rs, i); n > 0 {
			i += n
			continue
		}
		n, j, end := 0, i, i
		for ; j < len(rs); j++ {
			if isPIIDigit(rs[j]) {
				n++
				end = j + 1
			} else if !isPIISeparator(rs[j]) {
				break
			}
		}
		if n > best {
			best, bestRun = n, string(rs[i:end])
		}
		i = end
	}
	return best, bestRun
}

// calendarDateLen returns the length of a date like 2026-11-24 (or with /
// or .) standing alone at rs[i:], 0 if there is none.
func calendarDateLen(rs []rune, i int) int {
	s := string(rs[i:])
	if len(s) < 8 || !(strings.HasPrefix(s, "19") || strings.HasPrefix(s, "20")) {
		return 0
	}
	for _, layout := range []string{"2006-1-2", "2006/1/2", "2006.1.2"} {
		sep := layout[4:5]
		parts := strings.SplitN(s, sep, 3)
		if len(parts) < 3 || len(parts[0]) != 4 || len(parts[1]) < 1 || len(parts[1]) > 2 {
			continue
		}
		day := 0
		for day < len(parts[2]) && day < 2 && parts[2][day] >= '0' && parts[2][day] <= '9' {
			day++
		}
		if day == 0 {
			continue
		}
		rest := parts[2][day:]
		if rest != "" {
			r, _ := utf8.DecodeRuneInString(rest)
			if isPIIDigit(r) || strings.ContainsRune("-/.", r) && len(rest) > 1 && isPIIDigit([]rune(rest[1:])[0]) {
				continue
			}
		}
		date := parts[0] + sep + parts[1] + sep + parts[2][:day]
		if _, err := time.Parse(layout, date); err == nil {
			return utf8.RuneCountInString(date)
		}
	}
	return 0
}
