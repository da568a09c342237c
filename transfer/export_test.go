package transfer

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/mongo"
	"github.com/scrmhq/scrm/store/mongo/mongotest"
)

var (
	adminViewer   = bot.Viewer{StaffID: "admin", Role: bot.RoleAdmin}
	salesViewer   = bot.Viewer{StaffID: "zhangwei", Role: bot.RoleSales}
	managerViewer = bot.Viewer{StaffID: "wangwu", Role: bot.RoleManager, Team: []string{"zhangwei", "lisi"}}
)

// seedHard adds customers that are hard to round-trip: two WeCom contacts
// with the same name and nothing else, a tag with a space, text that looks
// like a spreadsheet formula, several phones, a unionid, an ended follow
// two owners, and a full-width, double-spaced name.
func seedHard(t *testing.T, db crmStore) {
	t.Helper()
	ctx := testContext(t)
	up := func(u store.CustomerUpsert) *store.Customer {
		t.Helper()
		u.Now = importNow
		c, err := db.UpsertCustomer(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ext := func(v string) store.Identity { return store.Identity{Kind: store.IdentityExternalUserID, Value: v} }
	up(store.CustomerUpsert{Identity: ext("wmA"), Name: "王伟", Follow: &store.Follow{StaffID: "zhangwei"}})
	up(store.CustomerUpsert{Identity: ext("wmB"), Name: "王伟", Follow: &store.Follow{StaffID: "lisi"}})
	c := up(store.CustomerUpsert{Identity: ext("wmC"), Name: "=HYPERLINK(\"x\")", AddTags: []string{"VIP 客户"},
		Link:   []store.Identity{{Kind: store.IdentityUnionID, Value: "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"}},
		Follow: &store.Follow{StaffID: "zhangwei"}, Stage: store.StageWon})
	if _, err := db.UpdateCustomer(ctx, c.ID, store.CustomerUpdate{Now: importNow,
		AddIdentities: []store.Identity{{Kind: store.IdentityPhone, Value: "13100131000"}, {Kind: store.IdentityPhone, Value: "13200132000"}},
		// Values stored by other doors in other forms than the import's.
		Fields: map[string]string{FieldRemark: "-5% 折扣\n第二行", FieldWeChat: "wx_abc", "industry": "制造",
			FieldBirthday: "1990/5/1", FieldEmail: "Mixed@Example.COM", FieldLandline: "010 6234 5678", FieldCompany: "ＡＣＭＥ  Ltd"}}); err != nil {
		t.Fatal(err)
	}
	up(store.CustomerUpsert{Identity: ext("wmC"), Follow: &store.Follow{StaffID: "lisi"}})
	d := up(store.CustomerUpsert{Identity: ext("wmD"), Name: "已删好友", Follow: &store.Follow{StaffID: "zhangwei"}})
	up(store.CustomerUpsert{Identity: d.Identities[0], Unfollow: "zhangwei"})
	up(store.CustomerUpsert{Identity: ext("wmE"), Name: "Ｍｉｋｅ  Ｗａｎｇ", Follow: &store.Follow{StaffID: "other"}})
}

func TestExportReimportChangesNothing(t *testing.T) {
	for _, format := range []string{FormatXLSX, FormatCSV} {
		t.Run(format, func(t *testing.T) {
			ctx := testContext(t)
			db := openStore(t)
			seedStaff(t, db)
			seedExisting(t, db)
			if _, err := Import(ctx, db, readTable(t, "客户.xlsx", xlsxFile(t, messyRows, messyMerges...)), ImportOptions{Now: func() time.Time { return importNow }}); err != nil {
				t.Fatal(err)
			}
			seedHard(t, db)
			before := allCustomers(t, db)

			var buf bytes.Buffer
			n, err := ExportCustomers(ctx, db, &buf, ExportOptions{Format: format, Viewer: adminViewer})
			if err != nil {
				t.Fatalf("export: %v", err)
			}
			if n != len(before) {
				t.Fatalf("exported %d customers, want %d", n, len(before))
			}
			if format == FormatCSV {
				if !bytes.HasPrefix(buf.Bytes(), utf8BOM) {
					t.Error("CSV export lacks the UTF-8 BOM Excel needs")
				}
				if !bytes.Contains(buf.Bytes(), []byte(`'=HYPERLINK`)) {
					t.Error("a formula-like name was not escaped in the CSV")
				}
			}
			tb := readTable(t, "export."+format, buf.Bytes())
			if !slices.Equal(tb.Rows[0], customerHeaders) {
				t.Errorf("headers = %q, want %q", tb.Rows[0], customerHeaders)
			}

			rep, err := Import(ctx, db, tb, ImportOptions{Now: func() time.Time { return importNow.Add(48 * time.Hour) }})
			if err != nil {
				t.Fatalf("re-import: %v", err)
			}
			checkCounts(t, "re-import of the export", rep, counts{rows: len(before), unchanged: len(before)})
			if len(rep.Issues) != 0 {
				t.Errorf("re-import issues: %+v", rep.Issues)
			}
			if after := allCustomers(t, db); !reflect.DeepEqual(after, before) {
				for i := range after {
					if !reflect.DeepEqual(after[i], before[i]) {
						t.Errorf("customer changed:\n was %+v\n now %+v", before[i], after[i])
					}
				}
			}
		})
	}
}

// exportedIDs exports with opts and returns the customer IDs in the file.
func exportedIDs(t *testing.T, db crmStore, opts ExportOptions) []string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := ExportCustomers(testContext(t), db, &buf, opts); err != nil {
		t.Fatalf("export: %v", err)
	}
	tb := readTable(t, "e."+opts.Format, buf.Bytes())
	ids := []string{}
	for _, row := range tb.Rows[1:] {
		ids = append(ids, row[0])
	}
	return ids
}

func TestExportVisibilityAndFilters(t *testing.T) {
	db := openStore(t)
	seedStaff(t, db)
	seedHard(t, db)
	ctx := testContext(t)
	// IDs in creation order: 王伟(zhangwei) 王伟(lisi) =HYPERLINK(zhangwei, lisi) 已删好友(ended) Mike(other)
	all := allCustomers(t, db)
	id := func(i int) string { return all[i].ID }
	late := importNow.Add(72 * time.Hour)
	if _, err := db.UpsertCustomer(ctx, store.CustomerUpsert{Identity: all[1].Identities[0], StaffAt: late, Now: late}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		viewer bot.Viewer
		filter store.CustomerFilter
		want   []string
	}{
		{"admin sees everyone", adminViewer, store.CustomerFilter{}, []string{id(0), id(1), id(2), id(3), id(4)}},
		{"sales sees own follows only", salesViewer, store.CustomerFilter{}, []string{id(0), id(2)}},
		{"manager sees the team", managerViewer, store.CustomerFilter{}, []string{id(0), id(1), id(2)}},
		{"sales asking for another owner gets nothing", salesViewer, store.CustomerFilter{StaffID: "lisi"}, []string{}},
		{"manager filtering by a team member", managerViewer, store.CustomerFilter{StaffID: "lisi"}, []string{id(1), id(2)}},
		{"tag", adminViewer, store.CustomerFilter{Tag: "VIP 客户"}, []string{id(2)}},
		{"stage", adminViewer, store.CustomerFilter{Stage: store.StageWon}, []string{id(2)}},
		{"name query", salesViewer, store.CustomerFilter{Query: "王"}, []string{id(0)}},
		{"last contact after", adminViewer, store.CustomerFilter{LastContactAfter: importNow.Add(time.Hour)}, []string{id(1)}},
		{"last contact before", managerViewer, store.CustomerFilter{LastContactBefore: importNow.Add(time.Hour)}, []string{id(0), id(2)}},
	}
	for _, tc := range tests {
		for _, format := range []string{FormatXLSX, FormatCSV} {
			t.Run(tc.name+"/"+format, func(t *testing.T) {
				got := exportedIDs(t, db, ExportOptions{Format: format, Viewer: tc.viewer, Filter: tc.filter})
				if !slices.Equal(got, tc.want) {
					t.Errorf("exported %v, want %v", got, tc.want)
				}
			})
		}
	}
	t.Run("no viewer", func(t *testing.T) {
		if _, err := ExportCustomers(ctx, db, &bytes.Buffer{}, ExportOptions{Format: FormatCSV}); err == nil {
			t.Error("an export without a viewer succeeded")
		}
	})
	t.Run("bad format", func(t *testing.T) {
		if _, err := ExportCustomers(ctx, db, &bytes.Buffer{}, ExportOptions{Format: "xls", Viewer: adminViewer}); err == nil {
			t.Error("format xls accepted")
		}
	})
}

func TestExportKPIs(t *testing.T) {
	db := openStore(t)
	seedStaff(t, db)
	ctx := testContext(t)
	sh := shanghai()
	now := time.Date(2026, 11, 24, 15, 0, 0, 0, sh)
	n := 0
	add := func(staff string, added time.Time, stage, state string, touched time.Time, ended bool) {
		t.Helper()
		n++
		id := store.Identity{Kind: store.IdentityExternalUserID, Value: "wm" + string(rune('A'+n))}
		u := store.CustomerUpsert{Identity: id, Name: "客户", Stage: stage, StaffAt: touched, Now: added,
			Follow: &store.Follow{StaffID: staff, AddedAt: added, State: state}}
		if _, err := db.UpsertCustomer(ctx, u); err != nil {
			t.Fatal(err)
		}
		if ended {
			if _, err := db.UpsertCustomer(ctx, store.CustomerUpsert{Identity: id, Unfollow: staff, Now: added}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var never time.Time
	// 00:30 on November 1st in Shanghai is still October 31st in UTC.
	add("zhangwei", time.Date(2026, 11, 1, 0, 30, 0, 0, sh), store.StageActive, "", time.Date(2026, 11, 20, 9, 0, 0, 0, sh), false)
	add("zhangwei", time.Date(2026, 10, 31, 23, 30, 0, 0, sh), store.StageDormant, "", time.Date(2026, 10, 31, 23, 0, 0, 0, sh), false)
	add("zhangwei", time.Date(2026, 11, 5, 9, 0, 0, 0, sh), store.StageActive, "", never, true)
	add("lisi", time.Date(2026, 11, 10, 9, 0, 0, 0, sh), store.StageLead, FollowStateImport, never, false)
	add("lisi", time.Date(2026, 9, 1, 9, 0, 0, 0, sh), store.StageLost, "", time.Date(2026, 11, 2, 9, 0, 0, 0, sh), false)
	add("other", time.Date(2026, 11, 3, 9, 0, 0, 0, sh), store.StageLead, "", never, false)

	zw := KPI{StaffID: "zhangwei", Name: "张伟", Customers: 2, NewThisMonth: 1, FollowedUp: 1, Dormant: 1, Lost: 1}
	ls := KPI{StaffID: "lisi", Name: "李四", Customers: 2, NewThisMonth: 0, FollowedUp: 1, Dormant: 0, Lost: 1}
	ot := KPI{StaffID: "other", Name: "孙其", Customers: 1, NewThisMonth: 1}
	ww := KPI{StaffID: "wangwu", Name: "王五"}
	tests := []struct {
		name   string
		viewer bot.Viewer
		want   []KPI
	}{
		{"admin", adminViewer, []KPI{ls, ot, ww, zw}},
		{"manager", managerViewer, []KPI{ls, ww, zw}},
		{"sales", salesViewer, []KPI{zw}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ComputeKPIs(ctx, db, tc.viewer, now, sh)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("kpis:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	for _, format := range []string{FormatXLSX, FormatCSV} {
		t.Run("sheet/"+format, func(t *testing.T) {
			var buf bytes.Buffer
			if _, err := ExportKPIs(ctx, db, &buf, ExportOptions{Format: format, Viewer: managerViewer, Location: sh,
				Now: func() time.Time { return now }}); err != nil {
				t.Fatal(err)
			}
			tb := readTable(t, "k."+format, buf.Bytes())
			want := [][]string{kpiHeaders,
				{"lisi", "李四", "2", "0", "1", "0", "1", "2026-11"},
				{"wangwu", "王五", "0", "0", "0", "0", "0", "2026-11"},
				{"zhangwei", "张伟", "2", "1", "1", "1", "1", "2026-11"}}
			if !reflect.DeepEqual(tb.Rows, want) {
				t.Errorf("sheet:\n got %q\nwant %q", tb.Rows, want)
			}
		})
	}
}

func TestExportCSVEscaping(t *testing.T) {
	tests := []struct{ in, want string }{
		{"=1+1", "'=1+1"}, {"+86", "'+86"}, {"-5", "'-5"}, {"@x", "'@x"}, {"张三", "张三"}, {"", ""}, {"'=x", "'=x"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got := escapeCell(tc.in)
			if got != tc.want {
				t.Errorf("escapeCell(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if back := unescapeCell(got); back != tc.in && !strings.HasPrefix(tc.in, "'") {
				t.Errorf("unescapeCell(%q) = %q, want %q", got, back, tc.in)
			}
		})
	}
}

// TestImportExportOnMongo runs the messy sheet, its re-import and an
// export's re-import on the cluster backend (FerretDB, or SCRM_TEST_MONGO_URI).
func TestImportExportOnMongo(t *testing.T) {
	ctx := testContext(t)
	db, err := mongo.Open(ctx, mongotest.Start(t), mongotest.DBName(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seedStaff(t, db)
	seedExisting(t, db)
	opts := ImportOptions{Now: func() time.Time { return importNow }}
	tb := readTable(t, "客户.xlsx", xlsxFile(t, messyRows, messyMerges...))
	rep, err := Import(ctx, db, tb, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "import", rep, counts{rows: 12, blank: 1, rejected: 4, mergedRows: 3, created: 3, updated: 2})
	checkIssues(t, rep.Issues, wantMessyIssues)
	seedHard(t, db)
	before := allCustomers(t, db)
	if rep, err = Import(ctx, db, tb, opts); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "re-import", rep, counts{rows: 12, blank: 1, rejected: 4, mergedRows: 3, unchanged: 5})
	var buf bytes.Buffer
	if _, err := ExportCustomers(ctx, db, &buf, ExportOptions{Format: FormatXLSX, Viewer: adminViewer}); err != nil {
		t.Fatal(err)
	}
	if rep, err = Import(ctx, db, readTable(t, "e.xlsx", buf.Bytes()), opts); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "re-import of the export", rep, counts{rows: len(before), unchanged: len(before)})
	if after := allCustomers(t, db); !reflect.DeepEqual(after, before) {
		t.Errorf("the re-imports changed customers on MongoDB")
	}
}

// TestExportNamesCustomersChannels: the export's 来源渠道 column names the
// channels a customer came through, the first first, and is read-only on
// import.
func TestExportNamesCustomersChannels(t *testing.T) {
	ctx := testContext(t)
	db := openStore(t)
	seedStaff(t, db)
	now := time.Date(2026, 11, 2, 3, 0, 0, 0, time.UTC)
	a, err := db.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: "wmChanA"}, Name: "渠道客户", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: "wmChanB"}, Name: "自然客户", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"展会海报", "官网客服"} {
		id := fmt.Sprintf("ch%d", i)
		if err := db.CreateChannel(ctx, &store.Channel{ID: id, Name: name, Kind: store.ChannelKindContactWay, State: "scrm-" + id, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.RecordChannelEvent(ctx, store.ChannelEvent{Key: "add:" + id, ChannelID: id, Kind: store.ChannelEventAdd,
			CustomerID: a.ID, StaffID: "zhangsan", At: now.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := ExportCustomers(ctx, db, &buf, ExportOptions{Format: FormatCSV, Viewer: adminViewer}); err != nil {
		t.Fatal(err)
	}
	tb := readTable(t, "export.csv", buf.Bytes())
	col := slices.Index(tb.Rows[0], "来源渠道")
	if col < 0 {
		t.Fatalf("no 来源渠道 column in %q", tb.Rows[0])
	}
	got := map[string]string{}
	for _, r := range tb.Rows[1:] {
		got[r[0]] = r[col]
	}
	if got[a.ID] != "展会海报、官网客服" || got[b.ID] != "" {
		t.Errorf("来源渠道 = %q for the attributed customer, %q for the other; want 展会海报、官网客服 and empty", got[a.ID], got[b.ID])
	}
}
