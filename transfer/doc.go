// Package transfer gets a company's customers in and out of scrm:
// spreadsheet import with de-duplication, spreadsheet export of customers
// and manager KPIs, and backup and restore of the embedded store. It owns
// the spreadsheet dependency (excelize) and the GBK decoding; the CLI
// (scrm import / export / backup / restore) and the API (POST /imports,
// GET /exports/...) are thin doors onto it.
//
// # Reading
//
// ReadTable reads .xlsx (raw cell values, so phone numbers stay digits and
// dates arrive as serial numbers; merged cells read as their range's value)
// and CSV: UTF-8 with or without BOM, UTF-16 with BOM, and GBK — text that
// is valid UTF-8 is UTF-8, anything else is decoded as GB18030 (GBK's
// superset). A workbook is refused before it is parsed when its parts
// declare more than 128 MB in all or a compression ratio over 100:1, or
// inflate to other than they declare; its sheet is then read row by row,
// at most five million cells. Columns are found by their headers: Chinese and English names
// (姓名/客户名称/name, 手机/电话/mobile, 公司/单位, 职位, 标签, 负责人/销售,
// 阶段, 备注, 生日, 到期日/续费日期, 微信, unionid, 邮箱 …) after
// normalisation (full-width to half-width, case, spaces, "（必填）" and
// other bracketed hints, "*" markers, trailing digits), then by the parts of
// a combined header ("姓名/Name"), then by its head word ("客户手机号码" is
// a phone, "公司地址" is nothing). The header row is the one among the
// first ten that maps the most targets, so title rows and two-row headers
// (a merged group title over sub-headers) work. A YAML Mapping overrides
// any of this.
//
// # Validation
//
// Mobiles in any common form (+86, 0086, 86-, spaces, dashes, dots,
// full-width digits) become 11 digits; landlines (with area code, 400/800,
// extensions) are kept in the landline field. Dates (2026-01-02, 2026/1/2,
// 2026年1月2日, 20260102, Excel serials, a trailing time) become
// YYYY-MM-DD; a birthday without a year becomes "--MM-DD". The rule for
// bad values: what the CRM must act on — the phone (the identity), the
// owner (who sees the customer), the stage — rejects the whole row, since
// importing it without would hide the customer from the right salesperson
// or create a duplicate later, and a fixed sheet re-imports cleanly; what
// is only recorded — dates, email, landline — is dropped with a warning.
// Every issue names its sheet row, column and value, with the reason in
// Chinese.
//
// # De-duplication
//
// Rows of one person are merged within the file: the same phone, unionid,
// customer ID (an export's 客户ID column), or name and company; a row with
// only a name joins the one person of that name who has a phone, if there
// is exactly one. Earlier rows win; later rows fill blanks, tags and owners
// are united, and differing values are reported. Each person is then
// matched against the store: by phone, unionid, customer ID or the
// synthetic identity below (several matches are merged by the store into
// the oldest), else by name and company. A matched customer is updated
// field by field — sheet values replace stored ones, empty cells leave them
// alone, tags and owners are only added — and a customer the sheet matches
// exactly is not written at all, which is why a second import changes
// nothing. A new customer is created with UpsertCustomer on its phone (or
// unionid) identity; without either, on the synthetic identity "import" /
// hash(name, company), so re-importing finds it again, then UpdateCustomer
// sets its fields. The owner becomes a Follow with State "import". A store
// that also offers UpsertCustomerBatch (many such writes in one
// transaction) gets the writes in batches of 500; a batch that fails with
// a conflict is retried one customer at a time.
//
// # Export
//
// ExportCustomers writes the customers matching the API's filters that a
// bot.Viewer may see (scope narrows the query, CanSee checks every row),
// with Chinese headers whose every column maps back on import, so an
// export re-imports with no change. CSV is UTF-8 with a BOM for Excel, and
// cells that Excel would run as formulas get a leading apostrophe, which
// the import of a CSV reads as Excel does (the text after it); a workbook's
// cells are typed text, kept as written. A stored value matching the cell
// either way is not a change, so both formats re-import exactly. ComputeKPIs counts, per salesperson in the viewer's
// scope, customers, new follows this month, customers followed up this
// month, dormant and lost.
//
// # Backup and restore
//
// Backup takes a consistent online snapshot of the SQLite store with VACUUM
// INTO (WAL lets it run beside the server), readable by its owner only, and
// verifies it; Restore verifies a snapshot (integrity_check,
// foreign_key_check, schema version not newer than this binary, tables,
// indexes, triggers and views exactly those of its version), refuses a non-empty data directory unless
// forced (and then moves the old store aside), copies, opens, verifies
// again and compares the row count of every table.
package transfer

import (
	"context"
	"io"
)

// Sheets is the spreadsheet door the HTTP edge calls: imports and exports
// over one store, so the edge holds no store of its own.
type Sheets struct{ st SheetsStore }

// SheetsStore is what the spreadsheet door reads and writes.
type SheetsStore interface {
	ImportStore
	ExportStore
}

// NewSheets returns the spreadsheet door over st.
func NewSheets(st SheetsStore) *Sheets { return &Sheets{st: st} }

// Import is Import over the door's store.
func (s *Sheets) Import(ctx context.Context, t *Table, opts ImportOptions) (*Report, error) {
	return Import(ctx, s.st, t, opts)
}

// ExportCustomers is ExportCustomers over the door's store.
func (s *Sheets) ExportCustomers(ctx context.Context, w io.Writer, opts ExportOptions) (int, error) {
	return ExportCustomers(ctx, s.st, w, opts)
}

// ExportKPIs is ExportKPIs over the door's store.
func (s *Sheets) ExportKPIs(ctx context.Context, w io.Writer, opts ExportOptions) ([]KPI, error) {
	return ExportKPIs(ctx, s.st, w, opts)
}
