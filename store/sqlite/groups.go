package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/scrmhq/scrm/store"
)

// UpsertGroup replaces the group's state and members in one write
// transaction, so the reported joins and leaves are exactly the difference
// from the state it replaced.
func (db *DB) UpsertGroup(ctx context.Context, g *store.Group) (store.GroupChange, error) {
	if err := store.ValidateGroup(g); err != nil {
		return store.GroupChange{}, fmt.Errorf("sqlite: upsert group: %w", err)
	}
	var ch store.GroupChange
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var (
			updated   int64
			dismissed sql.NullInt64
		)
		err := tx.QueryRowContext(ctx, `SELECT updated_at, dismissed_at FROM customer_groups WHERE chat_id = ?`, g.ChatID).
			Scan(&updated, &dismissed)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			ch.Created = true
		case err != nil:
			return fmt.Errorf("read: %w", err)
		case dismissed.Valid || g.UpdatedAt.UnixNano() < updated:
			return nil
		}
		old, err := groupMembers(ctx, tx, g.ChatID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO customer_groups (chat_id, name, owner_id, notice, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (chat_id) DO UPDATE SET name = excluded.name, owner_id = excluded.owner_id,
			notice = excluded.notice, created_at = excluded.created_at, updated_at = excluded.updated_at`,
			g.ChatID, g.Name, g.OwnerID, g.Notice, nanos(g.CreatedAt), nanos(g.UpdatedAt))
		if err != nil {
			return fmt.Errorf("write group: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM customer_group_members WHERE chat_id = ?`, g.ChatID); err != nil {
			return fmt.Errorf("clear members: %w", err)
		}
		for _, m := range g.Members {
			if _, err := tx.ExecContext(ctx, `INSERT INTO customer_group_members (chat_id, user_id, type, joined_at, join_scene, unionid)
				VALUES (?, ?, ?, ?, ?, ?)`, g.ChatID, m.UserID, m.Type, nanos(m.JoinedAt), m.JoinScene, m.UnionID); err != nil {
				return fmt.Errorf("write member: %w", err)
			}
		}
		ch.Applied = true
		ch.Joined, ch.Left = store.DiffGroupMembers(old, g.Members)
		return nil
	})
	if err != nil {
		return store.GroupChange{}, fmt.Errorf("sqlite: upsert group %s: %w", g.ChatID, err)
	}
	return ch, nil
}

// DismissGroup marks the group dismissed, recording an unknown one.
func (db *DB) DismissGroup(ctx context.Context, chatID string, at time.Time) (*store.Group, error) {
	if chatID == "" {
		return nil, fmt.Errorf("sqlite: dismiss group: no chat id: %w", store.ErrInvalid)
	}
	var g *store.Group
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		// updated_at of a recorded-only group is the dismissal: any later
		// snapshot is refused anyway because the group is dismissed.
		_, err := tx.ExecContext(ctx, `INSERT INTO customer_groups (chat_id, dismissed_at, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (chat_id) DO UPDATE SET dismissed_at = COALESCE(dismissed_at, excluded.dismissed_at)`,
			chatID, nanos(at), nanos(at))
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		g, err = findGroup(ctx, tx, chatID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: dismiss group %s: %w", chatID, err)
	}
	return g, nil
}

// FindGroupByChatID returns the group with its members.
func (db *DB) FindGroupByChatID(ctx context.Context, chatID string) (*store.Group, error) {
	g, err := findGroup(ctx, db.r, chatID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find group %s: %w", chatID, err)
	}
	return g, nil
}

const groupColumns = `chat_id, name, owner_id, notice, created_at, dismissed_at, updated_at`

func scanGroup(r interface{ Scan(...any) error }) (*store.Group, error) {
	var (
		g                store.Group
		created, updated int64
		dismissed        sql.NullInt64
	)
	if err := r.Scan(&g.ChatID, &g.Name, &g.OwnerID, &g.Notice, &created, &dismissed, &updated); err != nil {
		return nil, err
	}
	g.CreatedAt, g.UpdatedAt, g.DismissedAt = fromNanos(created), fromNanos(updated), fromNullNanos(dismissed)
	g.Dismissed = g.DismissedAt != nil
	return &g, nil
}

func findGroup(ctx context.Context, q execer, chatID string) (*store.Group, error) {
	g, err := scanGroup(q.QueryRowContext(ctx, `SELECT `+groupColumns+` FROM customer_groups WHERE chat_id = ?`, chatID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if g.Members, err = groupMembers(ctx, q, chatID); err != nil {
		return nil, err
	}
	return g, nil
}

// groupMembers lists a group's members by join time, then user ID.
func groupMembers(ctx context.Context, q execer, chatID string) ([]store.GroupMember, error) {
	out := []store.GroupMember{}
	err := eachRow(ctx, q, `SELECT user_id, type, joined_at, join_scene, unionid FROM customer_group_members
		WHERE chat_id = ? ORDER BY joined_at, user_id`, []any{chatID}, func(r *sql.Rows) error {
		var (
			m      store.GroupMember
			joined int64
		)
		if err := r.Scan(&m.UserID, &m.Type, &joined, &m.JoinScene, &m.UnionID); err != nil {
			return err
		}
		m.JoinedAt = fromNanos(joined)
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read members: %w", err)
	}
	return out, nil
}

// FindGroups returns groups matching f ordered by chat ID, with members.
func (db *DB) FindGroups(ctx context.Context, f store.GroupFilter) ([]*store.Group, error) {
	if f.OwnerIDs != nil && len(f.OwnerIDs) == 0 {
		return []*store.Group{}, nil
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	q := `SELECT ` + groupColumns + ` FROM customer_groups WHERE chat_id > ?`
	args := []any{f.AfterChatID}
	if !f.IncludeDismissed {
		q += ` AND dismissed_at IS NULL`
	}
	if f.OwnerIDs != nil {
		owners := slices.Compact(slices.Sorted(slices.Values(f.OwnerIDs)))
		q += ` AND owner_id IN (` + placeholders(len(owners)) + `)`
		for _, o := range owners {
			args = append(args, o)
		}
	}
	q += ` ORDER BY chat_id LIMIT ?`
	args = append(args, limit)
	out := []*store.Group{}
	err := eachRow(ctx, db.r, q, args, func(r *sql.Rows) error {
		g, err := scanGroup(r)
		if err != nil {
			return err
		}
		out = append(out, g)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: find groups: %w", err)
	}
	for _, g := range out {
		if g.Members, err = groupMembers(ctx, db.r, g.ChatID); err != nil {
			return nil, fmt.Errorf("sqlite: find groups: %w", err)
		}
	}
	return out, nil
}

// FindCustomerGroups finds the customer's memberships through their
// external_userid and unionid identities.
func (db *DB) FindCustomerGroups(ctx context.Context, customerID string) ([]store.CustomerGroup, error) {
	n, ok := parseID(customerID)
	if !ok {
		return nil, fmt.Errorf("sqlite: groups of customer %q: %w", customerID, store.ErrNotFound)
	}
	cid, err := resolveCustomer(ctx, db.r, n)
	if err != nil {
		return nil, fmt.Errorf("sqlite: groups of customer %s: %w", customerID, err)
	}
	out := []store.CustomerGroup{}
	// A member matches by external_userid, or by a unionid WeCom gave for
	// it. A customer with two matching members in one group (two merged
	// WeCom identities) is listed once, with the earlier join; SQLite takes
	// the bare join_scene from the row that MIN chose.
	err = eachRow(ctx, db.r, `SELECT g.chat_id, g.name, g.owner_id, MIN(m.joined_at), m.join_scene
		FROM customer_group_members AS m CROSS JOIN customer_groups AS g ON g.chat_id = m.chat_id
		WHERE g.dismissed_at IS NULL AND m.type = ? AND (
			m.user_id IN (SELECT value FROM customer_identities WHERE customer_id = ? AND kind = ?) OR
			(m.unionid != '' AND m.unionid IN (SELECT value FROM customer_identities WHERE customer_id = ? AND kind = ?)))
		GROUP BY g.chat_id ORDER BY MIN(m.joined_at), g.chat_id`,
		[]any{store.GroupMemberExternal, cid, store.IdentityExternalUserID, cid, store.IdentityUnionID},
		func(r *sql.Rows) error {
			var (
				cg     store.CustomerGroup
				joined int64
			)
			if err := r.Scan(&cg.ChatID, &cg.Name, &cg.OwnerID, &joined, &cg.JoinScene); err != nil {
				return err
			}
			cg.JoinedAt = fromNanos(joined)
			out = append(out, cg)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("sqlite: groups of customer %s: %w", customerID, err)
	}
	return out, nil
}

// eraseGroupMembers removes the external group members that the erased
// customer's identity values name (as external_userid or unionid); staff
// members are left alone even if a UserID happens to equal such a value. EraseCustomer calls
// it inside its final transaction.
func eraseGroupMembers(ctx context.Context, tx *sql.Tx, values []string) error {
	if len(values) == 0 {
		return nil
	}
	args := make([]any, 0, 1+2*len(values))
	args = append(args, store.GroupMemberExternal)
	for range 2 {
		for _, v := range values {
			args = append(args, v)
		}
	}
	in := placeholders(len(values))
	if _, err := tx.ExecContext(ctx, `DELETE FROM customer_group_members WHERE type = ? AND (user_id IN (`+in+`) OR
		(unionid != '' AND unionid IN (`+in+`)))`, args...); err != nil {
		return fmt.Errorf("delete group members: %w", err)
	}
	return nil
}
