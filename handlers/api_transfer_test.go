package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/transfer"
	"github.com/scrmhq/scrm/transfer/transfertest"
)

// upload posts a sheet to /api/v1/imports as multipart form data.
func (a *apiEnv) upload(t *testing.T, token, name string, sheet []byte, fields map[string]string) (int, []byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(sheet)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	req, err := http.NewRequest("POST", a.base+"/api/v1/imports", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestImportAPI(t *testing.T) {
	a := newAPIEnv(t)
	ctx := context.Background()
	before, err := a.st.CountCustomers(ctx, store.CustomerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	// 张三 matches fixture c1 (same name, and the mapping adds his phone via
	// the customer ID column); the others are new; one row is rejected.
	sheet := "客户ID,姓名,手机,负责人,阶段\n" +
		a.ids["c1"] + ",张三,+86 138 0013 8000,a1,\n" +
		",新客户甲,13900139000,销售A2,新线索\n" +
		",新客户乙,13700137000,nobody,\n"
	exp := apiNow.Add(time.Hour)

	if status, _ := a.upload(t, mint(t, apiTok, "mgrA", exp), "c.csv", []byte(sheet), nil); status != 403 {
		t.Errorf("a manager's import: status %d, want 403", status)
	}
	if status, _ := a.upload(t, mint(t, apiTok, "a1", exp), "c.csv", []byte(sheet), nil); status != 403 {
		t.Errorf("a salesperson's import: status %d, want 403", status)
	}
	status, body := a.upload(t, apiTok, "c.csv", []byte(sheet), map[string]string{"dry_run": "true"})
	if status != 200 {
		t.Fatalf("dry run: %d %s", status, body)
	}
	var rep transfer.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.DryRun || rep.Created != 1 || rep.Updated != 1 || rep.Rejected != 1 || len(rep.Issues) != 1 || rep.Issues[0].Row != 4 {
		t.Errorf("dry run report: %s", body)
	}
	if n, _ := a.st.CountCustomers(ctx, store.CustomerFilter{}); n != before {
		t.Fatalf("the dry run wrote customers: %d → %d", before, n)
	}

	status, body = a.upload(t, apiTok, "c.csv", []byte(sheet), nil)
	if status != 200 {
		t.Fatalf("import: %d %s", status, body)
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.DryRun || rep.Created != 1 || rep.Updated != 1 || rep.Rejected != 1 {
		t.Errorf("import report: %s", body)
	}
	c1, err := a.st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityPhone, Value: "13800138000"})
	if err != nil || c1.ID != a.ids["c1"] {
		t.Errorf("the phone went to %v (%v), want fixture c1 %s", c1, err, a.ids["c1"])
	}
	if n, _ := a.st.CountCustomers(ctx, store.CustomerFilter{}); n != before+1 {
		t.Errorf("%d customers after import, want %d", n, before+1)
	}
	status, body = a.upload(t, apiTok, "c.csv", []byte(sheet), nil)
	if err := json.Unmarshal(body, &rep); err != nil || status != 200 || rep.Created != 0 || rep.Updated != 0 || rep.Unchanged != 2 {
		t.Errorf("re-import: %d %s", status, body)
	}

	bad := []struct {
		name   string
		file   []byte
		fields map[string]string
	}{
		{"xls", []byte{0xd0, 0xcf, 0x11, 0xe0, 0, 0, 0, 0}, nil},
		{"no known header", []byte("foo,bar\n1,2\n"), nil},
		{"bad mapping", []byte(sheet), map[string]string{"mapping": "columns:\n  姓名: nonsense\n"}},
		{"bad dry_run", []byte(sheet), map[string]string{"dry_run": "maybe"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := a.upload(t, apiTok, "x.csv", tc.file, tc.fields); status != 400 {
				t.Errorf("status %d %s, want 400", status, body)
			}
		})
	}
}

// exported exports customers as token with query (format first) and
// returns the fixture keys of the customers in the file, sorted.
func (a *apiEnv) exported(t *testing.T, token, query string) []string {
	t.Helper()
	status, body := a.do(t, "GET", "/api/v1/exports/customers?"+query, token, nil)
	if status != 200 {
		t.Fatalf("export %s: %d %s", query, status, body)
	}
	format, _, _ := strings.Cut(strings.TrimPrefix(query, "format="), "&")
	tb, err := transfer.ReadTable("e."+format, bytes.NewReader(body), "")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, row := range tb.Rows[1:] {
		keys = append(keys, a.keys[row[0]])
	}
	slices.Sort(keys)
	return keys
}

// TestExportAPIVisibility exports as every principal of the fixture and
// checks the file holds exactly the customers they may see, in both
// formats, and that each export is audited.
func TestExportAPIVisibility(t *testing.T) {
	a := newAPIEnv(t)
	for _, p := range a.principals(t) {
		for _, format := range []string{"xlsx", "csv"} {
			t.Run(p.name+"/"+format, func(t *testing.T) {
				if keys := a.exported(t, p.token, "format="+format); !slices.Equal(keys, p.sees) {
					t.Errorf("exported %v, want %v", keys, p.sees)
				}
			})
		}
	}
	t.Run("filters", func(t *testing.T) {
		tok := mint(t, apiTok, "mgrA", apiNow.Add(time.Hour))
		tests := []struct {
			query string
			want  []string
		}{
			{"tag=VIP", []string{"c1", "c2", "c7"}},
			{"owner=a2", []string{"c2", "c8"}},
			{"owner=b1", nil},
			{"stage=" + store.StageWon, []string{"c4"}},
			{"last_contact_after=2024-04-15", []string{"c2", "c7"}},
			{"last_contact_before=2024-03-15", []string{"c1", "c4", "c8"}},
			{"q=张", []string{"c1", "c8"}},
		}
		for _, tc := range tests {
			if keys := a.exported(t, tok, "format=csv&"+tc.query); !slices.Equal(keys, tc.want) {
				t.Errorf("%s: exported %v, want %v", tc.query, keys, tc.want)
			}
		}
	})
	t.Run("headers and audit", func(t *testing.T) {
		req, _ := http.NewRequest("GET", a.base+"/api/v1/exports/kpis?format=xlsx", nil)
		req.Header.Set("Authorization", "Bearer "+mint(t, apiTok, "mgrB", apiNow.Add(time.Hour)))
		resp, err := a.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), "kpis-20240601.xlsx") ||
			!strings.Contains(resp.Header.Get("Content-Type"), "spreadsheetml") {
			t.Fatalf("kpis: %d %v", resp.StatusCode, resp.Header)
		}
		tb, err := transfer.ReadTable("k.xlsx", bytes.NewReader(body), "")
		if err != nil {
			t.Fatal(err)
		}
		var staff []string
		for _, row := range tb.Rows[1:] {
			staff = append(staff, row[0])
		}
		if !slices.Equal(staff, []string{"b1", "mgrB"}) {
			t.Errorf("manager B's KPIs cover %v, want [b1 mgrB]", staff)
		}
		audit := a.audit(t, "customers", 100)
		var exports int
		for _, e := range audit {
			if e.Action == "export" {
				exports++
			}
		}
		if exports < 2*len(a.principals(t))+1 {
			t.Errorf("%d exports audited, want every one", exports)
		}
		if status, _ := a.do(t, "GET", "/api/v1/exports/customers?format=pdf", apiTok, nil); status != 400 {
			t.Errorf("format=pdf: status %d, want 400", status)
		}
	})
}

// TestImportAPIRefusesZipBomb posts a 200 KB-class workbook whose sheet
// inflates to 200 MB: the server answers 413 with the Chinese reason
// within seconds, its memory stays under 300 MB above where it stood, and
// nothing is left in the temporary directory.
func TestImportAPIRefusesZipBomb(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	a := newAPIEnv(t)
	bomb := transfertest.ZipBomb(t, 200<<20, 0)
	var (
		status int
		body   []byte
	)
	start := time.Now()
	growth := transfertest.PeakGrowthMB(t, func() { status, body = a.upload(t, apiTok, "bomb.xlsx", bomb, nil) })
	elapsed := time.Since(start)
	t.Logf("%d KB: %d %s in %s, peak RSS growth %d MB", len(bomb)>>10, status, body, elapsed.Round(time.Millisecond), growth)
	if status != 413 || !strings.Contains(string(body), "文件解压后过大") {
		t.Errorf("answer %d %s, want 413 with the Chinese reason", status, body)
	}
	if elapsed > 10*time.Second {
		t.Errorf("refusing took %s, want under 10s", elapsed)
	}
	if growth > 300 {
		t.Errorf("peak resident memory grew by %d MB, want under 300", growth)
	}
	transfertest.CheckEmptyDir(t, tmp)
}
