package transfer

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

// TestImportKeepsTextAsWritten: a workbook's cells are typed text, so a
// name the user wrote as "'=x" or "＝x" is stored as written (not turned
// into "=x", which every later export would have to defuse), and a name
// longer than the API allows (128 characters) rejects its row.
func TestImportKeepsTextAsWritten(t *testing.T) {
	ctx := testContext(t)
	db := openStore(t)
	seedStaff(t, db)
	long := strings.Repeat("长", MaxNameRunes+1)
	rows := [][]any{{"姓名", "手机", "公司", "备注"},
		{"'=x", "13800138001", "＝公司", "'@SUM(1)"},
		{"＝HYPERLINK(1)", "13800138002", "", ""},
		{long, "13800138003", "", ""},
		{strings.Repeat("长", MaxNameRunes), "13800138004", "", ""}}
	rep, err := Import(ctx, db, readTable(t, "w.xlsx", xlsxFile(t, rows)), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 3 || rep.Rejected != 1 || len(rep.Issues) != 1 || rep.Issues[0].Row != 4 || !strings.Contains(rep.Issues[0].Reason, "姓名过长") {
		t.Errorf("report: %s", reportText(rep))
	}
	want := map[string][3]string{
		"13800138001": {"'=x", "＝公司", "'@SUM(1)"},
		"13800138002": {"＝HYPERLINK(1)", "", ""},
		"13800138004": {strings.Repeat("长", MaxNameRunes), "", ""},
	}
	for phone, w := range want {
		c, err := db.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityPhone, Value: phone})
		if err != nil {
			t.Fatal(err)
		}
		if got := [3]string{c.Name, c.Fields[FieldCompany], c.Fields[FieldRemark]}; got != w {
			t.Errorf("%s stored as %q, want %q", phone, got, w)
		}
	}
	if _, err := db.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityPhone, Value: "13800138003"}); err == nil {
		t.Error("the row with a 129-character name was imported")
	}
}

// TestExportImportRoundTripExact: customers whose names and fields start
// with formula characters, an apostrophe or a full-width equals sign are
// exported as CSV (escaped) and as xlsx, and each export re-imports with no
// change at all. A CSV someone else wrote follows Excel's reading of a
// leading apostrophe: "'=x" is the text "=x".
func TestExportImportRoundTripExact(t *testing.T) {
	ctx := testContext(t)
	db := openStore(t)
	seedStaff(t, db)
	for i, v := range []string{"=x", "'=x", "＝x", "+1", "-2", "@y", "''=z", "'plain"} {
		c, err := db.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityPhone, Value: "1390013900" + string(rune('0'+i))},
			Name: v, Follow: &store.Follow{StaffID: "zhangwei"}, Now: importNow})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.UpdateCustomer(ctx, c.ID, store.CustomerUpdate{Fields: map[string]string{FieldRemark: v, FieldCompany: v + "公司" + string(rune('0'+i))}, Now: importNow}); err != nil {
			t.Fatal(err)
		}
	}
	before := allCustomers(t, db)
	for _, format := range []string{FormatCSV, FormatXLSX} {
		var buf bytes.Buffer
		if _, err := ExportCustomers(ctx, db, &buf, ExportOptions{Format: format, Viewer: adminViewer}); err != nil {
			t.Fatal(err)
		}
		tb := readTable(t, "e."+format, buf.Bytes())
		rep, err := Import(ctx, db, tb, ImportOptions{Now: func() time.Time { return importNow }})
		if err != nil {
			t.Fatal(err)
		}
		checkCounts(t, format+" re-import", rep, counts{rows: len(before), unchanged: len(before)})
		if after := allCustomers(t, db); !reflect.DeepEqual(after, before) {
			t.Errorf("the %s re-import changed customers", format)
		}
	}
	tb, err := ReadTable("own.csv", strings.NewReader("姓名,手机\n'=x,13700137000\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Import(ctx, db, tb, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	c, err := db.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityPhone, Value: "13700137000"})
	if err != nil || c.Name != "=x" {
		t.Errorf("a CSV's '=x imported as %v (%v), want =x", c, err)
	}
}
