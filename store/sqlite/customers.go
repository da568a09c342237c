package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
)

// Customer IDs are the integer primary key, zero-padded so that the string
// order the interface promises (FindCustomers "ordered by ID", AfterID) is the
// numeric order.
const idWidth = 10

func formatID(n int64) string { return fmt.Sprintf("%0*d", idWidth, n) }

// parseID returns false for strings that cannot be one of our IDs.
func parseID(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || formatID(n) != s {
		return 0, false
	}
	return n, true
}

// execer is what both *sql.DB and *sql.Tx offer.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// UpsertCustomer runs entirely in one write transaction; the single writer
// connection serializes concurrent upserts, so two callbacks for the same new
// identity always end with one customer.
func (db *DB) UpsertCustomer(ctx context.Context, u store.CustomerUpsert) (*store.Customer, error) {
	if u.Identity.Kind == "" || u.Identity.Value == "" {
		return nil, fmt.Errorf("sqlite: upsert customer: identity kind and value are required: %w", store.ErrInvalid)
	}
	var c *store.Customer
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		target, err := upsertTx(ctx, tx, u)
		if err != nil {
			return err
		}
		c, err = loadCustomer(ctx, tx, target)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: upsert customer %s: %w", u.Identity.Kind, err)
	}
	return c, nil
}

// upsertTx finds or creates the customer owning u's identities inside tx,
// merging customers the links join, applies u and returns the customer's ID.
func upsertTx(ctx context.Context, tx *sql.Tx, u store.CustomerUpsert) (int64, error) {
	if u.Identity.Kind == "" || u.Identity.Value == "" {
		return 0, fmt.Errorf("identity kind and value are required: %w", store.ErrInvalid)
	}
	now := u.Now
	if now.IsZero() {
		now = time.Now()
	}
	owners := map[int64]bool{}
	var unmapped []store.Identity
	for _, id := range u.Identities() {
		var cid int64
		err := tx.QueryRowContext(ctx, `SELECT customer_id FROM customer_identities WHERE kind = ? AND value = ?`,
			id.Kind, id.Value).Scan(&cid)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			unmapped = append(unmapped, id)
		case err != nil:
			return 0, fmt.Errorf("find identity: %w", err)
		default:
			owners[cid] = true
		}
	}
	var target int64
	if len(owners) == 0 {
		stage := u.Stage
		if stage == "" {
			stage = store.StageLead
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO customers (stage, created_at, updated_at) VALUES (?, ?, ?) RETURNING id`,
			stage, now.UnixNano(), now.UnixNano()).Scan(&target)
		if err != nil {
			return 0, fmt.Errorf("create customer: %w", err)
		}
		if err := bump(ctx, tx, counterCustomers, 1); err != nil {
			return 0, err
		}
	} else {
		var err error
		if target, err = mergeOwners(ctx, tx, owners, now); err != nil {
			return 0, err
		}
	}
	for _, id := range unmapped {
		if _, err := tx.ExecContext(ctx, `INSERT INTO customer_identities (kind, value, customer_id) VALUES (?, ?, ?)`,
			id.Kind, id.Value, target); err != nil {
			return 0, fmt.Errorf("add identity %s: %w", id.Kind, err)
		}
	}
	if err := applyUpsert(ctx, tx, target, u, now); err != nil {
		return 0, err
	}
	return target, nil
}

// mergeOwners merges all owners into the oldest and returns its ID.
func mergeOwners(ctx context.Context, tx *sql.Tx, owners map[int64]bool, now time.Time) (int64, error) {
	type owner struct{ id, created int64 }
	var list []owner
	for id := range owners {
		var created int64
		if err := tx.QueryRowContext(ctx, `SELECT created_at FROM customers WHERE id = ?`, id).Scan(&created); err != nil {
			return 0, fmt.Errorf("load customer %d: %w", id, err)
		}
		list = append(list, owner{id, created})
	}
	slices.SortFunc(list, func(a, b owner) int {
		return cmp.Or(cmp.Compare(a.created, b.created), cmp.Compare(a.id, b.id))
	})
	for _, o := range list[1:] {
		if err := mergeCustomer(ctx, tx, o.id, list[0].id, now); err != nil {
			return 0, err
		}
	}
	return list[0].id, nil
}

// mergeCustomer moves everything of src into dst and deletes src. dst keeps
// its own values; src only fills what dst lacks.
func mergeCustomer(ctx context.Context, tx *sql.Tx, src, dst int64, now time.Time) error {
	stmts := []struct {
		what, sql string
		args      []any
	}{
		{"identities", `UPDATE customer_identities SET customer_id = ? WHERE customer_id = ?`, []any{dst, src}},
		// A staff member following both keeps one follow: active if either is,
		// the earlier add time, and the remark and state dst lacks.
		{"follows", `INSERT INTO customer_follows (customer_id, staff_id, remark, state, added_at, deleted)
			SELECT ?, staff_id, remark, state, added_at, deleted FROM customer_follows WHERE customer_id = ?
			ON CONFLICT (customer_id, staff_id) DO UPDATE SET
				remark = CASE WHEN remark = '' THEN excluded.remark ELSE remark END,
				state = CASE WHEN state = '' THEN excluded.state ELSE state END,
				added_at = MIN(added_at, excluded.added_at),
				deleted = deleted AND excluded.deleted`, []any{dst, src}},
		{"follows", `DELETE FROM customer_follows WHERE customer_id = ?`, []any{src}},
		{"tags", `INSERT OR IGNORE INTO customer_tags (customer_id, tag) SELECT ?, tag FROM customer_tags WHERE customer_id = ?`, []any{dst, src}},
		{"tags", `DELETE FROM customer_tags WHERE customer_id = ?`, []any{src}},
		{"timeline", `UPDATE timeline SET customer_id = ? WHERE customer_id = ?`, []any{dst, src}},
		{"reminders", `UPDATE reminders SET customer_id = ? WHERE customer_id = ?`, []any{dst, src}},
		{"fields", `UPDATE customers SET
				name = CASE WHEN customers.name = '' THEN s.name ELSE customers.name END,
				avatar = CASE WHEN customers.avatar = '' THEN s.avatar ELSE customers.avatar END,
				tier = CASE WHEN customers.tier = '' THEN s.tier ELSE customers.tier END,
				fields = CASE WHEN s.fields IS NULL THEN customers.fields WHEN customers.fields IS NULL THEN s.fields
					ELSE json_patch(s.fields, customers.fields) END,
				insight = COALESCE(customers.insight, s.insight),
				last_customer_msg_at = MAX(COALESCE(customers.last_customer_msg_at, 0), COALESCE(s.last_customer_msg_at, 0)),
				last_staff_touch_at = MAX(COALESCE(customers.last_staff_touch_at, 0), COALESCE(s.last_staff_touch_at, 0)),
				awaiting_since = CASE WHEN customers.awaiting_since IS NULL THEN s.awaiting_since
					WHEN s.awaiting_since IS NULL THEN customers.awaiting_since
					ELSE MIN(customers.awaiting_since, s.awaiting_since) END,
				created_at = MIN(customers.created_at, s.created_at),
				updated_at = MAX(customers.updated_at, s.updated_at)
			FROM (SELECT * FROM customers WHERE id = ?) AS s WHERE customers.id = ?`, []any{src, dst}},
		{"customer", `DELETE FROM customers WHERE id = ?`, []any{src}},
		{"merge record", `UPDATE customer_merges SET into_id = ? WHERE into_id = ?`, []any{dst, src}},
		{"merge record", `INSERT INTO customer_merges (id, into_id, merged_at) VALUES (?, ?, ?)`, []any{src, dst, now.UnixNano()}},
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s.sql, s.args...); err != nil {
			return fmt.Errorf("merge customer %d into %d: %s: %w", src, dst, s.what, err)
		}
	}
	return bump(ctx, tx, counterCustomers, -1)
}

// applyUpsert applies u's fields to customer id. Every change is idempotent:
// sets of the same value, maximums of times, set-like follows and tags.
func applyUpsert(ctx context.Context, tx *sql.Tx, id int64, u store.CustomerUpsert, now time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE customers SET
			name = CASE WHEN ?1 <> '' THEN ?1 ELSE name END,
			avatar = CASE WHEN ?2 <> '' THEN ?2 ELSE avatar END,
			stage = CASE WHEN ?3 <> '' THEN ?3 ELSE stage END,
			last_customer_msg_at = CASE WHEN ?4 = 0 THEN last_customer_msg_at ELSE MAX(COALESCE(last_customer_msg_at, 0), ?4) END,
			last_staff_touch_at = CASE WHEN ?5 = 0 THEN last_staff_touch_at ELSE MAX(COALESCE(last_staff_touch_at, 0), ?5) END,
			updated_at = MAX(updated_at, ?6)
		WHERE id = ?7`,
		u.Name, u.Avatar, u.Stage, nanos(u.CustomerAt), nanos(u.StaffAt), now.UnixNano(), id)
	if err != nil {
		return fmt.Errorf("update customer: %w", err)
	}
	if f := u.Follow; f != nil && f.StaffID != "" {
		added := f.AddedAt
		if added.IsZero() {
			added = now
		}
		// Empty remark/state and a zero add time keep what is stored.
		_, err := tx.ExecContext(ctx, `INSERT INTO customer_follows (customer_id, staff_id, remark, state, added_at, deleted)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6)
			ON CONFLICT (customer_id, staff_id) DO UPDATE SET
				remark = CASE WHEN ?3 <> '' THEN ?3 ELSE remark END,
				state = CASE WHEN ?4 <> '' THEN ?4 ELSE state END,
				added_at = CASE WHEN ?7 THEN ?5 ELSE added_at END,
				deleted = ?6`,
			id, f.StaffID, f.Remark, f.State, added.UnixNano(), f.Deleted, !f.AddedAt.IsZero())
		if err != nil {
			return fmt.Errorf("follow %s: %w", f.StaffID, err)
		}
	}
	if u.Unfollow != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE customer_follows SET deleted = 1 WHERE customer_id = ? AND staff_id = ?`,
			id, u.Unfollow); err != nil {
			return fmt.Errorf("unfollow %s: %w", u.Unfollow, err)
		}
	}
	for _, tag := range u.AddTags {
		if tag == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO customer_tags (customer_id, tag) VALUES (?, ?)`, id, tag); err != nil {
			return fmt.Errorf("add tag: %w", err)
		}
	}
	for _, tag := range u.RemoveTags {
		if _, err := tx.ExecContext(ctx, `DELETE FROM customer_tags WHERE customer_id = ? AND tag = ?`, id, tag); err != nil {
			return fmt.Errorf("remove tag: %w", err)
		}
	}
	return nil
}

// FindCustomerByID returns ErrNotFound if the customer does not exist.
func (db *DB) FindCustomerByID(ctx context.Context, id string) (*store.Customer, error) {
	n, ok := parseID(id)
	if !ok {
		return nil, fmt.Errorf("sqlite: find customer %q: %w", id, store.ErrNotFound)
	}
	c, err := loadCustomer(ctx, db.r, n)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find customer %s: %w", id, err)
	}
	return c, nil
}

// FindCustomerByIdentity returns ErrNotFound if no customer has the identity.
func (db *DB) FindCustomerByIdentity(ctx context.Context, id store.Identity) (*store.Customer, error) {
	var cid int64
	err := db.r.QueryRowContext(ctx, `SELECT customer_id FROM customer_identities WHERE kind = ? AND value = ?`,
		id.Kind, id.Value).Scan(&cid)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: find customer by %s: %w", id.Kind, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: find customer by %s: %w", id.Kind, err)
	}
	c, err := loadCustomer(ctx, db.r, cid)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find customer by %s: %w", id.Kind, err)
	}
	return c, nil
}

const customerColumns = `c.id, c.name, c.avatar, c.stage, c.tier, c.fields, c.last_customer_msg_at, c.last_staff_touch_at,
	c.insight, c.created_at, c.updated_at`

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// loadCustomer reads one customer with identities, follows and tags.
func loadCustomer(ctx context.Context, q execer, id int64) (*store.Customer, error) {
	list, err := queryCustomers(ctx, q, `SELECT `+customerColumns+` FROM customers AS c WHERE c.id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, store.ErrNotFound
	}
	return list[0], nil
}

// queryCustomers runs a customers query and fills in the related rows for
// the whole page with one query per table.
func queryCustomers(ctx context.Context, q execer, query string, args ...any) ([]*store.Customer, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var (
		list  []*store.Customer
		byID  = map[int64]*store.Customer{}
		idArg []any
	)
	for rows.Next() {
		var (
			c                  store.Customer
			id                 int64
			fields, insight    sql.NullString
			lastCust, lastStaf sql.NullInt64
			created, updated   int64
		)
		if err := rows.Scan(&id, &c.Name, &c.Avatar, &c.Stage, &c.Tier, &fields, &lastCust, &lastStaf, &insight, &created, &updated); err != nil {
			rows.Close()
			return nil, err
		}
		c.ID = formatID(id)
		if c.Fields, err = decodeAttrs(fields); err != nil {
			rows.Close()
			return nil, fmt.Errorf("customer %d: %w", id, err)
		}
		if c.Insight, err = decodeInsight(insight); err != nil {
			rows.Close()
			return nil, fmt.Errorf("customer %d: %w", id, err)
		}
		c.LastCustomerMsgAt, c.LastStaffTouchAt = fromNullNanos(lastCust), fromNullNanos(lastStaf)
		c.CreatedAt, c.UpdatedAt = fromNanos(created), fromNanos(updated)
		c.Identities, c.Follows, c.Tags = []store.Identity{}, []store.Follow{}, []string{}
		list = append(list, &c)
		byID[id] = &c
		idArg = append(idArg, id)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, nil
	}
	in := placeholders(len(idArg))
	err = eachRow(ctx, q, `SELECT customer_id, kind, value FROM customer_identities WHERE customer_id IN (`+in+`) ORDER BY kind, value`,
		idArg, func(r *sql.Rows) error {
			var cid int64
			var id store.Identity
			if err := r.Scan(&cid, &id.Kind, &id.Value); err != nil {
				return err
			}
			byID[cid].Identities = append(byID[cid].Identities, id)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load identities: %w", err)
	}
	err = eachRow(ctx, q, `SELECT customer_id, staff_id, remark, state, added_at, deleted FROM customer_follows
		WHERE customer_id IN (`+in+`) ORDER BY staff_id`, idArg, func(r *sql.Rows) error {
		var cid, added int64
		var f store.Follow
		if err := r.Scan(&cid, &f.StaffID, &f.Remark, &f.State, &added, &f.Deleted); err != nil {
			return err
		}
		f.AddedAt = fromNanos(added)
		byID[cid].Follows = append(byID[cid].Follows, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load follows: %w", err)
	}
	err = eachRow(ctx, q, `SELECT customer_id, tag FROM customer_tags WHERE customer_id IN (`+in+`) ORDER BY tag`,
		idArg, func(r *sql.Rows) error {
			var cid int64
			var tag string
			if err := r.Scan(&cid, &tag); err != nil {
				return err
			}
			byID[cid].Tags = append(byID[cid].Tags, tag)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load tags: %w", err)
	}
	return list, nil
}

func eachRow(ctx context.Context, q execer, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
