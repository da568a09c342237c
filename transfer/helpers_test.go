package transfer

import (
	"bytes"
	"context"
	"encoding/csv"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/mongo"
	"github.com/scrmhq/scrm/store/sqlite"
)

// crmStore is what the tests seed and inspect; both backends are one.
type crmStore interface {
	store.Store
	store.CustomerAdmin
	store.StaffStore
}

// The backends implement what transfer needs.
var (
	_ ImportStore = (*sqlite.DB)(nil)
	_ ImportStore = (*mongo.DB)(nil)
	_ crmStore    = (*sqlite.DB)(nil)
	_ crmStore    = (*mongo.DB)(nil)
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openStore opens an empty embedded store in a temporary directory.
func openStore(t *testing.T, opts ...sqlite.Option) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(testContext(t), t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return db
}

// seedStaff adds a small sales team: two salespeople and their manager,
// plus a salesperson who left.
func seedStaff(t *testing.T, db crmStore) {
	t.Helper()
	for _, s := range []*store.Staff{
		{ID: "zhangwei", Name: "张伟", Role: "sales", Active: true},
		{ID: "lisi", Name: "李四", Role: "sales", Active: true},
		{ID: "wangwu", Name: "王五", Role: "manager", Team: []string{"zhangwei", "lisi"}, Active: true},
		{ID: "zhaoliu", Name: "赵六", Role: "sales", Active: false},
		{ID: "other", Name: "孙其", Role: "sales", Active: true},
	} {
		if err := db.UpsertStaff(testContext(t), s); err != nil {
			t.Fatalf("seed staff: %v", err)
		}
	}
}

// xlsxFile builds a workbook with one sheet of the given rows (any cell
// values: strings, numbers) and merged ranges ("A1:C1").
func xlsxFile(t *testing.T, rows [][]any, merges ...string) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sheet := "客户名单"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		t.Fatal(err)
	}
	for i, row := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if len(row) == 0 {
			continue
		}
		if err := f.SetSheetRow(sheet, cell, &row); err != nil {
			t.Fatalf("xlsx row %d: %v", i+1, err)
		}
	}
	for _, m := range merges {
		a, b, _ := bytes.Cut([]byte(m), []byte(":"))
		if err := f.MergeCell(sheet, string(a), string(b)); err != nil {
			t.Fatalf("merge %s: %v", m, err)
		}
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gbkCSV encodes rows as CSV in GBK, as Chinese Excel's "CSV" does.
func gbkCSV(t *testing.T, rows [][]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	if err := w.WriteAll(rows); err != nil {
		t.Fatal(err)
	}
	out, err := simplifiedchinese.GBK.NewEncoder().Bytes(buf.Bytes())
	if err != nil {
		t.Fatalf("encode GBK: %v", err)
	}
	return out
}

// allCustomers reads every customer in ID order.
func allCustomers(t *testing.T, db crmStore) []*store.Customer {
	t.Helper()
	var out []*store.Customer
	if err := eachCustomer(testContext(t), db, store.CustomerFilter{}, func(c *store.Customer) error {
		out = append(out, c)
		return nil
	}); err != nil {
		t.Fatalf("list customers: %v", err)
	}
	return out
}

func customerByPhone(t *testing.T, db crmStore, phone string) *store.Customer {
	t.Helper()
	c, err := db.FindCustomerByIdentity(testContext(t), store.Identity{Kind: store.IdentityPhone, Value: phone})
	if err != nil {
		t.Fatalf("find customer by phone %s: %v", phone, err)
	}
	return c
}

func readTable(t *testing.T, name string, data []byte) *Table {
	t.Helper()
	tb, err := ReadTable(name, bytes.NewReader(data), "")
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return tb
}
