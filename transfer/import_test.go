package transfer

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

var importNow = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// messyRows is a sheet as sales teams keep them: a title row, a two-row
// header with merged cells, full-width digits, +86 and dashes, a blank
// row, duplicates of one person in several rows, and rows that must be
// rejected. Numbers are numeric cells in the workbook (a phone typed as a
// number, a date as an Excel serial).
var messyRows = [][]any{
	/* 1 */ {"2026年客户名单（华北区）"},
	/* 2 */ {"姓名", "联系方式", "", "公司名称", "职务", "标签", "负责人", "客户阶段", "备注", "生日", "到期日", "邮箱", "客户来源"},
	/* 3 */ {"", "手机号码（必填）", "座机"},
	/* 4 */ {"张三", "+86 138-0013-8000", "010-62345678", "北京艾克米科技有限公司", "经理", "VIP，重点客户", "张伟", "跟进中", "老客户，年底续约", "1990/5/1", "2026年12月31日", "ZS@Example.com", "展会"},
	/* 5 */ {},
	/* 6 */ {"张三", "138 0013 8000", "", "北京艾克米科技有限公司", "", "华北"},
	/* 7 */ {"李雷", "8613900139000", "", "上海韩梅梅贸易", "采购", "新客户", "lisi", "新线索", "", "", 46024},
	/* 8 */ {"李 雷", "", "", "上海韩梅梅贸易", "", "VIP", "", "", "电话沟通过"},
	/* 9 */ {"王芳", "1380013800", "", "某公司"},
	/* 10 */ {"赵强", 13700137000, "", "", "", "", "不存在的人"},
	/* 11 */ {"钱七", "13600136000", "", "", "", "", "", "谈判中"},
	/* 12 */ {"孙八", "１３５００１３５０００", "", "", "", "", "zhangwei", "", "", "不详", "", "bad@"},
	/* 13 */ {"", "", "", "", "", "", "", "", "只有备注没有人"},
	/* 14 */ {"周九", "", "", "", "", "意向", "", "", "", "3月15日"},
	/* 15 */ {"吴十", "133-0013-3000", "", "深圳某某公司", "总监", "", "赵六", "已成交"},
	/* 16 */ {"张三", "13800138000", "", "北京艾克米科技有限公司", "经理", "", "", "已成交"},
}

// messyMerges merge the title across the sheet, the group header 联系方式
// over its two columns, and every other header over both header rows.
var messyMerges = []string{"A1:M1", "B2:C2", "A2:A3", "D2:D3", "E2:E3", "F2:F3", "G2:G3", "H2:H3", "I2:I3", "J2:J3",
	"K2:K3", "L2:L3", "M2:M3"}

func messyCSVRows() [][]string {
	out := make([][]string, len(messyRows))
	for i, row := range messyRows {
		for _, v := range row {
			out[i] = append(out[i], fmt.Sprint(v))
		}
	}
	return out
}

// seedExisting adds the customers the company already has: 张三 from WeCom
// with his phone on file, 吴十 known by name and company only, and an
// unrelated customer.
func seedExisting(t *testing.T, db crmStore) {
	t.Helper()
	ctx := testContext(t)
	at := importNow.Add(-24 * time.Hour)
	zs, err := db.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: "wmZS001"},
		Name: "张三", Follow: &store.Follow{StaffID: "zhangwei"}, Now: at})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateCustomer(ctx, zs.ID, store.CustomerUpdate{Now: at,
		AddIdentities: []store.Identity{{Kind: store.IdentityPhone, Value: "13800138000"}}}); err != nil {
		t.Fatal(err)
	}
	ws, err := db.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: "wmWS001"},
		Name: "吴十", Now: at})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateCustomer(ctx, ws.ID, store.CustomerUpdate{Now: at, Fields: map[string]string{FieldCompany: "深圳某某公司"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: "wmOther"},
		Name: "无关客户", Follow: &store.Follow{StaffID: "other"}, Now: at}); err != nil {
		t.Fatal(err)
	}
}

// wantMessyIssues is the exact rejection report of the messy sheet.
var wantMessyIssues = []Issue{
	{Row: 9, Column: "手机号码（必填）", Value: "1380013800", Rejected: true},
	{Row: 10, Column: "负责人", Value: "不存在的人", Rejected: true},
	{Row: 11, Column: "客户阶段", Value: "谈判中", Rejected: true},
	{Row: 12, Column: "生日", Value: "不详"},
	{Row: 12, Column: "邮箱", Value: "bad@"},
	{Row: 13, Rejected: true},
	{Row: 15, Column: "负责人", Value: "赵六"},
	{Row: 16, Column: "客户阶段", Value: "已成交"},
}

func TestImportMessySheet(t *testing.T) {
	sheets := []struct {
		name     string
		file     string
		data     func(t *testing.T) []byte
		encoding string
	}{
		{"xlsx with merged headers", "客户.xlsx", func(t *testing.T) []byte { return xlsxFile(t, messyRows, messyMerges...) }, EncodingXLSX},
		{"GBK CSV", "客户.csv", func(t *testing.T) []byte { return gbkCSV(t, messyCSVRows()) }, EncodingGBK},
	}
	for _, sh := range sheets {
		t.Run(sh.name, func(t *testing.T) {
			ctx := testContext(t)
			db := openStore(t)
			seedStaff(t, db)
			seedExisting(t, db)
			before := allCustomers(t, db)
			tb := readTable(t, sh.file, sh.data(t))
			if tb.Encoding != sh.encoding {
				t.Fatalf("encoding = %s, want %s", tb.Encoding, sh.encoding)
			}
			opts := ImportOptions{Now: func() time.Time { return importNow }}

			// A dry run reports exactly what the import will do and writes nothing.
			dry := opts
			dry.DryRun = true
			drep, err := Import(ctx, db, tb, dry)
			if err != nil {
				t.Fatalf("dry run: %v", err)
			}
			if got := allCustomers(t, db); !reflect.DeepEqual(got, before) {
				t.Fatalf("the dry run changed the store")
			}

			rep, err := Import(ctx, db, tb, opts)
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			checkCounts(t, "import", rep, counts{rows: 12, blank: 1, rejected: 4, mergedRows: 3, created: 3, updated: 2})
			checkCounts(t, "dry run", drep, counts{rows: 12, blank: 1, rejected: 4, mergedRows: 3, created: 3, updated: 2})
			if rep.HeaderRow != 3 || !slices.Equal(rep.Unmapped, []string{"客户来源"}) {
				t.Errorf("header row %d, unmapped %q; want 3, [客户来源]", rep.HeaderRow, rep.Unmapped)
			}
			checkIssues(t, rep.Issues, wantMessyIssues)
			if !reflect.DeepEqual(outcomeRows(drep), outcomeRows(rep)) {
				t.Errorf("dry run outcomes %v, import outcomes %v", outcomeRows(drep), outcomeRows(rep))
			}
			if want := [][]int{{4, 6, 16}, {7, 8}, {12}, {14}, {15}}; !reflect.DeepEqual(outcomeRows(rep), want) {
				t.Errorf("outcome rows = %v, want %v", outcomeRows(rep), want)
			}

			after := allCustomers(t, db)
			if len(after) != len(before)+3 {
				t.Fatalf("%d customers after import, want %d", len(after), len(before)+3)
			}
			zs := customerByPhone(t, db, "13800138000")
			if zs.ID != before[0].ID {
				t.Errorf("张三 is customer %s, want the existing %s (merged, not duplicated)", zs.ID, before[0].ID)
			}
			checkCustomer(t, zs, wantCustomer{
				name: "张三", stage: store.StageActive, tags: []string{"VIP", "华北", "重点客户"},
				fields: map[string]string{FieldCompany: "北京艾克米科技有限公司", FieldTitle: "经理", FieldRemark: "老客户，年底续约",
					FieldBirthday: "1990-05-01", FieldRenewal: "2026-12-31", FieldEmail: "zs@example.com", FieldLandline: "010-62345678"},
				identities: []string{"external_userid:wmZS001", "phone:13800138000"},
				follows:    []string{"zhangwei:"},
			})
			checkCustomer(t, customerByPhone(t, db, "13900139000"), wantCustomer{
				name: "李雷", stage: store.StageLead, tags: []string{"VIP", "新客户"},
				fields:     map[string]string{FieldCompany: "上海韩梅梅贸易", FieldTitle: "采购", FieldRemark: "电话沟通过", FieldRenewal: "2026-01-02"},
				identities: []string{"phone:13900139000"},
				follows:    []string{"lisi:import"},
			})
			checkCustomer(t, customerByPhone(t, db, "13500135000"), wantCustomer{
				name: "孙八", stage: store.StageLead, fields: map[string]string{},
				identities: []string{"phone:13500135000"}, follows: []string{"zhangwei:import"},
			})
			zj, err := db.FindCustomerByIdentity(ctx, (&record{name: "周九", fields: map[string]string{}}).syntheticIdentity())
			if err != nil {
				t.Fatalf("周九 by synthetic identity: %v", err)
			}
			checkCustomer(t, zj, wantCustomer{
				name: "周九", stage: store.StageLead, tags: []string{"意向"}, fields: map[string]string{FieldBirthday: "--03-15"},
				identities: []string{"import:" + zj.Identities[0].Value},
			})
			ws := customerByPhone(t, db, "13300133000")
			if ws.ID != before[1].ID {
				t.Errorf("吴十 is customer %s, want the existing %s (matched by name and company)", ws.ID, before[1].ID)
			}
			checkCustomer(t, ws, wantCustomer{
				name: "吴十", stage: store.StageWon, fields: map[string]string{FieldCompany: "深圳某某公司", FieldTitle: "总监"},
				identities: []string{"external_userid:wmWS001", "phone:13300133000"}, follows: []string{"zhaoliu:import"},
			})
			if got := after[2]; !reflect.DeepEqual(got, before[2]) {
				t.Errorf("an unrelated customer changed: %+v", got)
			}

			// Re-running the same sheet changes nothing, field by field.
			again, err := Import(ctx, db, tb, ImportOptions{Now: func() time.Time { return importNow.Add(time.Hour) }})
			if err != nil {
				t.Fatalf("re-import: %v", err)
			}
			checkCounts(t, "re-import", again, counts{rows: 12, blank: 1, rejected: 4, mergedRows: 3, unchanged: 5})
			if len(again.Outcomes) != 0 {
				t.Errorf("re-import outcomes: %+v", again.Outcomes)
			}
			if got := allCustomers(t, db); !reflect.DeepEqual(got, after) {
				t.Errorf("re-import changed the store")
			}
		})
	}
}

type counts struct{ rows, blank, rejected, mergedRows, created, updated, unchanged int }

func checkCounts(t *testing.T, what string, rep *Report, want counts) {
	t.Helper()
	got := counts{rep.Rows, rep.Blank, rep.Rejected, rep.MergedRows, rep.Created, rep.Updated, rep.Unchanged}
	if got != want {
		t.Errorf("%s: counts %+v, want %+v\n%s", what, got, want, reportText(rep))
	}
}

func reportText(rep *Report) string {
	var b bytes.Buffer
	_ = rep.WriteText(&b, 0)
	return b.String()
}

// checkIssues compares row, column, value and kind, and that every reason
// is written in Chinese.
func checkIssues(t *testing.T, got, want []Issue) {
	t.Helper()
	strip := make([]Issue, len(got))
	for i, is := range got {
		if is.Reason == "" || !hasHan(is.Reason) {
			t.Errorf("issue %+v: the reason must be Chinese", is)
		}
		is.Reason = ""
		strip[i] = is
	}
	if !reflect.DeepEqual(strip, want) {
		t.Errorf("issues:\n got %+v\nwant %+v", strip, want)
		for _, is := range got {
			t.Logf("  %+v", is)
		}
	}
}

func hasHan(s string) bool {
	for _, r := range s {
		if r >= 0x4e00 && r <= 0x9fff {
			return true
		}
	}
	return false
}

func outcomeRows(rep *Report) [][]int {
	out := [][]int{}
	for _, o := range rep.Outcomes {
		out = append(out, o.Rows)
	}
	return out
}

type wantCustomer struct {
	name, stage string
	tags        []string
	fields      map[string]string
	identities  []string // kind:value
	follows     []string // staff:state of active follows
}

func checkCustomer(t *testing.T, c *store.Customer, want wantCustomer) {
	t.Helper()
	var ids, follows []string
	for _, id := range c.Identities {
		ids = append(ids, id.Kind+":"+id.Value)
	}
	for _, f := range c.Follows {
		if !f.Deleted {
			follows = append(follows, f.StaffID+":"+f.State)
		}
	}
	fields := c.Fields
	if fields == nil {
		fields = map[string]string{}
	}
	if c.Name != want.name || c.Stage != want.stage || !slices.Equal(c.Tags, orEmpty(want.tags)) ||
		!reflect.DeepEqual(fields, want.fields) || !slices.Equal(ids, want.identities) || !slices.Equal(follows, want.follows) {
		t.Errorf("customer %s:\n got name=%q stage=%q tags=%q fields=%v ids=%q follows=%q\nwant name=%q stage=%q tags=%q fields=%v ids=%q follows=%q",
			c.ID, c.Name, c.Stage, c.Tags, fields, ids, follows, want.name, want.stage, want.tags, want.fields, want.identities, want.follows)
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func TestImportDefaultOwnerAndMapping(t *testing.T) {
	ctx := testContext(t)
	db := openStore(t)
	seedStaff(t, db)
	rows := [][]string{
		{"客户", "手机尾号", "所在行业", "客户来源"},
		{"甲", "13800000001", "制造业", "官网"},
		{"乙", "13800000002", "零售", "展会"},
	}
	var csvData bytes.Buffer
	for _, r := range rows {
		csvData.WriteString(strings.Join(r, ",") + "\n")
	}
	m, err := ParseMapping(strings.NewReader("strict: true\ncolumns:\n  客户: name\n  手机尾号: phone\n  所在行业: field:industry\n"))
	if err != nil {
		t.Fatal(err)
	}
	tb := readTable(t, "m.csv", csvData.Bytes())
	rep, err := Import(ctx, db, tb, ImportOptions{Mapping: m, DefaultOwner: "lisi"})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	checkCounts(t, "import", rep, counts{rows: 2, created: 2})
	if !slices.Equal(rep.Unmapped, []string{"客户来源"}) {
		t.Errorf("unmapped = %q, want [客户来源] (strict mapping)", rep.Unmapped)
	}
	checkCustomer(t, customerByPhone(t, db, "13800000002"), wantCustomer{
		name: "乙", stage: store.StageLead, fields: map[string]string{"industry": "零售"},
		identities: []string{"phone:13800000002"}, follows: []string{"lisi:import"},
	})

	t.Run("unknown default owner", func(t *testing.T) {
		_, err := Import(ctx, db, tb, ImportOptions{Mapping: m, DefaultOwner: "nobody"})
		if err == nil || !strings.Contains(err.Error(), "nobody") {
			t.Errorf("err = %v, want an error naming the unknown owner", err)
		}
	})
	t.Run("no usable header", func(t *testing.T) {
		bad := readTable(t, "x.csv", []byte("foo,bar\n1,2\n"))
		if _, err := Import(ctx, db, bad, ImportOptions{}); err == nil {
			t.Error("a sheet without known headers imported")
		}
	})
}

func TestImportOwnerResolution(t *testing.T) {
	db := openStore(t)
	seedStaff(t, db)
	ctx := testContext(t)
	if err := db.UpsertStaff(ctx, &store.Staff{ID: "zhangwei2", Name: "张伟", Role: "sales", Active: true}); err != nil {
		t.Fatal(err)
	}
	idx, err := loadStaff(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	idx.addFollowers(map[string]bool{"ghost": true})
	tests := []struct {
		name, in string
		idOnly   bool
		want     string
		ok       bool
	}{
		{"by id", "lisi", false, "lisi", true},
		{"by id, other case", "LiSi", false, "lisi", true},
		{"by unique name", "李四", false, "lisi", true},
		{"ambiguous name", "张伟", false, "", false},
		{"name with id in brackets", "张伟（zhangwei2）", false, "zhangwei2", true},
		{"id only refuses names", "李四", true, "", false},
		{"a follower not in the directory", "ghost", true, "ghost", true},
		{"unknown", "nobody", false, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, reason := idx.resolve(tc.in, tc.idOnly)
			if id != tc.want || (reason == "") != tc.ok {
				t.Errorf("resolve(%q) = %q, %q; want %q, ok=%v", tc.in, id, reason, tc.want, tc.ok)
			}
		})
	}
}

// TestImportNameCompanyMatching covers the weak key: name and company
// match an existing customer only through the values that win, an
// ambiguous match updates the oldest and says so, and two existing
// customers are never merged on name and company alone.
func TestImportNameCompanyMatching(t *testing.T) {
	ctx := testContext(t)
	db := openStore(t)
	seedStaff(t, db)
	mk := func(ext, name, company string) *store.Customer {
		t.Helper()
		c, err := db.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: ext},
			Name: name, Now: importNow})
		if err != nil {
			t.Fatal(err)
		}
		if c, err = db.UpdateCustomer(ctx, c.ID, store.CustomerUpdate{Fields: map[string]string{FieldCompany: company}, Now: importNow}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	acme1, acme2 := mk("wm1", "张三", "ACME"), mk("wm2", "张三", "ACME")
	beta, gamma := mk("wm3", "王五", "BETA"), mk("wm4", "王五", "GAMMA")
	sheet := "姓名,手机,公司,标签\n" +
		"张三,,ＡＣＭＥ,甲\n" + // full-width company still matches
		"李四,13900000001,ACME,乙\n" +
		"王五,13900000002,BETA,丙\n" +
		"王五,13900000002,GAMMA,丁\n" // same person as the row above: BETA wins, 王五@GAMMA is not merged in
	rep, err := Import(ctx, db, readTable(t, "s.csv", []byte(sheet)), ImportOptions{Now: func() time.Time { return importNow }})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "import", rep, counts{rows: 4, mergedRows: 1, created: 1, updated: 2})
	checkIssues(t, rep.Issues, []Issue{{Row: 2, Column: "姓名", Value: "张三"}, {Row: 5, Column: "公司", Value: "GAMMA"}})
	get := func(id string) *store.Customer {
		c, err := db.FindCustomerByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := get(acme1.ID); !slices.Equal(c.Tags, []string{"甲"}) || c.Fields[FieldCompany] != "ACME" {
		t.Errorf("the oldest 张三@ACME = %+v, want tag 甲 and company ACME", c)
	}
	if c := get(acme2.ID); len(c.Tags) != 0 {
		t.Errorf("the second 张三@ACME was changed: %+v", c)
	}
	if c := get(beta.ID); !slices.Equal(c.Tags, []string{"丁", "丙"}) || c.Fields[FieldCompany] != "BETA" {
		t.Errorf("王五@BETA = %+v, want tags [丁 丙] and company BETA", c)
	}
	if c := get(gamma.ID); len(c.Tags) != 0 || len(c.Identities) != 1 {
		t.Errorf("王五@GAMMA was changed: %+v", c)
	}
	if c := customerByPhone(t, db, "13900000002"); c.ID != beta.ID {
		t.Errorf("the phone went to %s, want 王五@BETA %s", c.ID, beta.ID)
	}
}

// batchingStore offers the optional batch method over the embedded store,
// the way a backend would (without the single transaction), to test the
// import's batch path; failFirst makes its first batch fail with a
// conflict, as a rolled-back batch would.
type batchingStore struct {
	crmStore
	calls, items int
	failFirst    bool
}

func (b *batchingStore) UpsertCustomerBatch(ctx context.Context, ups []store.CustomerUpsert, upds []store.CustomerUpdate) ([]string, error) {
	b.calls++
	if b.failFirst && b.calls == 1 {
		return nil, fmt.Errorf("batch: %w", store.ErrConflict)
	}
	ids := make([]string, len(ups))
	for i, u := range ups {
		c, err := b.UpsertCustomer(ctx, u)
		if err != nil {
			return nil, err
		}
		ids[i] = c.ID
		if upd := upds[i]; len(upd.Fields) > 0 || upd.Name != nil || upd.Stage != nil || len(upd.AddTags) > 0 {
			if _, err := b.UpdateCustomer(ctx, c.ID, upd); err != nil {
				return nil, err
			}
		}
		b.items++
	}
	return ids, nil
}

func TestImportBatchPath(t *testing.T) {
	ctx := testContext(t)
	opts := ImportOptions{Now: func() time.Time { return importNow }}
	data := xlsxFile(t, messyRows, messyMerges...)
	plain := openStore(t)
	seedStaff(t, plain)
	seedExisting(t, plain)
	if _, err := Import(ctx, plain, readTable(t, "客户.xlsx", data), opts); err != nil {
		t.Fatal(err)
	}
	want := allCustomers(t, plain)
	for _, failFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("failFirst=%v", failFirst), func(t *testing.T) {
			db := openStore(t)
			seedStaff(t, db)
			seedExisting(t, db)
			b := &batchingStore{crmStore: db, failFirst: failFirst}
			rep, err := Import(ctx, b, readTable(t, "客户.xlsx", data), opts)
			if err != nil {
				t.Fatal(err)
			}
			checkCounts(t, "batched import", rep, counts{rows: 12, blank: 1, rejected: 4, mergedRows: 3, created: 3, updated: 2})
			if b.calls != 1 || (!failFirst && b.items != 5) {
				t.Errorf("batch calls %d with %d items, want 1 call with 5", b.calls, b.items)
			}
			if got := allCustomers(t, db); !reflect.DeepEqual(got, want) {
				t.Errorf("the batch path stored something else than the one-by-one path")
			}
		})
	}
}
