package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/scrmhq/scrm/store"
)

// This file holds the small CRM records: staff, tags and the audit log.

// UpsertStaff creates or replaces a staff member by ID.
func (db *DB) UpsertStaff(ctx context.Context, s *store.Staff) error {
	if s.ID == "" {
		return fmt.Errorf("sqlite: upsert staff: empty id: %w", store.ErrInvalid)
	}
	deps, err := encodeList(s.Departments)
	if err != nil {
		return fmt.Errorf("sqlite: upsert staff %s: %w", s.ID, err)
	}
	team, err := encodeList(s.Team)
	if err != nil {
		return fmt.Errorf("sqlite: upsert staff %s: %w", s.ID, err)
	}
	manual, err := encodeList(s.Manual)
	if err != nil {
		return fmt.Errorf("sqlite: upsert staff %s: %w", s.ID, err)
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO staff (id, name, role, departments, team, active, source, manual) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role, departments = excluded.departments,
			team = excluded.team, active = excluded.active, source = excluded.source, manual = excluded.manual`,
		s.ID, s.Name, s.Role, deps, team, s.Active, s.Source, manual)
	if err != nil {
		return fmt.Errorf("sqlite: upsert staff %s: %w", s.ID, err)
	}
	return nil
}

const staffColumns = `id, name, role, departments, team, active, source, manual`

// FindStaffByID returns ErrNotFound if there is no such member.
func (db *DB) FindStaffByID(ctx context.Context, id string) (*store.Staff, error) {
	list, err := db.queryStaff(ctx, `SELECT `+staffColumns+` FROM staff WHERE id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find staff %s: %w", id, err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("sqlite: find staff %s: %w", id, store.ErrNotFound)
	}
	return list[0], nil
}

// FindStaff returns every staff member ordered by ID.
func (db *DB) FindStaff(ctx context.Context) ([]*store.Staff, error) {
	list, err := db.queryStaff(ctx, `SELECT `+staffColumns+` FROM staff ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find staff: %w", err)
	}
	return list, nil
}

func (db *DB) queryStaff(ctx context.Context, q string, args ...any) ([]*store.Staff, error) {
	var out []*store.Staff
	err := eachRow(ctx, db.r, q, args, func(r *sql.Rows) error {
		var s store.Staff
		var deps, team, manual sql.NullString
		if err := r.Scan(&s.ID, &s.Name, &s.Role, &deps, &team, &s.Active, &s.Source, &manual); err != nil {
			return err
		}
		if err := decodeList(deps, &s.Departments); err != nil {
			return fmt.Errorf("staff %s departments: %w", s.ID, err)
		}
		if err := decodeList(team, &s.Team); err != nil {
			return fmt.Errorf("staff %s team: %w", s.ID, err)
		}
		if err := decodeList(manual, &s.Manual); err != nil {
			return fmt.Errorf("staff %s manual: %w", s.ID, err)
		}
		out = append(out, &s)
		return nil
	})
	return out, err
}

// encodeList stores a slice as JSON; an empty one as NULL.
func encodeList[T any](l []T) (any, error) {
	if len(l) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("encode list: %w", err)
	}
	return string(b), nil
}

func decodeList[T any](s sql.NullString, out *[]T) error {
	if !s.Valid || s.String == "" {
		return nil
	}
	return json.Unmarshal([]byte(s.String), out)
}

// UpsertTags creates or replaces tags by ID in one transaction.
func (db *DB) UpsertTags(ctx context.Context, tags []store.Tag) error {
	for _, t := range tags {
		if t.ID == "" || t.Name == "" {
			return fmt.Errorf("sqlite: upsert tags: tag %q/%q: %w", t.ID, t.Name, store.ErrInvalid)
		}
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		for _, t := range tags {
			_, err := tx.ExecContext(ctx, `INSERT INTO tags (id, name, group_id, group_name, ord, local, deleted)
				VALUES (?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET name = excluded.name, group_id = excluded.group_id,
					group_name = excluded.group_name, ord = excluded.ord, local = excluded.local, deleted = excluded.deleted`,
				t.ID, t.Name, t.GroupID, t.GroupName, t.Order, t.Local, t.Deleted)
			if err != nil {
				return fmt.Errorf("tag %s: %w", t.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: upsert tags: %w", err)
	}
	return nil
}

// DeleteTags marks tags deleted.
func (db *DB) DeleteTags(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	if _, err := db.w.ExecContext(ctx, `UPDATE tags SET deleted = 1 WHERE id IN (`+placeholders(len(ids))+`)`, args...); err != nil {
		return fmt.Errorf("sqlite: delete tags: %w", err)
	}
	return nil
}

// FindTags returns the tags not deleted.
func (db *DB) FindTags(ctx context.Context) ([]store.Tag, error) {
	var out []store.Tag
	err := eachRow(ctx, db.r, `SELECT id, name, group_id, group_name, ord, local FROM tags WHERE deleted = 0
		ORDER BY group_id, ord DESC, id`, nil, func(r *sql.Rows) error {
		var t store.Tag
		if err := r.Scan(&t.ID, &t.Name, &t.GroupID, &t.GroupName, &t.Order, &t.Local); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: find tags: %w", err)
	}
	return out, nil
}

// AppendAudit stores e and sets e.ID.
func (db *DB) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	if e.Actor == "" || e.Action == "" {
		return fmt.Errorf("sqlite: append audit: actor and action are required: %w", store.ErrInvalid)
	}
	at := e.At
	if at.IsZero() {
		at = time.Now()
	}
	var id int64
	err := db.w.QueryRowContext(ctx, `INSERT INTO audit (actor, action, target, detail, at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		e.Actor, e.Action, e.Target, e.Detail, at.UnixNano()).Scan(&id)
	if err != nil {
		return fmt.Errorf("sqlite: append audit %s: %w", e.Action, err)
	}
	e.ID, e.At = id, at.UTC()
	return nil
}

// FindAudit returns entries newest first.
func (db *DB) FindAudit(ctx context.Context, target string, beforeID int64, limit int) ([]*store.AuditEntry, error) {
	if limit <= 0 {
		limit = 50
	}
	where, args := "id < ?", []any{beforeID}
	if beforeID <= 0 {
		args[0] = int64(1<<63 - 1)
	}
	if target != "" {
		where += " AND target = ?"
		args = append(args, target)
	}
	out, err := db.queryAudit(ctx, `SELECT id, actor, action, target, detail, at FROM audit WHERE `+where+` ORDER BY id DESC LIMIT ?`,
		append(args, limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: find audit: %w", err)
	}
	return out, nil
}

func (db *DB) queryAudit(ctx context.Context, query string, args []any) ([]*store.AuditEntry, error) {
	var out []*store.AuditEntry
	err := eachRow(ctx, db.r, query, args, func(r *sql.Rows) error {
		var e store.AuditEntry
		var at int64
		if err := r.Scan(&e.ID, &e.Actor, &e.Action, &e.Target, &e.Detail, &at); err != nil {
			return err
		}
		e.At = fromNanos(at)
		out = append(out, &e)
		return nil
	})
	return out, err
}

// FindAuditByAction returns action's entries in [from, to), oldest first.
func (db *DB) FindAuditByAction(ctx context.Context, action string, from, to time.Time, limit int) ([]*store.AuditEntry, error) {
	if limit <= 0 {
		limit = 1000
	}
	out, err := db.queryAudit(ctx, `SELECT id, actor, action, target, detail, at FROM audit WHERE action = ? AND at >= ? AND at < ?
		ORDER BY at, id LIMIT ?`, []any{action, nanos(from), nanos(to), limit})
	if err != nil {
		return nil, fmt.Errorf("sqlite: find audit by action: %w", err)
	}
	return out, nil
}

// errNoRow maps a missing row to ErrNotFound.
func errNoRow(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}
