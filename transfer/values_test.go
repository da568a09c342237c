package transfer

import (
	"slices"
	"strings"
	"testing"
)

func TestImportParsePhone(t *testing.T) {
	tests := []struct {
		name, in, want string
		kind           phoneKind
	}{
		{"plain mobile", "13800138000", "13800138000", phoneMobile},
		{"plus 86 with dashes", "+86 138-0013-8000", "13800138000", phoneMobile},
		{"86 dash prefix", "86-13800138000", "13800138000", phoneMobile},
		{"0086 prefix", "0086 138 0013 8000", "13800138000", phoneMobile},
		{"bare 86 prefix", "8613800138000", "13800138000", phoneMobile},
		{"full-width digits", "１３８００１３８０００", "13800138000", phoneMobile},
		{"full-width plus and spaces", "＋８６　１３８ ００１３ ８０００", "13800138000", phoneMobile},
		{"parentheses and dots", "(+86)138.0013.8000", "13800138000", phoneMobile},
		{"Beijing landline", "010-62345678", "010-62345678", phoneLandline},
		{"Shenzhen landline", "0755 8765 4321", "0755-87654321", phoneLandline},
		{"landline with extension", "021-52345678 ext. 801", "021-52345678转801", phoneLandline},
		{"400 number", "400-800-1234", "400-800-1234", phoneLandline},
		{"local number", "62345678", "62345678", phoneLandline},
		{"ten digits", "1380013800", "", phoneInvalid},
		{"twelve digits", "138001380001", "", phoneInvalid},
		{"bad second digit", "12800138000", "", phoneInvalid},
		{"foreign number", "+1 415 555 0100", "", phoneInvalid},
		{"letters", "138abc38000", "", phoneInvalid},
		{"empty", "  ", "", phoneInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, kind := parsePhone(tc.in)
			if got != tc.want || kind != tc.kind {
				t.Errorf("parsePhone(%q) = %q, %v; want %q, %v", tc.in, got, kind, tc.want, tc.kind)
			}
		})
	}
}

func TestImportSplitPhones(t *testing.T) {
	tests := []struct {
		name                    string
		in                      string
		mobiles, landlines, bad []string
	}{
		{"one mobile with spaces", "138 0013 8000", []string{"13800138000"}, nil, nil},
		{"mobile and landline", "13800138000 / 010-62345678", []string{"13800138000"}, []string{"010-62345678"}, nil},
		{"two mobiles, Chinese comma", "13800138000，13900139000", []string{"13800138000", "13900139000"}, nil, nil},
		{"one bad piece", "13800138000、12345", []string{"13800138000"}, nil, []string{"12345"}},
		{"garbage", "无", nil, nil, []string{"无"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, l, b := splitPhones(tc.in)
			if !slices.Equal(m, tc.mobiles) || !slices.Equal(l, tc.landlines) || !slices.Equal(b, tc.bad) {
				t.Errorf("splitPhones(%q) = %q %q %q; want %q %q %q", tc.in, m, l, b, tc.mobiles, tc.landlines, tc.bad)
			}
		})
	}
}

func TestImportParseDate(t *testing.T) {
	tests := []struct {
		name, in  string
		partialOK bool
		want      string
		ok        bool
	}{
		{"iso", "2026-01-02", false, "2026-01-02", true},
		{"slashes unpadded", "2026/1/2", false, "2026-01-02", true},
		{"dots", "2026.1.2", false, "2026-01-02", true},
		{"chinese", "2026年1月2日", false, "2026-01-02", true},
		{"chinese with 号", "2026年12月31号", false, "2026-12-31", true},
		{"compact", "20260102", false, "2026-01-02", true},
		{"with time", "2026-01-02 15:04:05", false, "2026-01-02", true},
		{"excel serial", "46024", false, "2026-01-02", true},
		{"excel serial with time", "46024.5", false, "2026-01-02", true},
		{"full-width", "２０２６－０１－０２", false, "2026-01-02", true},
		{"leap day", "2024-02-29", false, "2024-02-29", true},
		{"not a leap year", "2026-02-29", false, "", false},
		{"month 13", "2026-13-01", false, "", false},
		{"bare year", "2026", false, "", false},
		{"words", "不详", false, "", false},
		{"month-day needs a year", "5月1日", false, "", false},
		{"birthday month-day", "5月1日", true, "--05-01", true},
		{"birthday dashes", "05-01", true, "--05-01", true},
		{"birthday round trip", "--05-01", true, "--05-01", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseDate(tc.in, tc.partialOK)
			if got != tc.want || ok != tc.ok {
				t.Errorf("parseDate(%q, %v) = %q, %v; want %q, %v", tc.in, tc.partialOK, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestImportSplitTags(t *testing.T) {
	known := map[string]bool{"VIP 客户": true}
	tests := []struct {
		name, in string
		want     []string
	}{
		{"chinese comma", "VIP，重点客户", []string{"VIP", "重点客户"}},
		{"mixed separators", "a,b;c、d|e", []string{"a", "b", "c", "d", "e"}},
		{"spaces only", "华北 华南  华东", []string{"华北", "华南", "华东"}},
		{"spaces inside separated tags", "VIP 客户，华北", []string{"VIP 客户", "华北"}},
		{"a known tag with a space", "VIP 客户", []string{"VIP 客户"}},
		{"repeats collapse", "a,a,b", []string{"a", "b"}},
		{"empty pieces", " , ,a", []string{"a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := splitTags(tc.in, func(s string) bool { return known[s] }); !slices.Equal(got, tc.want) {
				t.Errorf("splitTags(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestImportHeaderTargets(t *testing.T) {
	tests := []struct{ header, want string }{
		{"姓名", ColName},
		{"客户名称", ColName},
		{"Name", ColName},
		{"手机号码（必填）", ColPhone},
		{"*手机", ColPhone},
		{"联系电话", ColPhone},
		{"Mobile Phone", ColPhone},
		{"客户手机号码", ColPhone},
		{"电话2", ColPhone},
		{"姓名/Name", ColName},
		{"手机|电话", ColPhone},
		{"公司电话", ColLandline},
		{"公司名称", ColCompany},
		{"Company Name", ColCompany},
		{"工作单位", ColCompany},
		{"职位", ColTitle},
		{"标签", ColTags},
		{"销售负责人", ColOwner},
		{"负责人ID", ColOwnerID},
		{"客户阶段", ColStage},
		{"备注", ColRemark},
		{"Notes", ColRemark},
		{"生日", ColBirthday},
		{"续费日期", ColRenewal},
		{"到期日(yyyy-mm-dd)", ColRenewal},
		{"微信", ColWeChat},
		{"union_id", ColUnionID},
		{"邮箱", ColEmail},
		{"E-mail", ColEmail},
		{"客户ID", ColID},
		{"创建时间", ColIgnore},
		{"公司地址", ""},
		{"客户来源", ""},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.header, func(t *testing.T) {
			if got := targetForHeader(tc.header); got != tc.want {
				t.Errorf("targetForHeader(%q) = %q, want %q", tc.header, got, tc.want)
			}
		})
	}
}

func TestImportMappingFile(t *testing.T) {
	tests := []struct {
		name, yaml string
		wantErr    bool
	}{
		{"valid", "sheet: 客户\nheader_row: 2\ncolumns:\n  客户姓名: name\n  行业: field:industry\n  序号: ignore\n", false},
		{"unknown target", "columns:\n  客户姓名: nam\n", true},
		{"unknown key", "colums:\n  客户姓名: name\n", true},
		{"empty field key", "columns:\n  行业: 'field:'\n", true},
		{"empty file", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMapping(strings.NewReader(tc.yaml))
			if (err != nil) != tc.wantErr {
				t.Errorf("ParseMapping error = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

// FuzzImportNormalize checks that the normalisers never panic and that a
// normalised value normalises to itself (which is what makes re-imports
// change nothing).
func FuzzImportNormalize(f *testing.F) {
	for _, s := range []string{"+86 138-0013-8000", "010-62345678转801", "2026年1月2日", "46024", "5月1日", "１３８", "--05-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, k := parsePhone(s); k != phoneInvalid {
			if n2, k2 := parsePhone(n); n2 != n || k2 != k {
				t.Errorf("parsePhone(%q) = %q but parsePhone(%q) = %q", s, n, n, n2)
			}
		}
		for _, partial := range []bool{false, true} {
			if d, ok := parseDate(s, partial); ok {
				if d2, ok2 := parseDate(d, partial); !ok2 || d2 != d {
					t.Errorf("parseDate(%q) = %q but parseDate(%q) = %q, %v", s, d, d, d2, ok2)
				}
			}
		}
		_ = splitTags(s, nil)
		_ = headerKey(s)
	})
}
