package transfer

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// Export formats.
const (
	FormatXLSX = "xlsx"
	FormatCSV  = "csv"
)

// ErrBadFormat is returned for a format other than xlsx and csv.
var ErrBadFormat = errors.New("transfer: format must be xlsx or csv")

// ErrNoViewer is returned when an export is asked for without saying who
// asks: visibility cannot be decided.
var ErrNoViewer = errors.New("transfer: export needs a viewer")

var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// ExportStore is what an export needs of a backend.
type ExportStore interface {
	FindCustomers(ctx context.Context, f store.CustomerFilter) ([]*store.Customer, error)
	FindStaff(ctx context.Context) ([]*store.Staff, error)
	// The channels customers came through (来源渠道).
	FindChannels(ctx context.Context, f store.ChannelFilter) ([]*store.Channel, error)
	FindChannelEvents(ctx context.Context, f store.ChannelEventFilter) ([]store.ChannelEvent, error)
}

// ExportOptions say what to export, for whom, and how.
type ExportOptions struct {
	Format string // FormatXLSX or FormatCSV
	// Filter selects customers as the API's list does: StaffID (owner), Tag,
	// Stage, LastContactBefore/After, Query. AfterID and Limit are ignored.
	Filter store.CustomerFilter
	// Viewer is who exports; only the customers they may see are written.
	Viewer   bot.Viewer
	Location *time.Location // business time zone for dates (default Asia/Shanghai)
	Now      func() time.Time
}

func (o *ExportOptions) defaults() error {
	if o.Format != FormatXLSX && o.Format != FormatCSV {
		return fmt.Errorf("%w, not %q", ErrBadFormat, o.Format)
	}
	if o.Viewer.Role == "" {
		return ErrNoViewer
	}
	if o.Location == nil {
		o.Location = shanghai()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

func shanghai() *time.Location {
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	return time.FixedZone("CST", 8*3600)
}

// customerHeaders are the export's columns; every one of them maps back
// to the same target on import (the last three are read-only and ignored).
var customerHeaders = []string{"客户ID", "姓名", "手机", "座机", "公司", "职位", "邮箱", "微信号", "unionid", "标签",
	"负责人", "负责人ID", "阶段", "备注", "生日", "到期日", "最近联系", "创建时间", "来源渠道"}

// ExportCustomers writes the customers that match opts.Filter and that
// opts.Viewer may see, ordered by ID, with Chinese headers. CSV is UTF-8
// with a BOM so that Excel opens it correctly. It returns how many
// customers were written.
func ExportCustomers(ctx context.Context, st ExportStore, w io.Writer, opts ExportOptions) (int, error) {
	if err := opts.defaults(); err != nil {
		return 0, err
	}
	staff, err := st.FindStaff(ctx)
	if err != nil {
		return 0, fmt.Errorf("transfer: export: load staff: %w", err)
	}
	names := map[string]string{}
	for _, s := range staff {
		names[s.ID] = s.Name
	}
	channels, err := customerChannels(ctx, st)
	if err != nil {
		return 0, err
	}
	sw, err := newSheetWriter(opts.Format, w, "客户", customerHeaders)
	if err != nil {
		return 0, err
	}
	n := 0
	err = eachVisible(ctx, st, opts.Filter, opts.Viewer, func(c *store.Customer) error {
		n++
		return sw.row(append(customerRow(c, names, opts.Location), strings.Join(channels[c.ID], "、")))
	})
	if err != nil {
		return 0, fmt.Errorf("transfer: export customers: %w", err)
	}
	if err := sw.close(); err != nil {
		return 0, fmt.Errorf("transfer: export customers: %w", err)
	}
	return n, nil
}

// customerChannels maps customer IDs to the names of the channels they
// came through, the first first: read once for the whole export rather
// than once a customer.
func customerChannels(ctx context.Context, st ExportStore) (map[string][]string, error) {
	chs, err := st.FindChannels(ctx, store.ChannelFilter{IncludeDeleted: true})
	if err != nil {
		return nil, fmt.Errorf("transfer: export: load channels: %w", err)
	}
	names := map[string]string{}
	for _, ch := range chs {
		names[ch.ID] = ch.Name
	}
	evs, err := st.FindChannelEvents(ctx, store.ChannelEventFilter{Kind: store.ChannelEventAdd})
	if err != nil {
		return nil, fmt.Errorf("transfer: export: load channel events: %w", err)
	}
	out := map[string][]string{}
	for _, e := range evs {
		name := cmp.Or(names[e.ChannelID], e.ChannelID)
		if !slices.Contains(out[e.CustomerID], name) {
			out[e.CustomerID] = append(out[e.CustomerID], name)
		}
	}
	return out, nil
}

// eachVisible pages through the customers matching f that v may see. The
// viewer's scope narrows the query, and every customer is checked with
// CanSee as well, so a backend that serves a filter loosely still cannot
// leak anyone.
func eachVisible(ctx context.Context, st ExportStore, f store.CustomerFilter, v bot.Viewer, fn func(*store.Customer) error) error {
	f.AfterID, f.Limit = "", 0
	if scope := v.Scope(); scope != nil {
		switch {
		case f.StaffID != "" && !slices.Contains(scope, f.StaffID):
			return nil // another team's owner: nothing to see
		case f.StaffID != "":
		case len(scope) == 1:
			f.StaffID = scope[0]
		default:
			f.StaffIDs = scope
		}
	}
	return eachCustomer(ctx, st, f, func(c *store.Customer) error {
		if !v.CanSee(c) {
			return nil
		}
		return fn(c)
	})
}

func customerRow(c *store.Customer, names map[string]string, loc *time.Location) []string {
	var phones, unionids []string
	for _, id := range c.Identities {
		switch id.Kind {
		case store.IdentityPhone:
			phones = append(phones, id.Value)
		case store.IdentityUnionID:
			unionids = append(unionids, id.Value)
		}
	}
	var ownerNames, ownerIDs []string
	for _, f := range c.Follows {
		if f.Deleted {
			continue
		}
		ownerIDs = append(ownerIDs, f.StaffID)
		ownerNames = append(ownerNames, cmp.Or(names[f.StaffID], f.StaffID))
	}
	last := ""
	if t := lastContact(c); !t.IsZero() {
		last = t.In(loc).Format("2006-01-02 15:04")
	}
	fl := c.Fields
	return []string{
		c.ID, c.Name, strings.Join(phones, "/"), fl[FieldLandline], fl[FieldCompany], fl[FieldTitle], fl[FieldEmail],
		fl[FieldWeChat], strings.Join(unionids, "/"), strings.Join(c.Tags, "，"),
		strings.Join(ownerNames, "、"), strings.Join(ownerIDs, "、"), c.Stage, fl[FieldRemark],
		fl[FieldBirthday], fl[FieldRenewal], last, c.CreatedAt.In(loc).Format("2006-01-02 15:04"),
	}
}

// lastContact is the later of the customer's last message and the last
// staff touch, as the API's filters define it.
func lastContact(c *store.Customer) time.Time {
	var t time.Time
	if c.LastCustomerMsgAt != nil {
		t = *c.LastCustomerMsgAt
	}
	if c.LastStaffTouchAt != nil && c.LastStaffTouchAt.After(t) {
		t = *c.LastStaffTouchAt
	}
	return t
}

// KPI is one salesperson's figures for the month containing the export time.
type KPI struct {
	StaffID string `json:"staff_id"`
	Name    string `json:"name"`
	// Customers they follow now.
	Customers int `json:"customers"`
	// NewThisMonth: follows added this month (imported ones left out: they
	// were not acquired this month).
	NewThisMonth int `json:"new_this_month"`
	// FollowedUp: their customers with a staff touch this month.
	FollowedUp int `json:"followed_up"`
	// Dormant: their customers in stage 沉睡.
	Dormant int `json:"dormant"`
	// Lost: customers in stage 流失 or who ended the follow (deleted the
	// salesperson or were deleted).
	Lost int `json:"lost"`
}

// ComputeKPIs computes the manager KPIs for every salesperson v may see:
// all staff for an admin, the team for a manager, themselves for sales.
// Months are calendar months in loc.
func ComputeKPIs(ctx context.Context, st ExportStore, v bot.Viewer, now time.Time, loc *time.Location) ([]KPI, error) {
	if v.Role == "" {
		return nil, ErrNoViewer
	}
	if loc == nil {
		loc = shanghai()
	}
	local := now.In(loc)
	month := time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, loc)
	scope := v.Scope()
	inScope := func(id string) bool { return scope == nil || slices.Contains(scope, id) }

	staff, err := st.FindStaff(ctx)
	if err != nil {
		return nil, fmt.Errorf("transfer: kpis: load staff: %w", err)
	}
	byID := map[string]*KPI{}
	get := func(id string) *KPI {
		k := byID[id]
		if k == nil {
			k = &KPI{StaffID: id, Name: id}
			byID[id] = k
		}
		return k
	}
	// Active staff appear even with no customers (a zero is a figure too);
	// anyone else appears through their follows.
	for _, s := range staff {
		if inScope(s.ID) && s.Active {
			get(s.ID)
		}
	}
	// The figures are counts per salesperson in the viewer's scope, not
	// customer data, so the scan counts ended follows too (CanSee would hide
	// exactly the customers a salesperson lost).
	err = eachCustomer(ctx, st, store.CustomerFilter{}, func(c *store.Customer) error {
		touched := c.LastStaffTouchAt != nil && !c.LastStaffTouchAt.Before(month)
		for _, f := range c.Follows {
			if !inScope(f.StaffID) {
				continue
			}
			k := get(f.StaffID)
			if f.Deleted || c.Stage == store.StageLost {
				k.Lost++
			}
			if f.Deleted {
				continue
			}
			k.Customers++
			if !f.AddedAt.Before(month) && f.State != FollowStateImport {
				k.NewThisMonth++
			}
			if touched {
				k.FollowedUp++
			}
			if c.Stage == store.StageDormant {
				k.Dormant++
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("transfer: kpis: %w", err)
	}
	for _, s := range staff {
		if k := byID[s.ID]; k != nil && s.Name != "" {
			k.Name = s.Name
		}
	}
	out := make([]KPI, 0, len(byID))
	for _, k := range byID {
		out = append(out, *k)
	}
	slices.SortFunc(out, func(a, b KPI) int { return cmp.Compare(a.StaffID, b.StaffID) })
	return out, nil
}

var kpiHeaders = []string{"员工ID", "姓名", "客户数", "本月新增", "本月跟进", "沉睡", "流失", "统计月份"}

// ExportKPIs writes ComputeKPIs for opts.Viewer as a sheet (opts.Filter is
// not used).
func ExportKPIs(ctx context.Context, st ExportStore, w io.Writer, opts ExportOptions) ([]KPI, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	now := opts.Now()
	kpis, err := ComputeKPIs(ctx, st, opts.Viewer, now, opts.Location)
	if err != nil {
		return nil, err
	}
	sw, err := newSheetWriter(opts.Format, w, "销售KPI", kpiHeaders)
	if err != nil {
		return nil, err
	}
	month := now.In(opts.Location).Format("2006-01")
	for _, k := range kpis {
		err := sw.row([]string{k.StaffID, k.Name, strconv.Itoa(k.Customers), strconv.Itoa(k.NewThisMonth),
			strconv.Itoa(k.FollowedUp), strconv.Itoa(k.Dormant), strconv.Itoa(k.Lost), month})
		if err != nil {
			return nil, fmt.Errorf("transfer: export kpis: %w", err)
		}
	}
	if err := sw.close(); err != nil {
		return nil, fmt.Errorf("transfer: export kpis: %w", err)
	}
	return kpis, nil
}

// sheetWriter writes rows as xlsx or csv.
type sheetWriter struct {
	w      io.Writer
	csv    *csv.Writer
	xlsx   *excelize.File
	stream *excelize.StreamWriter
	next   int // next xlsx row, 1-based
	// numeric columns are written as numbers in xlsx (KPIs), text otherwise
	// so that phone numbers and IDs never turn into 1.38E+10.
	numeric map[int]bool
}

func newSheetWriter(format string, w io.Writer, sheet string, headers []string) (*sheetWriter, error) {
	sw := &sheetWriter{w: w}
	if format == FormatCSV {
		if _, err := w.Write(utf8BOM); err != nil {
			return nil, fmt.Errorf("transfer: write: %w", err)
		}
		sw.csv = csv.NewWriter(w)
		sw.csv.UseCRLF = true
		return sw, sw.row(headers)
	}
	f := excelize.NewFile()
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return nil, fmt.Errorf("transfer: xlsx: %w", err)
	}
	s, err := f.NewStreamWriter(sheet)
	if err != nil {
		return nil, fmt.Errorf("transfer: xlsx: %w", err)
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return nil, fmt.Errorf("transfer: xlsx: %w", err)
	}
	_ = s.SetColWidth(1, len(headers), 14)
	if err := s.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return nil, fmt.Errorf("transfer: xlsx: %w", err)
	}
	sw.xlsx, sw.stream, sw.next = f, s, 1
	cells := make([]any, len(headers))
	for i, h := range headers {
		cells[i] = excelize.Cell{StyleID: bold, Value: h}
	}
	if err := s.SetRow("A1", cells); err != nil {
		return nil, fmt.Errorf("transfer: xlsx: %w", err)
	}
	sw.next = 2
	if sheet == "销售KPI" {
		sw.numeric = map[int]bool{2: true, 3: true, 4: true, 5: true, 6: true}
	}
	return sw, nil
}

func (sw *sheetWriter) row(cells []string) error {
	if sw.csv != nil {
		return sw.csv.Write(escapeCells(cells))
	}
	vals := make([]any, len(cells))
	for i, c := range cells {
		vals[i] = c
		if sw.numeric[i] {
			if n, err := strconv.Atoi(c); err == nil {
				vals[i] = n
			}
		}
	}
	cell, _ := excelize.CoordinatesToCellName(1, sw.next)
	sw.next++
	return sw.stream.SetRow(cell, vals)
}

func (sw *sheetWriter) close() error {
	if sw.csv != nil {
		sw.csv.Flush()
		return sw.csv.Error()
	}
	defer sw.xlsx.Close()
	if err := sw.stream.Flush(); err != nil {
		return err
	}
	_, err := sw.xlsx.WriteTo(sw.w)
	return err
}

// escapeCell keeps a CSV cell from being run as a formula when Excel opens
// the file (CSV injection): a leading = + - @ gets an apostrophe, which
// unescapeCell removes again on import, so an export re-imports unchanged.
func escapeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// escapeCells escapes every cell of a CSV row: what any CSV this package
// writes (exports and import reports alike) goes through.
func escapeCells(cells []string) []string {
	esc := make([]string, len(cells))
	for i, c := range cells {
		esc[i] = escapeCell(c)
	}
	return esc
}

func unescapeCell(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.ContainsRune("=+-@\t\r", rune(s[1])) {
		return s[1:]
	}
	return s
}
