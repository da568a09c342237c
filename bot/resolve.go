package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/scrmhq/scrm/store"
)

// One resolver finds the customer a staff command names, for every command
// that names one (查, 记, 私记, 提醒, 阶段, 确认, 转交, 接, 回). A customer is
// named by
//
//   - "#<id>" (the ID a list shows, e.g. #0000000033);
//   - a phone number: the customer's phone identity or a phone field;
//   - a number from the last list of choices the bot gave this staff member
//     ("查 2"), remembered for choiceTTL;
//   - a name, optionally followed by one word that tells same-named
//     customers apart: part of the company, the phone's last four digits or
//     the owner's name ("查 刘洋 杭州云帆").
//
// Several matches get a numbered list with company, phone tail and owner,
// which is remembered, so the person answers with the number.

// choiceTTL is how long a numbered list of choices can be answered.
const choiceTTL = 30 * time.Minute

// maxChoices is how many customers a list of choices shows and remembers.
const maxChoices = 10

// phoneScanLimit bounds the customers read to find a phone kept only in a
// custom field (the phone identity is an index lookup).
const phoneScanLimit = 2000

// resolverStore is what the resolver reads; it remembers choices in cursors.
type resolverStore interface {
	FindCustomerByID(ctx context.Context, id string) (*store.Customer, error)
	FindCustomers(ctx context.Context, f store.CustomerFilter) ([]*store.Customer, error)
	FindCustomerByIdentity(ctx context.Context, id store.Identity) (*store.Customer, error)
	FindStaffByID(ctx context.Context, id string) (*store.Staff, error)
	cursors
}

// resolveOpts says which customers a command may name and how to word the
// reply when it names none or several.
type resolveOpts struct {
	Verb string // the command word, shown in the hint of a list ("查 2")
	Tail string // what follows the customer in the command, for the hint (" 内容")
	// Keep decides whether a customer found may be named; default: the
	// viewer may see them. Search is not restricted to the viewer's scope
	// when Keep is set (a claim reaches customers no one follows yet).
	Keep func(*store.Customer) (bool, error)
	// NotFound is the reply when nothing matches; default "没有找到你可查看
	// 的客户“…”。" followed by Suffix.
	NotFound func(query string) string
	Suffix   string // appended to the not-found reply, e.g. "备注未保存。"
	// Whole makes the whole text the name (查): no words follow it.
	Whole bool
}

// resolution is what a command's text named.
type resolution struct {
	C     *store.Customer // the one customer; nil when none or several
	Rest  string          // the text after the words that named the customer
	Reply string          // with C nil: the reply (not found, or the numbered list)
}

type choiceList struct {
	At  int64    `json:"at"` // Unix seconds of the command that listed them
	IDs []string `json:"ids"`
}

func choiceKey(staffID string) string { return "bot-choices:" + staffID }

// resolveCustomer finds the customer text names for v; at is the command's
// time (choices expire from it).
func resolveCustomer(ctx context.Context, st resolverStore, loc *time.Location, v Viewer, text string, at time.Time, o resolveOpts) (resolution, error) {
	text = strings.TrimSpace(text)
	keep := o.Keep
	scoped := keep == nil
	if keep == nil {
		keep = func(c *store.Customer) (bool, error) { return v.CanSee(c), nil }
	}
	notFound := func(q string) resolution {
		if o.NotFound != nil {
			return resolution{Reply: o.NotFound(q) + o.Suffix}
		}
		return resolution{Reply: "没有找到你可查看的客户“" + md(clip(q, 20)) + "”。" + o.Suffix}
	}
	first, rest := text, ""
	if !o.Whole {
		first, rest, _ = strings.Cut(text, " ")
		rest = strings.TrimSpace(rest)
	} else if f, r, ok := strings.Cut(text, " "); ok {
		// 查 刘洋 杭州云帆: the second word may tell same names apart.
		first, rest = f, strings.TrimSpace(r)
	}
	if first == "" {
		return notFound(text), nil
	}
	one := func(c *store.Customer) (resolution, error) {
		if c == nil {
			return notFound(first), nil
		}
		ok, err := keep(c)
		if err != nil || !ok {
			return notFound(first), err
		}
		return resolution{C: c, Rest: rest}, nil
	}

	// #ID
	if id, ok := cutHash(first); ok {
		c, err := st.FindCustomerByID(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return resolution{}, fmt.Errorf("resolve: customer %s: %w", id, err)
		}
		return one(c)
	}
	// A number from the last list.
	if n, err := strconv.Atoi(first); err == nil && n >= 1 && n <= maxChoices && len(first) <= 2 {
		ids, err := loadChoices(ctx, st, v.StaffID, at)
		if err != nil {
			return resolution{}, err
		}
		if len(ids) == 0 {
			return resolution{Reply: fmt.Sprintf("编号 %d 已失效或没有可选的客户列表，请重新用名字查找，例如：**%s 张三**。", n, o.Verb)}, nil
		}
		if n > len(ids) {
			return resolution{Reply: fmt.Sprintf("上次的列表只有 %d 位客户，请回复 1 到 %d 之间的编号。", len(ids), len(ids))}, nil
		}
		c, err := st.FindCustomerByID(ctx, ids[n-1])
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return resolution{}, fmt.Errorf("resolve: customer %s: %w", ids[n-1], err)
		}
		return one(c)
	}
	// A phone number.
	if phone, ok := phoneDigits(first); ok {
		cs, err := findByPhone(ctx, st, v, phone, scoped, keep)
		if err != nil {
			return resolution{}, err
		}
		return choose(ctx, st, loc, v, cs, first, rest, at, o, notFound)
	}
	// A name; for 查 a name with a space in it is tried whole first.
	if o.Whole && rest != "" {
		cs, err := findByName(ctx, st, v, text, scoped, keep)
		if err != nil {
			return resolution{}, err
		}
		if len(cs) > 0 {
			return choose(ctx, st, loc, v, cs, text, "", at, o, notFound)
		}
	}
	cs, err := findByName(ctx, st, v, first, scoped, keep)
	if err != nil {
		return resolution{}, err
	}
	return choose(ctx, st, loc, v, cs, first, rest, at, o, notFound)
}

// choose settles on one of cs, narrowing same names by the next word.
func choose(ctx context.Context, st resolverStore, loc *time.Location, v Viewer, cs []*store.Customer, query, rest string,
	at time.Time, o resolveOpts, notFound func(string) resolution) (resolution, error) {
	if len(cs) == 0 {
		return notFound(query), nil
	}
	names := memoStaffNames(ctx, st)
	hint, after, _ := strings.Cut(rest, " ")
	if hint != "" && len([]rune(hint)) >= 2 {
		var narrowed []*store.Customer
		for _, c := range cs {
			if matchesHint(c, hint, names) {
				narrowed = append(narrowed, c)
			}
		}
		if len(narrowed) > 0 {
			cs, rest = narrowed, strings.TrimSpace(after)
		}
	}
	if len(cs) == 1 {
		return resolution{C: cs[0], Rest: rest}, nil
	}
	if len(cs) > maxChoices {
		cs = cs[:maxChoices]
	}
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	b, _ := json.Marshal(choiceList{At: at.Unix(), IDs: ids})
	if err := st.SetCursor(ctx, choiceKey(v.StaffID), string(b)); err != nil {
		return resolution{}, fmt.Errorf("resolve: remember choices: %w", err)
	}
	return resolution{Reply: renderChoices(cs, names, o.Verb, o.Tail, loc)}, nil
}

// renderChoices is the numbered list of same-named customers.
func renderChoices(cs []*store.Customer, name func(string) string, verb, tail string, loc *time.Location) string {
	var b strings.Builder
	fmt.Fprintf(&b, "找到 %d 位客户，请回复「%s 编号%s」选择，例如「%s 2%s」（%d 分钟内有效），也可以用「%s #客户ID%s」：\n",
		len(cs), verb, tail, verb, tail, int(choiceTTL.Minutes()), verb, tail)
	for i, c := range cs {
		parts := []string{"**" + mdName(c) + "**"}
		if co := companyOf(c); co != "" {
			parts = append(parts, md(clip(co, 20)))
		}
		if tail := phoneTail(c); tail != "" {
			parts = append(parts, "尾号 "+tail)
		}
		if owners := activeOwners(c); len(owners) > 0 {
			names := make([]string, len(owners))
			for j, id := range owners {
				names[j] = name(id)
			}
			parts = append(parts, "负责人："+strings.Join(names, "、"))
		}
		if c.LastCustomerMsgAt != nil {
			parts = append(parts, "最近来信 "+c.LastCustomerMsgAt.In(loc).Format("01-02"))
		}
		fmt.Fprintf(&b, "> %d. %s · #%s\n", i+1, strings.Join(parts, " · "), c.ID)
	}
	return b.String()
}

func loadChoices(ctx context.Context, st resolverStore, staffID string, at time.Time) ([]string, error) {
	raw, err := st.GetCursor(ctx, choiceKey(staffID))
	if err != nil {
		return nil, fmt.Errorf("resolve: choices: %w", err)
	}
	if raw == "" {
		return nil, nil
	}
	var l choiceList
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		return nil, nil // an unreadable list is as good as none
	}
	if at.Sub(time.Unix(l.At, 0)) > choiceTTL {
		return nil, nil
	}
	return l.IDs, nil
}

func cutHash(s string) (string, bool) {
	if id, ok := strings.CutPrefix(s, "#"); ok {
		return id, id != ""
	}
	if id, ok := strings.CutPrefix(s, "＃"); ok {
		return id, id != ""
	}
	return "", false
}

// phoneDigits reads s as a phone number (7 to 15 digits, with optional +,
// spaces-free dashes and a leading 86), returning the digits as the phone
// identity stores them.
func phoneDigits(s string) (string, bool) {
	var d strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			d.WriteRune(r)
		case r == '-' || r == '+':
		default:
			return "", false
		}
	}
	n := d.String()
	if len(n) == 13 && strings.HasPrefix(n, "86") {
		n = n[2:]
	}
	if len(n) < 7 || len(n) > 15 {
		return "", false
	}
	return n, true
}

// isPhoneField reports whether a custom field holds phone numbers.
func isPhoneField(key string) bool {
	k := strings.ToLower(key)
	for _, w := range []string{"手机", "电话", "phone", "mobile", "tel", "landline", "座机"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// companyFields are the custom fields that name a customer's company: the
// import's key and the names people give the field.
var companyFields = []string{"company", "公司", "企业", "单位", "公司名称"}

func companyOf(c *store.Customer) string {
	for _, k := range companyFields {
		if v := strings.TrimSpace(c.Fields[k]); v != "" {
			return v
		}
	}
	return ""
}

// phones are the customer's phone numbers as digits: the identity first,
// then phone fields.
func phones(c *store.Customer) []string {
	var out []string
	for _, id := range c.Identities {
		if id.Kind == store.IdentityPhone {
			out = append(out, id.Value)
		}
	}
	keys := make([]string, 0, len(c.Fields))
	for k := range c.Fields {
		if isPhoneField(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, part := range strings.FieldsFunc(c.Fields[k], func(r rune) bool { return r == '/' || r == ',' || r == '，' || unicode.IsSpace(r) }) {
			if d, ok := phoneDigits(part); ok {
				out = append(out, d)
			}
		}
	}
	return out
}

func phoneTail(c *store.Customer) string {
	if ps := phones(c); len(ps) > 0 {
		return ps[0][len(ps[0])-4:]
	}
	return ""
}

// matchesHint reports whether word tells c apart: part of the company, the
// phone's last four digits, or an owner's name or ID.
func matchesHint(c *store.Customer, word string, name func(string) string) bool {
	if co := companyOf(c); co != "" && strings.Contains(co, word) {
		return true
	}
	if len(word) == 4 && strings.Trim(word, "0123456789") == "" {
		for _, p := range phones(c) {
			if strings.HasSuffix(p, word) {
				return true
			}
		}
	}
	for _, id := range activeOwners(c) {
		if id == word || name(id) == word {
			return true
		}
	}
	return false
}

// findByName returns the customers whose name contains name that keep
// accepts, exact names only when there are any (张三 among 张三丰).
func findByName(ctx context.Context, st resolverStore, v Viewer, name string, scoped bool, keep func(*store.Customer) (bool, error)) ([]*store.Customer, error) {
	f := store.CustomerFilter{Query: name}
	if scoped {
		var ok bool
		if f, ok = scopeFilter(v, f); !ok {
			return nil, nil
		}
	}
	cs, err := scanCustomers(ctx, st, f, 200, func(c *store.Customer) (bool, error) { return keep(c) })
	if err != nil {
		return nil, err
	}
	return preferExact(cs, name), nil
}

// findByPhone returns the customers with the phone number, by identity and
// then by phone fields.
func findByPhone(ctx context.Context, st resolverStore, v Viewer, phone string, scoped bool, keep func(*store.Customer) (bool, error)) ([]*store.Customer, error) {
	c, err := st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityPhone, Value: phone})
	switch {
	case err == nil:
		if ok, err := keep(c); err != nil || ok {
			return []*store.Customer{c}, err
		}
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("resolve: phone: %w", err)
	}
	f := store.CustomerFilter{}
	if scoped {
		var ok bool
		if f, ok = scopeFilter(v, f); !ok {
			return nil, nil
		}
	}
	return scanCustomers(ctx, st, f, maxChoices+1, func(c *store.Customer) (bool, error) {
		if !slices.Contains(phones(c), phone) {
			return false, nil
		}
		return keep(c)
	})
}

// customerLister pages through customers.
type customerLister interface {
	FindCustomers(ctx context.Context, f store.CustomerFilter) ([]*store.Customer, error)
}

// scanCustomers pages through customers matching f (at most phoneScanLimit)
// and returns up to limit that keep accepts.
func scanCustomers(ctx context.Context, st customerLister, f store.CustomerFilter, limit int, keep func(*store.Customer) (bool, error)) ([]*store.Customer, error) {
	f.Limit = 200
	var out []*store.Customer
	for scanned := 0; scanned < phoneScanLimit; {
		cs, err := st.FindCustomers(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("find customers: %w", err)
		}
		scanned += len(cs)
		for _, c := range cs {
			ok, err := keep(c)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, c)
				if len(out) == limit {
					return out, nil
				}
			}
		}
		if len(cs) < f.Limit {
			break
		}
		f.AfterID = cs[len(cs)-1].ID
	}
	return out, nil
}

// preferExact narrows cs to the exact name matches when there are any.
func preferExact(cs []*store.Customer, name string) []*store.Customer {
	var exact []*store.Customer
	for _, c := range cs {
		if c.Name == name {
			exact = append(exact, c)
		}
	}
	if len(exact) > 0 {
		return exact
	}
	return cs
}

// staffByID is what staffName reads.
type staffByID interface {
	FindStaffByID(ctx context.Context, id string) (*store.Staff, error)
}

// staffName is how the bot names a staff member everywhere it writes: their
// name from the directory, or their user ID when they have none (or are
// unknown). The ID stays in the records; people read names.
func staffName(ctx context.Context, st staffByID, id string) string {
	if id == "" {
		return ""
	}
	s, err := st.FindStaffByID(ctx, id)
	if err != nil {
		return id
	}
	return staffLabel(s)
}

// memoStaffNames is staffName remembering the names it read, for lists.
func memoStaffNames(ctx context.Context, st staffByID) func(string) string {
	seen := map[string]string{}
	return func(id string) string {
		n, ok := seen[id]
		if !ok {
			n = staffName(ctx, st, id)
			seen[id] = n
		}
		return n
	}
}
