package transfer

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scrmhq/scrm/store"
)

// IdentityImport is the synthetic identity of a customer imported without a
// phone number or unionid: "import" / hash(name, company). It is what makes
// re-importing such a row find the same customer instead of creating a
// second one.
const IdentityImport = "import"

// FollowStateImport is the Follow.State of owners set by an import (a
// follow's state is its acquisition channel; KPIs leave these out of "new
// customers").
const FollowStateImport = "import"

// ImportStore is what an import needs of a backend; both store backends
// implement it.
type ImportStore interface {
	UpsertCustomer(ctx context.Context, u store.CustomerUpsert) (*store.Customer, error)
	UpdateCustomer(ctx context.Context, id string, upd store.CustomerUpdate) (*store.Customer, error)
	FindCustomers(ctx context.Context, f store.CustomerFilter) ([]*store.Customer, error)
	FindStaff(ctx context.Context) ([]*store.Staff, error)
	AppendAudit(ctx context.Context, e *store.AuditEntry) error // every import is audited
}

// ErrSheet is wrapped by Import's errors about the sheet as a whole (no
// header row, no usable column, an unknown default owner): the caller's
// input, not a failure.
var ErrSheet = errors.New("transfer: unusable sheet")

// ImportOptions tune an import.
type ImportOptions struct {
	Mapping      *Mapping // explicit column mapping; nil maps by header names
	DryRun       bool     // plan and report, write nothing
	DefaultOwner string   // staff ID given to rows without an owner
	Actor        string   // who imports, for the audit log ("admin" when empty)
	Now          func() time.Time
	// Progress is called every ProgressEvery rows (default 10,000) while
	// writing, and once at the end.
	Progress      func(Progress)
	ProgressEvery int
	Logger        *slog.Logger
}

// Progress reports how far the writing phase of an import is.
type Progress struct {
	Done    int // sheet rows written (or found unchanged)
	Total   int
	Elapsed time.Duration
}

// Rate is rows per second so far.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Done) / p.Elapsed.Seconds()
}

// record is one person as the sheet describes them: one row, or several
// rows merged.
type record struct {
	rows      []int
	id        string // scrm customer ID
	name      string
	mobiles   []string
	landlines []string
	unionids  []string
	fields    map[string]string
	// alt holds, for the name ("") and fields, the cell as written when it
	// was read as a CSV escape ("'=x" read as "=x"): a stored value equal to
	// either reading is not a change, so a CSV export re-imports exactly.
	alt    map[string]string
	tags   []string
	owners []string
	stage  string
}

func (r *record) company() string { return r.fields[FieldCompany] }

func (r *record) hard() bool { return r.id != "" || len(r.mobiles) > 0 || len(r.unionids) > 0 }

// syntheticIdentity is the identity of a record without phone or unionid.
func (r *record) syntheticIdentity() store.Identity {
	sum := sha256.Sum256([]byte(keyText(r.name) + "\x00" + keyText(r.company())))
	return store.Identity{Kind: IdentityImport, Value: hex.EncodeToString(sum[:16])}
}

// identities are the identities the record asserts, strongest first.
func (r *record) identities() []store.Identity {
	var out []store.Identity
	for _, m := range r.mobiles {
		out = append(out, store.Identity{Kind: store.IdentityPhone, Value: m})
	}
	for _, u := range r.unionids {
		out = append(out, store.Identity{Kind: store.IdentityUnionID, Value: u})
	}
	if len(out) == 0 {
		out = append(out, r.syntheticIdentity())
	}
	return out
}

// keys are what joins rows of the same person within a file.
func (r *record) keys() []string {
	var ks []string
	if r.id != "" {
		ks = append(ks, "id:"+r.id)
	}
	for _, m := range r.mobiles {
		ks = append(ks, "m:"+m)
	}
	for _, u := range r.unionids {
		ks = append(ks, "u:"+u)
	}
	nk, ck := keyText(r.name), keyText(r.company())
	switch {
	case nk != "" && ck != "":
		ks = append(ks, "nc:"+nk+"|"+ck)
	case nk != "" && !r.hard():
		ks = append(ks, "n:"+nk)
	}
	return ks
}

// importer holds one import's state.
type importer struct {
	st     ImportStore
	opts   ImportOptions
	t      *Table
	lay    layout
	staff  *staffIndex
	ex     *existing
	rep    *Report
	labels map[string]string // target or field key → header, for messages
}

// Import reads t, validates and de-duplicates its rows and merges them into
// the store: rows of the same person (same phone, unionid, customer ID, or
// name and company) become one customer, and rows matching an existing
// customer update it, so nothing is ever duplicated. Values in the sheet
// replace stored ones; empty cells leave stored values alone; tags and
// owners are only added. A second import of the same sheet changes nothing.
// A row with an invalid phone, an unknown owner or an unknown stage is
// rejected whole; an invalid date or email is dropped with a warning.
// Import returns an error only when the sheet cannot be read or the store
// fails; everything wrong with a row is in the report.
func Import(ctx context.Context, st ImportStore, t *Table, opts ImportOptions) (*Report, error) {
	start := time.Now()
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 10000
	}
	lay, err := detectLayout(t, opts.Mapping)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSheet, err)
	}
	im := &importer{st: st, opts: opts, t: t, lay: lay, labels: map[string]string{}}
	im.rep = &Report{Source: t.Source, Encoding: t.Encoding, HeaderRow: lay.headerRow + 1, Columns: map[string]string{},
		Unmapped: lay.unmapped, DryRun: opts.DryRun, Issues: []Issue{}, Outcomes: []Outcome{}}
	for _, c := range lay.columns {
		im.rep.Columns[c.header] = c.target
		if _, ok := im.labels[c.target]; !ok {
			im.labels[c.target] = c.header
		}
	}
	for _, h := range lay.missing {
		im.rep.Issues = append(im.rep.Issues, Issue{Row: lay.headerRow + 1, Column: h, Reason: "映射文件中的这一列在表头中不存在"})
	}
	if len(lay.columns) == 0 {
		return nil, fmt.Errorf("%w: %s: no column could be mapped (headers: %s); give a mapping file", ErrSheet, t.Source, strings.Join(lay.unmapped, ", "))
	}

	if im.staff, err = loadStaff(ctx, st); err != nil {
		return nil, err
	}
	if im.ex, err = loadExisting(ctx, st); err != nil {
		return nil, err
	}
	im.staff.addFollowers(im.ex.followers)
	if opts.DefaultOwner != "" {
		if _, reason := im.staff.resolve(opts.DefaultOwner, true); reason != "" {
			return nil, fmt.Errorf("%w: default owner %q is not a known staff ID", ErrSheet, opts.DefaultOwner)
		}
	}

	recs := im.readRecords()
	plans := im.plan(recs)
	// The start is audited before the first write, so an import killed
	// halfway still says who changed the customers it reached.
	if err := im.audit(ctx, fmt.Sprintf("import %s started: rows=%d", t.Source, im.rep.Rows)); err != nil {
		return im.rep, err
	}
	if err := im.apply(ctx, plans); err != nil {
		// A failed or cancelled run is audited too; the store may be what
		// failed, so that entry is best effort.
		_ = im.audit(context.WithoutCancel(ctx), fmt.Sprintf("import %s failed: %v", t.Source, err))
		return im.rep, err
	}
	slices.SortStableFunc(im.rep.Issues, func(a, b Issue) int { return cmp.Compare(a.Row, b.Row) })
	im.rep.Elapsed = Duration(time.Since(start))
	detail := fmt.Sprintf("import %s: rows=%d created=%d updated=%d unchanged=%d rejected=%d",
		t.Source, im.rep.Rows, im.rep.Created, im.rep.Updated, im.rep.Unchanged, im.rep.Rejected)
	// The writes are done: record them even if the caller gave up meanwhile.
	if err := im.audit(context.WithoutCancel(ctx), detail); err != nil {
		return im.rep, err
	}
	return im.rep, nil
}

// audit appends an import entry to the store's audit log, if it has one;
// a dry run writes nothing, so it audits nothing either.
func (im *importer) audit(ctx context.Context, detail string) error {
	if im.opts.DryRun {
		return nil
	}
	e := &store.AuditEntry{Actor: cmp.Or(im.opts.Actor, "admin"), Action: "import", Target: "customers", Detail: detail, At: im.opts.Now()}
	if err := im.st.AppendAudit(ctx, e); err != nil {
		return fmt.Errorf("transfer: audit import: %w", err)
	}
	return nil
}

// readRecords turns every data row into a record, or into issues.
func (im *importer) readRecords() []*record {
	var recs []*record
	for r := im.lay.headerRow + 1; r < len(im.t.Rows); r++ {
		if rec, ok := im.readRow(r); ok {
			recs = append(recs, rec)
		}
	}
	return recs
}

// readRow parses sheet row r (0-based). It returns false for blank rows,
// repeated header rows and rejected rows (whose issues it records).
func (im *importer) readRow(r int) (*record, bool) {
	num := r + 1
	rec := &record{rows: []int{num}, fields: map[string]string{}}
	var issues []Issue
	reject := func(col, val, reason string) {
		issues = append(issues, Issue{Row: num, Column: col, Value: val, Reason: reason, Rejected: true})
	}
	warn := func(col, val, reason string) {
		issues = append(issues, Issue{Row: num, Column: col, Value: val, Reason: reason})
	}
	seen, header := false, true
	var ownerCells, ownerIDCells []string
	for _, c := range im.lay.columns {
		raw := im.t.cell(r, c.index)
		literal := ""
		if im.t.Encoding != EncodingXLSX {
			// Only CSV needs an escape: in a workbook a cell is typed text
			// and never a formula, so its apostrophe is the user's own.
			if u := unescapeCell(raw); u != raw {
				raw, literal = u, clean(raw)
			}
		}
		v := clean(raw)
		if v == "" {
			continue
		}
		setAlt := func(key, val string) {
			if literal != "" {
				if rec.alt == nil {
					rec.alt = map[string]string{}
				}
				rec.alt[key] = setOnce(rec.alt[key], val)
			}
		}
		seen = true
		if v != c.header {
			header = false
		}
		switch c.target {
		case ColName:
			name := squash(narrowText(v))
			if n := utf8.RuneCountInString(name); n > MaxNameRunes {
				reject(c.header, string([]rune(name)[:20])+"…", fmt.Sprintf("姓名过长（%d 个字，最多 %d 个字）", n, MaxNameRunes))
				continue
			}
			if rec.name == "" {
				setAlt("", squash(narrowText(literal)))
			}
			rec.name = setOnce(rec.name, name)
		case ColPhone:
			mobiles, landlines, bad := splitPhones(v)
			for _, b := range bad {
				reject(c.header, b, "手机号格式不正确（应为 11 位大陆手机号，可带 +86、空格或短横线；座机请带区号）")
			}
			rec.mobiles = appendAll(rec.mobiles, mobiles...)
			rec.landlines = appendAll(rec.landlines, landlines...)
		case ColLandline:
			for _, part := range strings.FieldsFunc(v, phoneSeparators) {
				switch n, k := parsePhone(part); k {
				case phoneMobile:
					rec.mobiles = appendAll(rec.mobiles, n)
				case phoneLandline:
					rec.landlines = appendAll(rec.landlines, n)
				default:
					warn(c.header, clean(part), "座机号码格式不正确，已忽略")
				}
			}
		case ColUnionID:
			for _, u := range strings.FieldsFunc(v, phoneSeparators) {
				u = clean(u)
				if !validUnionID(u) {
					reject(c.header, u, "unionid 格式不正确")
					continue
				}
				rec.unionids = appendAll(rec.unionids, u)
			}
		case ColWeChat:
			if looksLikeUnionID(v) {
				rec.unionids = appendAll(rec.unionids, v)
			} else {
				setAlt(FieldWeChat, literal)
				rec.fields[FieldWeChat] = setOnce(rec.fields[FieldWeChat], v)
			}
		case ColCompany:
			setAlt(FieldCompany, squash(narrowText(literal)))
			rec.fields[FieldCompany] = setOnce(rec.fields[FieldCompany], squash(narrowText(v)))
		case ColTitle:
			setAlt(FieldTitle, literal)
			rec.fields[FieldTitle] = setOnce(rec.fields[FieldTitle], v)
		case ColRemark:
			setAlt(FieldRemark, literal)
			rec.fields[FieldRemark] = setOnce(rec.fields[FieldRemark], v)
		case ColTags:
			rec.tags = appendAll(rec.tags, splitTags(v, im.ex.knownTag)...)
		case ColOwner:
			ownerCells = append(ownerCells, v)
		case ColOwnerID:
			ownerIDCells = append(ownerIDCells, v)
		case ColStage:
			st, ok := parseStage(v)
			if !ok {
				reject(c.header, v, "阶段无法识别（可用：新线索、跟进中、已成交、沉睡、流失）")
				continue
			}
			rec.stage = setOnce(rec.stage, st)
		case ColBirthday:
			d, ok := parseDate(raw, true)
			if !ok {
				warn(c.header, v, "生日不是有效日期（如 1990-05-01、1990/5/1、1990年5月1日、5月1日），已忽略")
				continue
			}
			rec.fields[FieldBirthday] = setOnce(rec.fields[FieldBirthday], d)
		case ColRenewal:
			d, ok := parseDate(raw, false)
			if !ok {
				warn(c.header, v, "到期日不是有效日期（如 2026-01-02、2026/1/2、2026年1月2日），已忽略")
				continue
			}
			rec.fields[FieldRenewal] = setOnce(rec.fields[FieldRenewal], d)
		case ColEmail:
			e, ok := parseEmail(v)
			if !ok {
				warn(c.header, v, "邮箱格式不正确，已忽略")
				continue
			}
			rec.fields[FieldEmail] = setOnce(rec.fields[FieldEmail], e)
		case ColID:
			rec.id = setOnce(rec.id, v)
		default:
			if key, ok := strings.CutPrefix(c.target, ColFieldPrefix); ok {
				setAlt(key, literal)
				rec.fields[key] = setOnce(rec.fields[key], v)
			}
		}
	}
	if !seen {
		im.rep.Blank++
		return nil, false
	}
	if header {
		return nil, false // the header repeated (sheets pasted together)
	}
	im.rep.Rows++

	// Owners: an owner ID column wins over a name column.
	cells, col, idOnly := ownerCells, im.labels[ColOwner], false
	if len(ownerIDCells) > 0 {
		cells, col, idOnly = ownerIDCells, im.labels[ColOwnerID], true
	}
	for _, cell := range cells {
		for _, o := range splitOwners(cell) {
			id, reason := im.staff.resolve(o, idOnly)
			if reason != "" {
				reject(col, o, reason)
				continue
			}
			rec.owners = appendAll(rec.owners, id)
		}
	}
	if len(rec.owners) == 0 && len(cells) == 0 && im.opts.DefaultOwner != "" {
		id, _ := im.staff.resolve(im.opts.DefaultOwner, true)
		rec.owners = []string{id}
	}
	if len(rec.landlines) > 0 {
		rec.fields[FieldLandline] = strings.Join(rec.landlines, "/")
	}
	if rec.id != "" {
		if _, ok := im.ex.byID[rec.id]; !ok {
			warn(im.labels[ColID], rec.id, "客户ID不存在，按手机号、unionid 或姓名+公司匹配")
			rec.id = ""
		}
	}
	if rec.name == "" && !rec.hard() {
		reject("", "", "缺少姓名、手机号和 unionid，无法识别客户")
	}
	rejected := false
	for _, is := range issues {
		rejected = rejected || is.Rejected
	}
	if rejected {
		// A rejected row reports all its problems at once, so one fix pass
		// is enough; its warnings are moot.
		for _, is := range issues {
			if is.Rejected {
				im.rep.Issues = append(im.rep.Issues, is)
			}
		}
		im.rep.Rejected++
		return nil, false
	}
	im.rep.Issues = append(im.rep.Issues, issues...)
	return rec, true
}

// MaxNameRunes is the longest name a customer may have, as the API's
// PATCH /customers/{id} allows.
const MaxNameRunes = 128

// sameAlt reports whether key's cell, as written, equals stored.
func (r *record) sameAlt(key, stored string) bool {
	a, ok := r.alt[key]
	return ok && a != "" && a == stored
}

func setOnce(cur, v string) string {
	if cur != "" {
		return cur
	}
	return v
}

func appendAll(list []string, vs ...string) []string {
	for _, v := range vs {
		list = appendNew(list, v)
	}
	return list
}

func validUnionID(s string) bool {
	if len(s) < 10 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// splitOwners splits an owner cell holding several staff.
func splitOwners(cell string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(cell, func(r rune) bool {
		return isTagSeparator(r) || r == '/' || r == '／'
	}) {
		if p = clean(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// absorb merges o, a later row of the same person, into r: lists are
// united, and o's values fill only what r lacks. Differing values are
// reported on o's row.
func (im *importer) absorb(r, o *record) {
	conflict := func(label, kept, dropped string) {
		im.rep.Issues = append(im.rep.Issues, Issue{Row: o.rows[0], Column: label, Value: dropped,
			Reason: fmt.Sprintf("与第 %d 行是同一客户，值不同，保留第 %d 行的「%s」", r.rows[0], r.rows[0], kept)})
	}
	r.rows = append(r.rows, o.rows...)
	if r.id == "" {
		r.id = o.id
	}
	takeAlt := func(key string) {
		if a, ok := o.alt[key]; ok {
			if r.alt == nil {
				r.alt = map[string]string{}
			}
			r.alt[key] = a
		}
	}
	if r.name == "" {
		r.name = o.name
		takeAlt("")
	} else if o.name != "" && keyText(o.name) != keyText(r.name) {
		conflict(im.labels[ColName], r.name, o.name)
	}
	if r.stage == "" {
		r.stage = o.stage
	} else if o.stage != "" && o.stage != r.stage {
		conflict(im.labels[ColStage], r.stage, o.stage)
	}
	r.mobiles = appendAll(r.mobiles, o.mobiles...)
	r.unionids = appendAll(r.unionids, o.unionids...)
	r.tags = appendAll(r.tags, o.tags...)
	r.owners = appendAll(r.owners, o.owners...)
	if len(o.landlines) > 0 {
		r.landlines = appendAll(r.landlines, o.landlines...)
		r.fields[FieldLandline] = strings.Join(r.landlines, "/")
	}
	for _, k := range sortedKeys(o.fields) {
		if k == FieldLandline {
			continue
		}
		v := o.fields[k]
		switch cur := r.fields[k]; {
		case cur == "":
			r.fields[k] = v
			takeAlt(k)
		case keyText(cur) != keyText(v):
			conflict(im.fieldLabel(k), cur, v)
		}
	}
}

func (im *importer) fieldLabel(key string) string {
	target := map[string]string{FieldCompany: ColCompany, FieldTitle: ColTitle, FieldRemark: ColRemark,
		FieldBirthday: ColBirthday, FieldRenewal: ColRenewal, FieldEmail: ColEmail, FieldWeChat: ColWeChat}[key]
	if target == "" {
		target = ColFieldPrefix + key
	}
	if l := im.labels[target]; l != "" {
		return l
	}
	return fieldNames[key]
}

// fieldNames are the Chinese names of the known fields.
var fieldNames = map[string]string{
	FieldCompany: "公司", FieldTitle: "职位", FieldRemark: "备注", FieldBirthday: "生日", FieldRenewal: "到期日",
	FieldEmail: "邮箱", FieldLandline: "座机", FieldWeChat: "微信号",
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// unionFind joins indexes into groups.
type unionFind []int

func newUnionFind(n int) unionFind {
	u := make(unionFind, n)
	for i := range u {
		u[i] = i
	}
	return u
}

func (u unionFind) find(i int) int {
	for u[i] != i {
		u[i] = u[u[i]]
		i = u[i]
	}
	return i
}

// union keeps the smaller index as the root, so a group's root is its
// earliest row.
func (u unionFind) union(a, b int) {
	ra, rb := u.find(a), u.find(b)
	if ra == rb {
		return
	}
	if rb < ra {
		ra, rb = rb, ra
	}
	u[rb] = ra
}

// groups returns the members of each group, ordered by root.
func (u unionFind) groups() [][]int {
	byRoot := map[int][]int{}
	var roots []int
	for i := range u {
		r := u.find(i)
		if _, ok := byRoot[r]; !ok {
			roots = append(roots, r)
		}
		byRoot[r] = append(byRoot[r], i)
	}
	slices.Sort(roots)
	out := make([][]int, len(roots))
	for i, r := range roots {
		out[i] = byRoot[r]
	}
	return out
}

// plan is what to write for one person.
type plan struct {
	rec     *record
	targets []*store.Customer // existing customers; the first is the survivor
	action  string
	changes []string

	name          *string
	stage         *string
	addTags       []string
	fields        map[string]string
	addIdentities []store.Identity
	follows       []string
}

// plan groups the records into people and decides what to write for each.
func (im *importer) plan(recs []*record) []*plan {
	// 1. Rows of the same person within the file.
	uf := newUnionFind(len(recs))
	byKey := map[string]int{}
	for i, r := range recs {
		for _, k := range r.keys() {
			if j, ok := byKey[k]; ok {
				uf.union(i, j)
			} else {
				byKey[k] = i
			}
		}
	}
	// A row with only a name (no phone, no company) belongs to the one
	// person of that name who has a phone, if there is exactly one.
	named := map[string][]int{}
	for i, r := range recs {
		if nk := keyText(r.name); nk != "" && r.company() == "" && r.hard() {
			if root := uf.find(i); !slices.Contains(named[nk], root) {
				named[nk] = append(named[nk], root)
			}
		}
	}
	for i, r := range recs {
		if r.hard() || r.company() != "" {
			continue
		}
		if roots := named[keyText(r.name)]; len(roots) == 1 {
			uf.union(i, roots[0])
		}
	}

	// 2. Each group's existing customers; groups sharing one are one person.
	groups := uf.groups()
	targets := make([][]string, len(groups))
	gu := newUnionFind(len(groups))
	byTarget := map[string]int{}
	for gi, g := range groups {
		var ids []string
		for _, i := range g {
			ids = appendAll(ids, im.ex.hardTargets(recs[i])...)
		}
		if len(ids) == 0 {
			// Only the values that will win (the group's first row) may
			// match by name and company: matching every row's company
			// could merge two existing customers on weak evidence.
			ids = im.softTarget(recs[g[0]])
		}
		targets[gi] = ids
		for _, id := range ids {
			if j, ok := byTarget[id]; ok {
				gu.union(gi, j)
			} else {
				byTarget[id] = gi
			}
		}
	}

	// 3. One plan per person, rows merged in sheet order.
	var plans []*plan
	for _, gg := range gu.groups() {
		var members []int
		var ids []string
		for _, gi := range gg {
			members = append(members, groups[gi]...)
			ids = appendAll(ids, targets[gi]...)
		}
		slices.SortFunc(members, func(a, b int) int { return cmp.Compare(recs[a].rows[0], recs[b].rows[0]) })
		rec := recs[members[0]]
		for _, i := range members[1:] {
			im.absorb(rec, recs[i])
		}
		im.rep.MergedRows += len(rec.rows) - 1
		p := &plan{rec: rec}
		for _, id := range ids {
			p.targets = append(p.targets, im.ex.byID[id])
		}
		// The store merges into the oldest customer; list it first.
		slices.SortFunc(p.targets, func(a, b *store.Customer) int {
			return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
		})
		im.diff(p)
		plans = append(plans, p)
	}
	slices.SortFunc(plans, func(a, b *plan) int { return cmp.Compare(a.rec.rows[0], b.rec.rows[0]) })
	return plans
}

// diff fills in what p must write: everything for a new customer, only
// what differs for an existing one (compared field by field, so a re-run
// writes nothing).
func (im *importer) diff(p *plan) {
	r := p.rec
	if len(p.targets) == 0 {
		p.action = ActionCreate
		if r.name != "" {
			p.name = &r.name
		}
		if r.stage != "" {
			p.stage = &r.stage
		}
		p.addTags, p.fields, p.addIdentities, p.follows = r.tags, r.fields, r.identities(), r.owners
		im.warnInactive(p)
		return
	}
	c := p.targets[0]
	// The merged view of all targets: what the customer will have.
	have := map[store.Identity]bool{}
	tags := map[string]bool{}
	following := map[string]bool{}
	for _, t := range p.targets {
		for _, id := range t.Identities {
			have[id] = true
		}
		for _, tag := range t.Tags {
			tags[tag] = true
		}
		for _, f := range t.Follows {
			following[f.StaffID] = following[f.StaffID] || !f.Deleted
		}
	}
	// Names and companies are compared as the import normalises them, so a
	// stored full-width or double-spaced value is not "changed" back and forth.
	if stored := squash(narrowText(c.Name)); r.name != "" && r.name != stored && !r.sameAlt("", stored) {
		p.name = &r.name
		p.changes = append(p.changes, fmt.Sprintf("姓名：%s → %s", orDash(c.Name), r.name))
	}
	if r.stage != "" && r.stage != c.Stage {
		p.stage = &r.stage
		p.changes = append(p.changes, fmt.Sprintf("阶段：%s → %s", orDash(c.Stage), r.stage))
	}
	for _, tag := range r.tags {
		if !tags[tag] {
			p.addTags = append(p.addTags, tag)
		}
	}
	if len(p.addTags) > 0 {
		p.changes = append(p.changes, "新增标签："+strings.Join(p.addTags, "、"))
	}
	fields := r.fields
	if lines := r.landlines; len(lines) > 0 {
		// Landlines accumulate, like tags.
		fields = copyFields(fields)
		fields[FieldLandline] = strings.Join(appendAll(storedLandlines(c.Fields[FieldLandline]), lines...), "/")
	}
	for _, k := range sortedKeys(fields) {
		v, raw := fields[k], clean(c.Fields[k])
		if stored := normalizeStored(k, raw); v == stored || r.sameAlt(k, stored) {
			continue
		}
		if p.fields == nil {
			p.fields = map[string]string{}
		}
		p.fields[k] = v
		p.changes = append(p.changes, fmt.Sprintf("%s：%s → %s", im.fieldLabelOrKey(k), orDash(raw), v))
	}
	if len(r.mobiles) > 0 || len(r.unionids) > 0 {
		for _, id := range r.identities() {
			if !have[id] {
				p.addIdentities = append(p.addIdentities, id)
				label := "手机号"
				if id.Kind == store.IdentityUnionID {
					label = "unionid"
				}
				p.changes = append(p.changes, "新增"+label+"："+id.Value)
			}
		}
	}
	for _, o := range r.owners {
		if !following[o] {
			p.follows = append(p.follows, o)
			p.changes = append(p.changes, "新增负责人："+im.staff.name(o))
		}
	}
	im.warnInactive(p)
	switch {
	case len(p.targets) > 1 || len(p.changes) > 0:
		p.action = ActionUpdate
	default:
		p.action = ActionUnchanged
	}
}

// warnInactive notes new follows by staff who are no longer active: the
// sheet is obeyed, but someone should hand these customers over. Existing
// follows are not news, so an export re-imports without warnings.
func (im *importer) warnInactive(p *plan) {
	col := im.labels[ColOwner]
	if col == "" {
		col = im.labels[ColOwnerID]
	}
	for _, o := range p.follows {
		if s := im.staff.byID[o]; s != nil && !s.Active {
			im.rep.Issues = append(im.rep.Issues, Issue{Row: p.rec.rows[0], Column: col, Value: im.staff.name(o),
				Reason: "负责人已停用，仍按表格设置，请尽快转交客户"})
		}
	}
}

// normalizeStored reads a stored field the way the import reads a cell, so
// a value someone stored as "2026/1/2" or "ZS@Example.com" is not
// "changed" into its normal form by every re-import.
func normalizeStored(key, v string) string {
	var (
		n  string
		ok bool
	)
	switch key {
	case FieldCompany:
		return squash(narrowText(v))
	case FieldBirthday:
		n, ok = parseDate(v, true)
	case FieldRenewal:
		n, ok = parseDate(v, false)
	case FieldEmail:
		n, ok = parseEmail(v)
	case FieldLandline:
		return strings.Join(storedLandlines(v), "/")
	}
	if ok {
		return n
	}
	return v
}

// storedLandlines splits a stored landline field and normalises each number
// it can read.
func storedLandlines(v string) []string {
	var out []string
	for _, part := range strings.FieldsFunc(v, phoneSeparators) {
		if n, k := parsePhone(part); k == phoneLandline {
			out = appendNew(out, n)
		} else if part = clean(part); part != "" {
			out = appendNew(out, part)
		}
	}
	return out
}

func (im *importer) fieldLabelOrKey(k string) string {
	if n := fieldNames[k]; n != "" {
		return n
	}
	return k
}

func copyFields(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// batchSize is how many customers go to a customerBatcher at once.
const batchSize = 500

// customerBatcher is an optional fast path a store may offer: many
// customer writes in one transaction. Item i is ups[i], then — when
// upds[i] changes anything — upds[i] applied to the customer ups[i] landed
// on; it returns those customers' IDs, and an error aborts the whole batch.
// Through the one-call-per-write interface an import costs two write
// transactions per new customer; a store that implements this method
// (with the same signature, no import of this package needed) makes large
// imports several times faster.
type customerBatcher interface {
	UpsertCustomerBatch(ctx context.Context, ups []store.CustomerUpsert, upds []store.CustomerUpdate) ([]string, error)
}

// apply writes the plans (unless dry-running) and fills in the report.
func (im *importer) apply(ctx context.Context, plans []*plan) error {
	total := 0
	for _, p := range plans {
		total += len(p.rec.rows)
	}
	start := time.Now()
	done, next := 0, im.opts.ProgressEvery
	progress := func() {
		if im.opts.Progress != nil {
			im.opts.Progress(Progress{Done: done, Total: total, Elapsed: time.Since(start)})
		}
	}
	batcher, _ := im.st.(customerBatcher)
	size := 1
	if batcher != nil {
		size = batchSize
	}
	for len(plans) > 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("transfer: import cancelled after %d of %d rows: %w", done, total, err)
		}
		chunk := plans[:min(len(plans), size)]
		plans = plans[len(chunk):]
		var writes []*plan
		for _, p := range chunk {
			if p.action != ActionUnchanged && !im.opts.DryRun {
				writes = append(writes, p)
			}
		}
		failed := map[*plan]bool{}
		if err := im.writeAll(ctx, batcher, writes, failed); err != nil {
			return err
		}
		for _, p := range chunk {
			done += len(p.rec.rows)
			if failed[p] {
				// Someone changed the customers meanwhile; these rows are
				// left for a re-run rather than guessed at.
				for _, row := range p.rec.rows {
					im.rep.Issues = append(im.rep.Issues, Issue{Row: row, Rejected: true,
						Reason: "与其他客户的手机号或 unionid 冲突（数据在导入期间被修改），请重新导入"})
				}
				im.rep.Rejected += len(p.rec.rows)
			} else {
				im.record(p)
			}
			if done >= next {
				progress()
				next = done + im.opts.ProgressEvery
			}
		}
	}
	progress()
	return nil
}

// writeAll writes plans, in one batch when the store offers it, and marks
// those that hit a conflict in failed.
func (im *importer) writeAll(ctx context.Context, batcher customerBatcher, plans []*plan, failed map[*plan]bool) error {
	if batcher != nil && len(plans) > 1 {
		err := im.writeBatch(ctx, batcher, plans)
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrConflict) && !errors.Is(err, errNoBatch) {
			return fmt.Errorf("transfer: import rows %s to %s: %w", joinInts(plans[0].rec.rows), joinInts(plans[len(plans)-1].rec.rows), err)
		}
		// The batch was rolled back: write one by one to find the conflict.
	}
	for _, p := range plans {
		id, err := im.write(ctx, p)
		switch {
		case errors.Is(err, store.ErrConflict):
			failed[p] = true
		case err != nil:
			return fmt.Errorf("transfer: import rows %s: %w", joinInts(p.rec.rows), err)
		case p.action == ActionCreate:
			p.targets = []*store.Customer{{ID: id}}
		}
	}
	return nil
}

// errNoBatch: some plan cannot be expressed as batch items.
var errNoBatch = errors.New("transfer: plan needs the one-by-one path")

// writeBatch writes plans through the store's batch method.
func (im *importer) writeBatch(ctx context.Context, b customerBatcher, plans []*plan) error {
	now := im.opts.Now()
	var (
		ups   []store.CustomerUpsert
		upds  []store.CustomerUpdate
		first []int // index of each plan's first item
	)
	for _, p := range plans {
		u, rest, upd, ok := im.writeSteps(p, now)
		if !ok {
			return errNoBatch
		}
		first = append(first, len(ups))
		ups = append(ups, u)
		upds = append(upds, upd)
		for _, r := range rest {
			ups = append(ups, r)
			upds = append(upds, store.CustomerUpdate{})
		}
	}
	ids, err := b.UpsertCustomerBatch(ctx, ups, upds)
	if err != nil {
		return err
	}
	if len(ids) != len(ups) {
		return fmt.Errorf("batch returned %d IDs for %d writes", len(ids), len(ups))
	}
	for i, p := range plans {
		if p.action == ActionCreate {
			p.targets = []*store.Customer{{ID: ids[first[i]]}}
		}
	}
	return nil
}

// record counts a written (or planned) plan and lists its outcome.
func (im *importer) record(p *plan) {
	switch p.action {
	case ActionCreate:
		im.rep.Created++
	case ActionUpdate:
		im.rep.Updated++
	default:
		im.rep.Unchanged++
		return
	}
	o := Outcome{Action: p.action, Rows: p.rec.rows, Name: p.rec.name, Changes: p.changes}
	if len(p.targets) > 0 {
		o.CustomerID = p.targets[0].ID
		for _, t := range p.targets[1:] {
			o.Merged = append(o.Merged, t.ID)
		}
	}
	im.rep.Outcomes = append(im.rep.Outcomes, o)
}

// writeSteps expresses a plan as an upsert, further upserts (one per extra
// owner) and an update of the upserted customer. ok is false for a
// customer without identities, which no upsert can reach.
func (im *importer) writeSteps(p *plan, now time.Time) (u store.CustomerUpsert, rest []store.CustomerUpsert, upd store.CustomerUpdate, ok bool) {
	var anchor store.Identity
	var link []store.Identity
	if p.action == ActionCreate {
		anchor, link = p.addIdentities[0], p.addIdentities[1:]
	} else {
		c := p.targets[0]
		if len(c.Identities) == 0 {
			return u, nil, upd, false
		}
		anchor = c.Identities[0]
		link = slices.Clone(p.addIdentities)
		for _, t := range p.targets[1:] {
			if len(t.Identities) > 0 {
				link = append(link, t.Identities[0])
			}
		}
	}
	u = store.CustomerUpsert{Identity: anchor, Link: link, AddTags: p.addTags, Now: now}
	if p.name != nil {
		u.Name = *p.name
	}
	if p.stage != nil {
		u.Stage = *p.stage
	}
	for i, f := range p.follows {
		follow := &store.Follow{StaffID: f, State: FollowStateImport}
		if i == 0 {
			u.Follow = follow
		} else {
			rest = append(rest, store.CustomerUpsert{Identity: anchor, Follow: follow, Now: now})
		}
	}
	return u, rest, store.CustomerUpdate{Fields: p.fields, Now: now}, true
}

// write applies one plan through the one-call-per-write interface and
// returns the customer's ID. An update that needs no upsert (no new
// identity, owner or merge) is a single UpdateCustomer.
func (im *importer) write(ctx context.Context, p *plan) (string, error) {
	now := im.opts.Now()
	u, rest, upd, ok := im.writeSteps(p, now)
	if !ok {
		// A customer without identities cannot be reached by an upsert:
		// give it the sheet's first, then go the usual way.
		c := p.targets[0]
		if len(p.addIdentities) == 0 {
			_, err := im.st.UpdateCustomer(ctx, c.ID, store.CustomerUpdate{Name: p.name, Stage: p.stage, AddTags: p.addTags,
				Fields: p.fields, Now: now})
			return c.ID, err
		}
		if _, err := im.st.UpdateCustomer(ctx, c.ID, store.CustomerUpdate{AddIdentities: p.addIdentities[:1], Now: now}); err != nil {
			return "", fmt.Errorf("add identity: %w", err)
		}
		c.Identities = []store.Identity{p.addIdentities[0]}
		p.addIdentities = p.addIdentities[1:]
		return im.write(ctx, p)
	}
	id := ""
	if p.action == ActionUpdate && len(u.Link) == 0 && u.Follow == nil {
		id = p.targets[0].ID
		upd.Name, upd.Stage, upd.AddTags = p.name, p.stage, p.addTags
	} else {
		c, err := im.st.UpsertCustomer(ctx, u)
		if err != nil {
			return "", fmt.Errorf("upsert: %w", err)
		}
		id = c.ID
		for _, r := range rest {
			if _, err := im.st.UpsertCustomer(ctx, r); err != nil {
				return "", fmt.Errorf("follow %s: %w", r.Follow.StaffID, err)
			}
		}
	}
	if len(upd.Fields) > 0 || upd.Name != nil || upd.Stage != nil || len(upd.AddTags) > 0 {
		if _, err := im.st.UpdateCustomer(ctx, id, upd); err != nil {
			return "", fmt.Errorf("update %s: %w", id, err)
		}
	}
	return id, nil
}

// existing indexes the store's customers for matching.
type existing struct {
	byID          map[string]*store.Customer
	byIdentity    map[store.Identity]string
	byNameCompany map[string][]string // keyText(name)|keyText(company) → IDs, oldest first
	tags          map[string]bool
	followers     map[string]bool // staff IDs with a follow
}

// pageSize is how many customers a scan reads per query.
const pageSize = 1000

// loadExisting reads every customer once. Matching needs name+company,
// which no index serves, and the field-by-field comparison needs the
// current values; one scan is far cheaper than a query per row.
func loadExisting(ctx context.Context, st ImportStore) (*existing, error) {
	ex := &existing{byID: map[string]*store.Customer{}, byIdentity: map[store.Identity]string{},
		byNameCompany: map[string][]string{}, tags: map[string]bool{}, followers: map[string]bool{}}
	err := eachCustomer(ctx, st, store.CustomerFilter{}, func(c *store.Customer) error {
		ex.byID[c.ID] = c
		for _, id := range c.Identities {
			switch id.Kind {
			case store.IdentityPhone, store.IdentityUnionID, IdentityImport:
				ex.byIdentity[id] = c.ID
			}
		}
		if nk, ck := keyText(c.Name), keyText(c.Fields[FieldCompany]); nk != "" && ck != "" {
			ex.byNameCompany[nk+"|"+ck] = append(ex.byNameCompany[nk+"|"+ck], c.ID)
		}
		for _, t := range c.Tags {
			ex.tags[t] = true
		}
		for _, f := range c.Follows {
			ex.followers[f.StaffID] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("transfer: load customers: %w", err)
	}
	return ex, nil
}

// eachCustomer pages through the customers matching f in ID order.
func eachCustomer(ctx context.Context, st interface {
	FindCustomers(ctx context.Context, f store.CustomerFilter) ([]*store.Customer, error)
}, f store.CustomerFilter, fn func(*store.Customer) error) error {
	f.Limit = pageSize
	for {
		list, err := st.FindCustomers(ctx, f)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return nil
		}
		for _, c := range list {
			if err := fn(c); err != nil {
				return err
			}
		}
		f.AfterID = list[len(list)-1].ID
	}
}

func (ex *existing) knownTag(t string) bool { return ex.tags[t] }

// hardTargets are the customers that own one of r's identities.
func (ex *existing) hardTargets(r *record) []string {
	var ids []string
	if r.id != "" {
		if _, ok := ex.byID[r.id]; ok {
			ids = append(ids, r.id)
		}
	}
	for _, id := range r.identities() {
		if c, ok := ex.byIdentity[id]; ok {
			ids = appendAll(ids, c)
		}
	}
	return ids
}

// softTarget is the oldest customer with r's name and company, if any.
// Several such customers are reported: only the oldest is updated.
func (im *importer) softTarget(r *record) []string {
	nk, ck := keyText(r.name), keyText(r.company())
	if nk == "" || ck == "" {
		return nil
	}
	ids := im.ex.byNameCompany[nk+"|"+ck]
	if len(ids) == 0 {
		return nil
	}
	if len(ids) > 1 {
		im.rep.Issues = append(im.rep.Issues, Issue{Row: r.rows[0], Column: im.labels[ColName], Value: r.name,
			Reason: fmt.Sprintf("已有 %d 位同名同公司的客户，只更新了最早的一位（客户ID %s）；如是不同的人，请补充手机号", len(ids), ids[0])})
	}
	return ids[:1]
}

// staffIndex resolves owner cells to staff IDs.
type staffIndex struct {
	byID      map[string]*store.Staff
	byFoldID  map[string]string   // lower-case ID → ID
	byName    map[string][]string // keyText(name) → IDs
	followers map[string]bool     // IDs that follow customers without being in the directory
}

func loadStaff(ctx context.Context, st ImportStore) (*staffIndex, error) {
	list, err := st.FindStaff(ctx)
	if err != nil {
		return nil, fmt.Errorf("transfer: load staff: %w", err)
	}
	s := &staffIndex{byID: map[string]*store.Staff{}, byFoldID: map[string]string{}, byName: map[string][]string{}, followers: map[string]bool{}}
	for _, m := range list {
		s.byID[m.ID] = m
		s.byFoldID[strings.ToLower(m.ID)] = m.ID
		if k := keyText(m.Name); k != "" {
			s.byName[k] = append(s.byName[k], m.ID)
		}
	}
	return s, nil
}

// addFollowers makes staff IDs that already follow customers known even if
// the directory lacks them, so an export re-imports cleanly.
func (s *staffIndex) addFollowers(ids map[string]bool) {
	for id := range ids {
		if _, ok := s.byID[id]; !ok {
			s.followers[id] = true
			s.byFoldID[strings.ToLower(id)] = id
		}
	}
}

// resolve finds a staff member by ID (case-insensitively, as WeCom
// UserIDs are) or, unless idOnly, by a unique name; "张三(zhangsan)" is read
// as the ID in brackets. reason is "" on success, else why not, in Chinese.
func (s *staffIndex) resolve(v string, idOnly bool) (id, reason string) {
	v = clean(v)
	if name, rest, ok := strings.Cut(narrow(v), "("); ok && strings.HasSuffix(rest, ")") && name != "" {
		v = strings.TrimSuffix(rest, ")")
		idOnly = true
	}
	if _, ok := s.byID[v]; ok || s.followers[v] {
		return v, ""
	}
	if id, ok := s.byFoldID[strings.ToLower(v)]; ok {
		return id, ""
	}
	if !idOnly {
		switch ids := s.byName[keyText(v)]; len(ids) {
		case 1:
			return ids[0], ""
		case 0:
		default:
			return "", "负责人姓名对应多名员工，请改填员工ID（企业微信账号）"
		}
	}
	if idOnly {
		return "", "负责人ID不存在（应为企业微信账号，须先同步员工）"
	}
	return "", "负责人不存在（请填写员工姓名或企业微信账号，须先同步员工）"
}

func (s *staffIndex) name(id string) string {
	if m := s.byID[id]; m != nil && m.Name != "" {
		return m.Name
	}
	return id
}
