package transfer

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Targets a column can be mapped to.
const (
	ColName     = "name"
	ColPhone    = "phone"    // mobile numbers (landlines found here go to the landline field)
	ColLandline = "landline" // 座机
	ColUnionID  = "unionid"
	ColWeChat   = "wechat" // 微信: a unionid if it looks like one, else a 微信号 field
	ColCompany  = "company"
	ColTitle    = "title"
	ColTags     = "tags"
	ColOwner    = "owner"    // staff ID or staff name
	ColOwnerID  = "owner_id" // staff ID only; wins over owner
	ColStage    = "stage"
	ColRemark   = "remark"
	ColBirthday = "birthday"
	ColRenewal  = "renewal"
	ColEmail    = "email"
	ColID       = "id" // scrm customer ID, as exported
	ColIgnore   = "ignore"
	// ColFieldPrefix maps a column to a custom field: "field:industry".
	ColFieldPrefix = "field:"
)

// Keys of store.Customer.Fields written by the import and read by the export.
const (
	FieldCompany  = "company"
	FieldTitle    = "title"
	FieldRemark   = "remark"
	FieldBirthday = "birthday"     // YYYY-MM-DD, or --MM-DD without a year
	FieldRenewal  = "renewal_date" // YYYY-MM-DD: 到期日 / 续费日期
	FieldEmail    = "email"
	FieldLandline = "landline" // landlines, "/"-separated
	FieldWeChat   = "wechat"   // 微信号
)

// headerAliases are the header names of each target, written as keyText
// leaves them (lower case, half-width, no spaces) with separators removed.
var headerAliases = map[string][]string{
	ColName: {"姓名", "客户名称", "客户姓名", "客户名", "名字", "名称", "联系人", "联系人姓名", "称呼", "客户",
		"name", "customername", "fullname", "contactname", "contact"},
	ColPhone: {"手机", "手机号", "手机号码", "电话", "联系电话", "电话号码", "联系方式", "移动电话", "联系手机",
		"手机电话", "mobile", "mobilephone", "phone", "phonenumber", "tel", "telephone", "cellphone", "cell"},
	ColLandline: {"座机", "固定电话", "固话", "办公电话", "公司电话", "座机号码", "landline", "officephone", "workphone"},
	ColUnionID:  {"unionid"},
	ColWeChat:   {"微信", "微信号", "微信id", "wechat", "wechatid", "weixin", "wx"},
	ColCompany: {"公司", "公司名称", "公司名", "单位", "单位名称", "工作单位", "企业", "企业名称", "所属公司", "客户公司",
		"company", "companyname", "organization", "organisation", "org", "employer"},
	ColTitle:    {"职位", "职务", "岗位", "头衔", "title", "position", "jobtitle", "job"},
	ColTags:     {"标签", "客户标签", "标签组", "tags", "tag", "labels", "label"},
	ColOwner:    {"负责人", "销售", "跟进人", "所属销售", "归属人", "归属销售", "客户经理", "销售负责人", "负责销售", "负责人姓名", "owner", "sales", "salesperson", "salesrep", "accountmanager"},
	ColOwnerID:  {"负责人id", "负责人userid", "销售id", "员工id", "ownerid", "userid", "staffid"},
	ColStage:    {"阶段", "客户阶段", "跟进阶段", "销售阶段", "状态", "客户状态", "stage", "status"},
	ColRemark:   {"备注", "备注信息", "说明", "描述", "remark", "remarks", "notes", "note", "comment", "comments", "memo"},
	ColBirthday: {"生日", "出生日期", "出生年月", "birthday", "birthdate", "dateofbirth", "dob"},
	ColRenewal:  {"到期日", "到期日期", "到期时间", "续费日期", "续费日", "续约日期", "合同到期日", "服务到期日", "renewal", "renewaldate", "expiry", "expirydate", "expiredate", "expiration"},
	ColEmail:    {"邮箱", "电子邮箱", "电子邮件", "邮件", "邮箱地址", "email", "emailaddress", "mail"},
	ColID:       {"客户id", "scrmid", "customerid"},
	// Columns an export writes that an import reads back and ignores.
	ColIgnore: {"序号", "最近联系", "最近联系时间", "创建时间", "添加时间", "来源渠道", "no", "#"},
}

// headerSuffixes are the head words that decide a compound header's meaning:
// Chinese compounds are head-final ("客户手机号码" is a phone number,
// "公司地址" is not a company), and so are English ones.
var headerSuffixes = []struct{ suffix, target string }{
	{"手机号码", ColPhone}, {"手机号", ColPhone}, {"手机", ColPhone}, {"电话", ColPhone}, {"phone", ColPhone}, {"mobile", ColPhone},
	{"座机", ColLandline},
	{"姓名", ColName}, {"名字", ColName}, {"name", ColName},
	{"公司", ColCompany}, {"单位", ColCompany}, {"company", ColCompany},
	{"职位", ColTitle}, {"职务", ColTitle}, {"title", ColTitle},
	{"标签", ColTags}, {"tags", ColTags},
	{"负责人", ColOwner}, {"owner", ColOwner},
	{"阶段", ColStage}, {"stage", ColStage},
	{"备注", ColRemark}, {"remark", ColRemark}, {"notes", ColRemark},
	{"生日", ColBirthday}, {"birthday", ColBirthday},
	{"到期日", ColRenewal}, {"续费日期", ColRenewal},
	{"邮箱", ColEmail}, {"email", ColEmail},
	{"微信号", ColWeChat}, {"微信", ColWeChat},
	{"unionid", ColUnionID},
}

var aliasIndex = func() map[string]string {
	m := map[string]string{}
	for target, names := range headerAliases {
		for _, n := range names {
			m[n] = target
		}
	}
	return m
}()

// headerKey normalises a header for matching: keyText, then without
// required/optional markers ("*", "（必填）"), trailing hints in brackets
// ("到期日(yyyy-mm-dd)"), colons, separators and trailing numbers ("电话2").
func headerKey(s string) string {
	k := keyText(s)
	k = strings.Trim(k, "*:：")
	for {
		i := strings.LastIndexAny(k, "(（[【")
		if i <= 0 || !strings.ContainsAny(k[i:], ")）]】") {
			break
		}
		k = strings.TrimRight(k[:i], " ")
	}
	k = strings.Map(func(r rune) rune {
		switch r {
		case '_', '-', '.', '*', ':', '：':
			return -1
		}
		return r
	}, k)
	return strings.TrimRight(k, "0123456789")
}

// targetForHeader maps a header to a target by exact alias, then by each
// part of a combined header ("姓名/Name", "手机|电话"), then by head word.
func targetForHeader(header string) string {
	full := headerKey(header)
	if full == "" {
		return ""
	}
	if t, ok := aliasIndex[full]; ok {
		return t
	}
	parts := strings.FieldsFunc(narrow(clean(header)), func(r rune) bool {
		return r == '/' || r == '|' || r == '、' || r == ' ' || r == '\\'
	})
	if len(parts) > 1 {
		for _, p := range parts {
			if t, ok := aliasIndex[headerKey(p)]; ok {
				return t
			}
		}
	}
	for _, s := range headerSuffixes {
		if strings.HasSuffix(full, s.suffix) {
			return s.target
		}
	}
	return ""
}

// validTarget reports whether t is something a column can map to.
func validTarget(t string) bool {
	if k, ok := strings.CutPrefix(t, ColFieldPrefix); ok {
		return k != ""
	}
	_, ok := headerAliases[t]
	return ok
}

// Mapping is an explicit column mapping, read from YAML:
//
//	sheet: 客户名单          # optional: the workbook sheet
//	header_row: 2           # optional: 1-based row of the headers
//	strict: false           # true: columns not listed are ignored
//	columns:
//	  客户姓名: name
//	  手机号码: phone
//	  行业: field:industry  # a custom field
//	  序号: ignore
type Mapping struct {
	Sheet     string            `yaml:"sheet"`
	HeaderRow int               `yaml:"header_row"`
	Strict    bool              `yaml:"strict"`
	Columns   map[string]string `yaml:"columns"`
}

// Targets lists what a mapping may map columns to.
func Targets() []string {
	out := make([]string, 0, len(headerAliases)+1)
	for t := range headerAliases {
		out = append(out, t)
	}
	sort.Strings(out)
	return append(out, ColFieldPrefix+"<key>")
}

// ParseMapping reads a mapping file and checks every target.
func ParseMapping(r io.Reader) (*Mapping, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("transfer: read mapping: %w", err)
	}
	var m Mapping
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil && err != io.EOF {
		return nil, fmt.Errorf("transfer: parse mapping: %w", err)
	}
	if m.HeaderRow < 0 {
		return nil, fmt.Errorf("transfer: mapping: header_row must be 1 or more")
	}
	for col, t := range m.Columns {
		if !validTarget(t) {
			return nil, fmt.Errorf("transfer: mapping: column %q maps to unknown target %q (use one of %s)",
				col, t, strings.Join(Targets(), ", "))
		}
	}
	return &m, nil
}

// column is one mapped column of the sheet.
type column struct {
	index  int
	header string
	target string
}

// layout is how a sheet's columns map to targets.
type layout struct {
	headerRow int // 0-based
	columns   []column
	unmapped  []string // headers nothing maps to
	missing   []string // mapping entries whose header is not in the sheet
}

// headerText returns the header of column c in row r: merged cells read as
// their range's value, and an empty cell under a header above it (a
// two-row header without merges) reads as that header.
func headerText(t *Table, r, c int) string {
	h := clean(t.cell(r, c))
	if h == "" && r > 0 {
		h = clean(t.cell(r-1, c))
	}
	return h
}

// detectLayout finds the header row (the one among the first rows that maps
// the most distinct targets, or m.HeaderRow) and maps its columns.
func detectLayout(t *Table, m *Mapping) (layout, error) {
	explicit := map[string]string{}
	if m != nil {
		for h, target := range m.Columns {
			explicit[headerKey(h)] = target
		}
	}
	width := 0
	for _, row := range t.Rows {
		width = max(width, len(row))
	}
	build := func(r int) layout {
		l := layout{headerRow: r}
		seen := map[string]bool{}
		for c := 0; c < width; c++ {
			h := headerText(t, r, c)
			if h == "" {
				continue
			}
			k := headerKey(h)
			target, ok := explicit[k]
			if ok {
				seen[k] = true
			} else if m == nil || !m.Strict {
				target = targetForHeader(h)
			}
			switch target {
			case "":
				l.unmapped = append(l.unmapped, h)
			case ColIgnore:
			default:
				l.columns = append(l.columns, column{index: c, header: h, target: target})
			}
		}
		for h := range explicit {
			if !seen[h] {
				l.missing = append(l.missing, h)
			}
		}
		sort.Strings(l.missing)
		return l
	}
	if m != nil && m.HeaderRow > 0 {
		if m.HeaderRow > len(t.Rows) {
			return layout{}, fmt.Errorf("header_row %d is past the end of the sheet (%d rows)", m.HeaderRow, len(t.Rows))
		}
		return build(m.HeaderRow - 1), nil
	}
	best, bestScore := layout{headerRow: -1}, 0
	for r := 0; r < min(len(t.Rows), 10); r++ {
		if t.blank(r) {
			continue
		}
		l := build(r)
		targets := map[string]bool{}
		for _, c := range l.columns {
			targets[c.target] = true
		}
		if len(targets) > bestScore {
			best, bestScore = l, len(targets)
		}
	}
	if best.headerRow < 0 {
		return layout{}, fmt.Errorf("no header row found in the first 10 rows of %s: name the columns (姓名, 手机, 公司 …) or give a mapping file", t.Source)
	}
	return best, nil
}
