package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
)

// FindCustomers returns customers matching f ordered by ID. The most selective
// index drives the query (a staff member's follows, a team's follows, a tag,
// a narrow last-contact range, then the stage); the other filters are checked
// per row.
func (db *DB) FindCustomers(ctx context.Context, f store.CustomerFilter) ([]*store.Customer, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	q, err := db.planCustomers(ctx, f, false)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find customers: %w", err)
	}
	if q.none {
		return nil, nil
	}
	var query string
	if q.union != "" {
		// The team's follow lists are merged in customer order inside the
		// subquery, which stops after limit rows; the outer query only loads them.
		query = `SELECT ` + customerColumns + ` FROM customers AS c WHERE c.id IN (` + q.union + ` ORDER BY 1 LIMIT ?) ORDER BY c.id`
	} else {
		query = `SELECT ` + customerColumns + ` FROM ` + q.from + ` WHERE ` + strings.Join(q.where, " AND ") +
			` ORDER BY ` + q.key + ` LIMIT ?`
	}
	list, err := queryCustomers(ctx, db.r, query, append(q.args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find customers: %w", err)
	}
	return list, nil
}

// CountCustomers counts customers matching f, ignoring AfterID and Limit.
func (db *DB) CountCustomers(ctx context.Context, f store.CustomerFilter) (int64, error) {
	f.AfterID, f.Limit = "", 0
	q, err := db.planCustomers(ctx, f, true)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count customers: %w", err)
	}
	if q.none {
		return 0, nil
	}
	var n int64
	err = db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+q.from+` WHERE `+strings.Join(q.where, " AND "), q.args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count customers: %w", err)
	}
	return n, nil
}

// customerPlan is a customers query: rows of from, in key order, that pass
// every where; or, for a team, a UNION of per-member queries (union) that
// yields customer IDs in order.
type customerPlan struct {
	from, key string
	where     []string
	args      []any
	union     string
	none      bool // nothing can match (an empty team)
}

// denseContact is the number of customers in a last-contact range from
// which walking customers in ID order beats sorting the range: with at
// least this many matches a page of 50 is found after a short walk, with
// fewer the sort is cheap.
const denseContact = 2000

// planCustomers chooses how to run f. count plans skip what only ordering
// needs.
func (db *DB) planCustomers(ctx context.Context, f store.CustomerFilter, count bool) (customerPlan, error) {
	var after int64
	if f.AfterID != "" {
		var ok bool
		if after, ok = parseID(f.AfterID); !ok {
			return customerPlan{}, fmt.Errorf("bad cursor %q: %w", f.AfterID, store.ErrInvalid)
		}
	}
	if f.StaffIDs != nil && len(f.StaffIDs) == 0 {
		return customerPlan{none: true}, nil
	}
	team := slices.Compact(slices.Sorted(slices.Values(f.StaffIDs)))
	if f.StaffID == "" && len(team) == 1 {
		f.StaffID, team = team[0], nil
	}

	// keyAfter is the cursor predicate on the driving key; counts have none.
	keyAfter := func(p *customerPlan, key string) {
		if !count {
			p.where = append(p.where, key+" > ?")
			p.args = append(p.args, after)
		}
	}
	var p customerPlan
	// rowFilters adds the predicates on c (and its follows and tags) that the
	// driving index does not already apply.
	rowFilters := func(p *customerPlan, byTag, byContact bool) {
		if f.StaffID != "" && len(team) > 0 {
			p.where = append(p.where, `EXISTS (SELECT 1 FROM customer_follows AS ft WHERE ft.customer_id = c.id
				AND ft.staff_id IN (`+placeholders(len(team))+`) AND ft.deleted = 0)`)
			for _, s := range team {
				p.args = append(p.args, s)
			}
		}
		if f.Tag != "" && !byTag {
			p.where = append(p.where, "EXISTS (SELECT 1 FROM customer_tags AS tt WHERE tt.customer_id = c.id AND tt.tag = ?)")
			p.args = append(p.args, f.Tag)
		}
		if f.Stage != "" {
			p.where = append(p.where, "c.stage = ?")
			p.args = append(p.args, f.Stage)
		}
		if f.Sentiment != "" {
			p.where = append(p.where, "json_extract(c.insight, '$.sentiment_label') = ?")
			p.args = append(p.args, f.Sentiment)
		}
		if f.Waiting {
			// store.IsWaiting; the fromNullNanos reading of 0 as never.
			p.where = append(p.where, "c.last_customer_msg_at > 0 AND (c.last_staff_touch_at IS NULL OR c.last_staff_touch_at < c.last_customer_msg_at)")
		}
		if f.Query != "" {
			p.where = append(p.where, `c.name LIKE ? ESCAPE '\'`)
			p.args = append(p.args, "%"+escapeLike(f.Query)+"%")
		}
		if !byContact {
			p.where, p.args = appendContact(p.where, p.args, f)
		}
	}

	hasContact := !f.LastContactBefore.IsZero() || !f.LastContactAfter.IsZero()
	switch {
	case f.StaffID != "":
		// CROSS JOIN pins the join order: walk the staff member's follows.
		p.from, p.key = `customer_follows AS f CROSS JOIN customers AS c ON c.id = f.customer_id`, "f.customer_id"
		p.where = append(p.where, "f.staff_id = ?", "f.deleted = 0")
		p.args = append(p.args, f.StaffID)
		keyAfter(&p, p.key)
		rowFilters(&p, false, false)
	case len(team) > 0 && count && hasContact && db.fewInContact(ctx, f, team):
		// Fewer customers in the contact range than follows in the team
		// (a month of a large team): walk the range, test the follows.
		p.from, p.key = `customers AS c INDEXED BY customers_last_contact`, "c.id"
		p.where, p.args = appendContact(p.where, p.args, f)
		// +staff_id: one look at the customer's few follows, not one
		// probe per member.
		p.where = append(p.where, `EXISTS (SELECT 1 FROM customer_follows AS ft WHERE ft.customer_id = c.id
			AND +ft.staff_id IN (`+placeholders(len(team))+`) AND ft.deleted = 0)`)
		p.args = append(p.args, staffArgs(team)...)
		rowFilters(&p, false, true)
	case len(team) > 0 && count:
		p.from, p.key = `customers AS c`, "c.id"
		p.where = append(p.where, `c.id IN (SELECT customer_id FROM customer_follows WHERE staff_id IN (`+
			placeholders(len(team))+`) AND deleted = 0)`)
		for _, s := range team {
			p.args = append(p.args, s)
		}
		rowFilters(&p, false, false)
	case len(team) > 0:
		// One ordered walk per member, merged by UNION (SQLite merges
		// ordered compound selects without sorting).
		arms := make([]string, len(team))
		for i, s := range team {
			arm := customerPlan{where: []string{"f.staff_id = ?", "f.deleted = 0", "f.customer_id > ?"}, args: []any{s, after}}
			rowFilters(&arm, false, false)
			arms[i] = `SELECT f.customer_id FROM customer_follows AS f CROSS JOIN customers AS c ON c.id = f.customer_id WHERE ` +
				strings.Join(arm.where, " AND ")
			p.args = append(p.args, arm.args...)
		}
		p.union = strings.Join(arms, " UNION ")
	case f.Tag != "":
		p.from, p.key = `customer_tags AS t CROSS JOIN customers AS c ON c.id = t.customer_id`, "t.customer_id"
		p.where = append(p.where, "t.tag = ?")
		p.args = append(p.args, f.Tag)
		keyAfter(&p, p.key)
		rowFilters(&p, true, false)
	case hasContact && !count:
		dense, err := db.denseContactRange(ctx, f)
		if err != nil {
			return customerPlan{}, err
		}
		if dense {
			// Many match: walk customers in ID order and test each row.
			p.from, p.key = `customers AS c NOT INDEXED`, "c.id"
			keyAfter(&p, p.key)
			rowFilters(&p, false, false)
		} else {
			// Few match: read them from the index and sort them.
			p.from, p.key = `customers AS c INDEXED BY customers_last_contact`, "c.id"
			p.where, p.args = appendContact(p.where, p.args, f)
			keyAfter(&p, p.key)
			rowFilters(&p, false, true)
		}
	default:
		p.from, p.key = `customers AS c`, "c.id"
		keyAfter(&p, p.key)
		rowFilters(&p, false, false)
	}
	if len(p.where) == 0 {
		p.where = []string{"1 = 1"}
	}
	return p, nil
}

// appendContact adds the last-contact bounds. Never-contacted customers have
// last_contact_at 0, which is before any time.
func appendContact(where []string, args []any, f store.CustomerFilter) ([]string, []any) {
	if !f.LastContactBefore.IsZero() {
		where = append(where, "c.last_contact_at < ?")
		args = append(args, f.LastContactBefore.UnixNano())
	}
	if !f.LastContactAfter.IsZero() {
		where = append(where, "c.last_contact_at >= ?")
		args = append(args, f.LastContactAfter.UnixNano())
	}
	return where, args
}

// fewInContact reports whether fewer customers fall in f's last-contact
// range than team has active follows, counting at most that many index
// entries of each (both counts read indexes only).
func (db *DB) fewInContact(ctx context.Context, f store.CustomerFilter, team []string) bool {
	var follows int64
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM customer_follows WHERE staff_id IN (`+placeholders(len(team))+
		`) AND deleted = 0`, staffArgs(team)...).Scan(&follows); err != nil {
		return false // the follows' plan is always right, only slower
	}
	where, args := appendContact(nil, nil, f)
	var n int64
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM customers AS c INDEXED BY customers_last_contact WHERE `+
		strings.Join(where, " AND ")+` LIMIT ?)`, append(args, follows)...).Scan(&n)
	return err == nil && n < follows
}

// denseContactRange reports whether at least denseContact customers fall
// in f's last-contact range, counting at most that many index entries.
func (db *DB) denseContactRange(ctx context.Context, f store.CustomerFilter) (bool, error) {
	where, args := appendContact(nil, nil, f)
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM customers AS c INDEXED BY customers_last_contact WHERE `+
		strings.Join(where, " AND ")+` LIMIT ?)`, append(args, denseContact)...).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("size last-contact range: %w", err)
	}
	return n >= denseContact, nil
}

// resolveCustomer follows merge records from id to the live customer;
// ErrNotFound if there is none.
func resolveCustomer(ctx context.Context, q execer, id int64) (int64, error) {
	var into int64
	err := q.QueryRowContext(ctx, `SELECT into_id FROM customer_merges WHERE id = ?`, id).Scan(&into)
	switch {
	case err == nil:
		id = into
	case !errors.Is(err, sql.ErrNoRows):
		return 0, fmt.Errorf("resolve customer: %w", err)
	}
	var one int
	err = q.QueryRowContext(ctx, `SELECT 1 FROM customers WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, store.ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("find customer: %w", err)
	}
	return id, nil
}

// UpdateCustomer applies upd in one write transaction. A merged-away ID
// resolves to the survivor.
func (db *DB) UpdateCustomer(ctx context.Context, id string, upd store.CustomerUpdate) (*store.Customer, error) {
	n, ok := parseID(id)
	if !ok {
		return nil, fmt.Errorf("sqlite: update customer %q: %w", id, store.ErrNotFound)
	}
	var c *store.Customer
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		cid, err := updateTx(ctx, tx, n, upd)
		if err != nil {
			return err
		}
		c, err = loadCustomer(ctx, tx, cid)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: update customer %s: %w", id, err)
	}
	return c, nil
}

// UpsertCustomerBatch applies, for each i, ups[i] and then upds[i] on the
// customer it landed on, all in one write transaction, and returns the
// customers' IDs. Bulk imports use it: one transaction for hundreds of
// customers instead of two each, and no reload of every customer.
func (db *DB) UpsertCustomerBatch(ctx context.Context, ups []store.CustomerUpsert, upds []store.CustomerUpdate) ([]string, error) {
	if len(ups) != len(upds) {
		return nil, fmt.Errorf("sqlite: upsert batch: %d upserts but %d updates: %w", len(ups), len(upds), store.ErrInvalid)
	}
	ids := make([]string, len(ups))
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		for i, u := range ups {
			cid, err := upsertTx(ctx, tx, u)
			if err != nil {
				return err
			}
			if cid, err = updateTx(ctx, tx, cid, upds[i]); err != nil {
				return err
			}
			ids[i] = formatID(cid)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: upsert batch: %w", err)
	}
	return ids, nil
}

// updateTx applies upd to customer n (or its merge survivor) inside tx and
// returns the customer's ID.
func updateTx(ctx context.Context, tx *sql.Tx, n int64, upd store.CustomerUpdate) (int64, error) {
	if upd.Stage != nil && *upd.Stage == "" {
		return 0, fmt.Errorf("empty stage: %w", store.ErrInvalid)
	}
	for _, ident := range upd.AddIdentities {
		if err := store.ValidIdentity(ident); err != nil {
			return 0, err
		}
	}
	var insight any
	if upd.Insight != nil {
		b, err := json.Marshal(upd.Insight)
		if err != nil {
			return 0, fmt.Errorf("encode insight: %w", err)
		}
		insight = string(b)
	}
	now := upd.Now
	if now.IsZero() {
		now = time.Now()
	}
	cid, err := resolveCustomer(ctx, tx, n)
	if err != nil {
		return 0, err
	}
	for _, ident := range upd.AddIdentities {
		var owner int64
		err := tx.QueryRowContext(ctx, `SELECT customer_id FROM customer_identities WHERE kind = ? AND value = ?`,
			ident.Kind, ident.Value).Scan(&owner)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := tx.ExecContext(ctx, `INSERT INTO customer_identities (kind, value, customer_id) VALUES (?, ?, ?)`,
				ident.Kind, ident.Value, cid); err != nil {
				return 0, fmt.Errorf("add identity %s: %w", ident.Kind, err)
			}
		case err != nil:
			return 0, fmt.Errorf("find identity %s: %w", ident.Kind, err)
		case owner != cid:
			return 0, fmt.Errorf("identity %s belongs to another customer: %w", ident.Kind, store.ErrConflict)
		}
	}
	var fields any
	if len(upd.Fields) > 0 {
		var stored sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT fields FROM customers WHERE id = ?`, cid).Scan(&stored); err != nil {
			return 0, fmt.Errorf("read fields: %w", err)
		}
		m, err := decodeAttrs(stored)
		if err != nil {
			return 0, err
		}
		if fields, err = encodeAttrs(mergeFields(m, upd.Fields)); err != nil {
			return 0, err
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE customers SET
			name = CASE WHEN ?1 THEN ?2 ELSE name END,
			stage = CASE WHEN ?3 THEN ?4 ELSE stage END,
			tier = CASE WHEN ?5 THEN ?6 ELSE tier END,
			fields = CASE WHEN ?7 THEN ?8 ELSE fields END,
			insight = CASE WHEN ?9 THEN ?10 ELSE insight END,
			updated_at = MAX(updated_at, ?11)
		WHERE id = ?12`,
		upd.Name != nil, deref(upd.Name), upd.Stage != nil, deref(upd.Stage), upd.Tier != nil, deref(upd.Tier),
		len(upd.Fields) > 0, fields, upd.Insight != nil, insight, now.UnixNano(), cid)
	if err != nil {
		return 0, fmt.Errorf("update: %w", err)
	}
	for _, tag := range upd.AddTags {
		if tag == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO customer_tags (customer_id, tag) VALUES (?, ?)`, cid, tag); err != nil {
			return 0, fmt.Errorf("add tag: %w", err)
		}
	}
	for _, tag := range upd.RemoveTags {
		if _, err := tx.ExecContext(ctx, `DELETE FROM customer_tags WHERE customer_id = ? AND tag = ?`, cid, tag); err != nil {
			return 0, fmt.Errorf("remove tag: %w", err)
		}
	}
	return cid, nil
}

// mergeFields applies an update's fields to stored ones: an empty value
// deletes its key. The result is nil when nothing is left.
func mergeFields(stored, upd map[string]string) map[string]string {
	out := maps.Clone(stored)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range upd {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func decodeInsight(s sql.NullString) (*store.Insight, error) {
	if !s.Valid || s.String == "" {
		return nil, nil
	}
	var in store.Insight
	if err := json.Unmarshal([]byte(s.String), &in); err != nil {
		return nil, fmt.Errorf("decode insight: %w", err)
	}
	in.AnalyzedAt = in.AnalyzedAt.UTC()
	return &in, nil
}

// MergeCustomers merges from into into in one write transaction.
func (db *DB) MergeCustomers(ctx context.Context, into, from string) (*store.Customer, error) {
	dst, ok1 := parseID(into)
	src, ok2 := parseID(from)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("sqlite: merge customer %q into %q: %w", from, into, store.ErrNotFound)
	}
	if dst == src {
		return nil, fmt.Errorf("sqlite: merge customer %s into itself: %w", into, store.ErrInvalid)
	}
	var c *store.Customer
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		for _, id := range []int64{dst, src} {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM customers WHERE id = ?`, id).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("customer %s: %w", formatID(id), store.ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("find customer %s: %w", formatID(id), err)
			}
		}
		if err := mergeCustomer(ctx, tx, src, dst, time.Now()); err != nil {
			return err
		}
		var err error
		c, err = loadCustomer(ctx, tx, dst)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: merge customer %s into %s: %w", from, into, err)
	}
	return c, nil
}

// eraseChunk is how many event IDs one redaction transaction covers: the
// log is scanned outside the final transaction in short steps, so an erase
// never holds the writer (and the callback ack path) for long.
const eraseChunk = 20_000

// EraseCustomer removes every record of the customer. The event log is
// redacted first, in short transactions, then everything else goes in one
// transaction that also redacts events appended meanwhile; if the process
// dies halfway, erasing again finishes the job. Freed space and pages are
// zeroed (secure_delete ON for the erase, FAST otherwise) and the WAL is
// checkpointed and truncated afterwards, so the words do not linger in the
// files either.
func (db *DB) EraseCustomer(ctx context.Context, id string) error {
	n, ok := parseID(id)
	if !ok {
		return fmt.Errorf("sqlite: erase customer %q: %w", id, store.ErrNotFound)
	}
	if err := db.erase(ctx, n); err != nil {
		return fmt.Errorf("sqlite: erase customer %s: %w", id, err)
	}
	return nil
}

func (db *DB) erase(ctx context.Context, n int64) error {
	values, err := identityValues(ctx, db.w, n)
	if err != nil {
		return err
	}
	if _, err := db.w.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return fmt.Errorf("secure delete on: %w", err)
	}
	defer db.w.ExecContext(context.WithoutCancel(ctx), `PRAGMA secure_delete = FAST`) //nolint:errcheck // best effort; the flag only costs speed
	var top int64
	if err := db.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM events`).Scan(&top); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	for lo := int64(0); lo < top && len(values) > 0; lo += eraseChunk {
		err := db.writeTx(ctx, func(tx *sql.Tx) error {
			return redactEvents(ctx, tx, values, lo, min(lo+eraseChunk, top))
		})
		if err != nil {
			return err
		}
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		now, err := identityValues(ctx, tx, n)
		if err != nil {
			return err
		}
		// Identities added during the scan need the whole log; the rest
		// only what arrived after it.
		var added []string
		for _, v := range now {
			if !slices.Contains(values, v) {
				added = append(added, v)
			}
		}
		if err := redactEvents(ctx, tx, values, top, -1); err != nil {
			return err
		}
		if err := redactEvents(ctx, tx, added, 0, -1); err != nil {
			return err
		}
		var messages int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM timeline WHERE customer_id = ? AND kind = ?`,
			n, store.EntryMessage).Scan(&messages); err != nil {
			return fmt.Errorf("count messages: %w", err)
		}
		cid := formatID(n)
		// Cursors are named after what they track, e.g. "bot-reply:<dedup
		// key>" whose dedup key may hold an identity value.
		// Markers likewise: their keys are made of the same parts.
		cursorWhere, cursorArgs := componentMatch("name"), componentArgs(cid)
		markerWhere, markerArgs := componentMatch("key"), componentArgs(cid)
		for _, v := range slices.Concat(values, added) {
			cursorWhere += " OR " + componentMatch("name")
			cursorArgs = append(cursorArgs, componentArgs(v)...)
			markerWhere += " OR " + componentMatch("key")
			markerArgs = append(markerArgs, componentArgs(v)...)
		}
		var identityArgs []any
		for _, v := range slices.Concat(values, added) {
			identityArgs = append(identityArgs, v)
		}
		stmts := []struct {
			what, sql string
			args      []any
		}{
			{"timeline", `DELETE FROM timeline WHERE customer_id = ?`, []any{n}},
			{"reminders", `DELETE FROM reminders WHERE customer_id = ?`, []any{n}},
			{"jobs", `DELETE FROM jobs WHERE ` + componentMatch("key"), componentArgs(cid)},
			{"cursors", `DELETE FROM cursors WHERE ` + cursorWhere, cursorArgs},
			{"markers", `DELETE FROM markers WHERE ` + markerWhere, markerArgs},
			{"handovers", `DELETE FROM handovers WHERE customer_id = ?`, []any{cid}},
			{"inbox offers", `DELETE FROM inbox_offers WHERE customer_id = ?`, []any{cid}},
			{"inbox claims", `DELETE FROM inbox_claims WHERE customer_id = ?`, []any{cid}},
			{"kf accounts", `DELETE FROM kf_accounts WHERE external_userid IN (` + placeholders(len(identityArgs)) + `)`, identityArgs},
			{"follows", `DELETE FROM customer_follows WHERE customer_id = ?`, []any{n}},
			{"channel events", `DELETE FROM channel_events WHERE customer_id = ?`, []any{cid}},
			{"campaign sends", `DELETE FROM campaign_sends WHERE customer_id = ?`, []any{cid}},
			{"journey runs", `DELETE FROM journey_runs WHERE customer_id = ?`, []any{cid}},
			{"tags", `DELETE FROM customer_tags WHERE customer_id = ?`, []any{n}},
			{"identities", `DELETE FROM customer_identities WHERE customer_id = ?`, []any{n}},
			{"merge records", `DELETE FROM customer_merges WHERE id = ? OR into_id = ?`, []any{n, n}},
			{"customer", `DELETE FROM customers WHERE id = ?`, []any{n}},
		}
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s.sql, s.args...); err != nil {
				return fmt.Errorf("delete %s: %w", s.what, err)
			}
		}
		if err := scrubCampaignTasks(ctx, tx, slices.Concat(values, added)); err != nil { // campaigns.go
			return err
		}
		if err := eraseGroupMembers(ctx, tx, slices.Concat(values, added)); err != nil { // groups.go
			return err
		}
		if err := bump(ctx, tx, counterMessages, -messages); err != nil {
			return err
		}
		return bump(ctx, tx, counterCustomers, -1)
	})
	if err != nil {
		return err
	}
	// Old page images stay in the WAL until it is checkpointed and reset.
	// A reader holding an old snapshot can make this fall short; the next
	// checkpoint then finishes it.
	if _, err := db.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// identityValues lists the values of customer n's identities; ErrNotFound
// if the customer does not exist.
func identityValues(ctx context.Context, q execer, n int64) ([]string, error) {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM customers WHERE id = ?`, n).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find customer: %w", err)
	}
	var out []string
	err = eachRow(ctx, q, `SELECT DISTINCT value FROM customer_identities WHERE customer_id = ? ORDER BY value`, []any{n},
		func(r *sql.Rows) error {
			var v string
			if err := r.Scan(&v); err != nil {
				return err
			}
			out = append(out, v)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("list identities: %w", err)
	}
	return out, nil
}

// redactEvents clears events with lo < id <= hi (hi < 0: no upper bound)
// whose customer or sender is one of values, or customer-group changes that
// name one of them: their words, raw XML,
// attributes and those identity values go; the row stays so IDs and
// counters stay consistent. An unprocessed one is marked processed, or the
// pipeline would recreate the customer from it.
func redactEvents(ctx context.Context, tx *sql.Tx, values []string, lo, hi int64) error {
	if len(values) == 0 {
		return nil
	}
	in := placeholders(len(values))
	vals := make([]any, len(values))
	for i, v := range values {
		vals[i] = v
	}
	// A customer-group change names every member it concerns in one event
	// (MemChangeList): those events carry the customer without being theirs.
	memberOf := strings.TrimSuffix(strings.Repeat("instr(COALESCE(attrs, ''), ?) > 0 OR ", len(values)), " OR ")
	// Arguments in the order their placeholders appear.
	args := slices.Concat(vals, vals, []any{time.Now().UnixNano()}, vals, vals, vals, []any{lo})
	bound := ""
	if hi >= 0 {
		bound = " AND id <= ?"
		args = append(args, hi)
	}
	_, err := tx.ExecContext(ctx, `UPDATE events SET text = '', raw = NULL, attrs = NULL,
			customer_id = CASE WHEN customer_id IN (`+in+`) THEN '' ELSE customer_id END,
			from_id = CASE WHEN from_id IN (`+in+`) THEN '' ELSE from_id END,
			dedup_key = 'erased:' || id,
			processed_at = COALESCE(processed_at, ?), lease_owner = NULL, lease_until = NULL
		WHERE (customer_id IN (`+in+`) OR from_id IN (`+in+`)
			OR (kind LIKE 'event.change\_external\_chat.%' ESCAPE '\' AND (`+memberOf+`))) AND id > ?`+bound,
		args...)
	if err != nil {
		return fmt.Errorf("redact events: %w", err)
	}
	return nil
}

// componentMatch matches a ':'-separated key that has one component equal
// to the argument (componentArgs gives the four arguments).
func componentMatch(col string) string {
	return `(` + col + ` = ? OR ` + col + ` LIKE ? ESCAPE '\' OR ` + col + ` LIKE ? ESCAPE '\' OR ` + col + ` LIKE ? ESCAPE '\')`
}

func componentArgs(v string) []any {
	e := escapeLike(v)
	return []any{v, e + ":%", "%:" + e, "%:" + e + ":%"}
}
