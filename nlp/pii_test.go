package nlp

import (
	"strings"
	"testing"
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

func TestMaskNegative(t *testing.T) {
	cases := []string{
		"订单号 2026112412345678 已发货", // 16 digits, no issuer prefix
		"订单SO20261124000123",       // alphanumeric order id
		"单号：JD0012345678901",
		"价格13800元",
		"报价 13812.50 元",
		"合计¥1,380.00",
		"日期2026-11-24",
		"2026-11-24 15:00 到货",
		"20261124",
		"版本 1.38.12345678",
		"数量12345678个",
		"快递单号 773012345678901",  // 15 digits
		"身份证号11010519491231002", // 17 digits only
		"身份证11010519491231003X", // bad check digit
		"卡号6222021234567890121", // fails Luhn
		"编号 12345678901",        // 11 digits not starting 1[3-9]
		"电话 12812345678",        // 12x is no mobile range
		"微信 abc",                // too short for a WeChat id
		"微信支付 100 元",
		"型号 X13-2026",
		"重量 0.75kg",
		"工号 007",
		"第123456789012345678999号", // 21 digits
		"预计 3-5 天到",
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
	for _, s := range []string{"13812345678", "+86 138 1234 5678", "11010519491231002X", "a@b.cn", "vx: abc_123", "(010)12345678"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(s, "⟦") {
			return
		}
		m := NewMasker()
		if got := m.Unmask(m.Mask(s)); got != s {
			t.Fatalf("round trip %q → %q", s, got)
		}
	})
}
