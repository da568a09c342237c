package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/scrmhq/scrm/store"
)

// This file holds sign-in records (store.SessionStore). Every write goes
// through the single writer connection, so a redemption's DELETE … RETURNING
// is the one statement that can see a link: two redemptions never both get it.

func validSession(s *store.Session) error {
	if s.ID == "" || s.StaffID == "" || s.ExpiresAt.IsZero() {
		return fmt.Errorf("session needs id, staff and expiry: %w", store.ErrInvalid)
	}
	return nil
}

// CreateSession stores s; ErrConflict if its ID exists.
func (db *DB) CreateSession(ctx context.Context, s *store.Session) error {
	if err := validSession(s); err != nil {
		return fmt.Errorf("sqlite: create session: %w", err)
	}
	res, err := db.w.ExecContext(ctx, `INSERT INTO sessions (id, staff_id, csrf, method, created_at, last_seen_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		s.ID, s.StaffID, s.CSRF, s.Method, s.CreatedAt.UnixNano(), s.LastSeenAt.UnixNano(), s.ExpiresAt.UnixNano())
	if err != nil {
		return fmt.Errorf("sqlite: create session: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("sqlite: create session: %w", errors.Join(err, store.ErrConflict))
	}
	return nil
}

// FindSession returns ErrNotFound if there is no session id.
func (db *DB) FindSession(ctx context.Context, id string) (*store.Session, error) {
	var s store.Session
	var created, seen, expires int64
	err := db.r.QueryRowContext(ctx, `SELECT id, staff_id, csrf, method, created_at, last_seen_at, expires_at FROM sessions WHERE id = ?`, id).
		Scan(&s.ID, &s.StaffID, &s.CSRF, &s.Method, &created, &seen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: find session: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: find session: %w", err)
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromNanos(created), fromNanos(seen), fromNanos(expires)
	return &s, nil
}

// TouchSession raises LastSeenAt to at.
func (db *DB) TouchSession(ctx context.Context, id string, at time.Time) error {
	var n int
	err := db.w.QueryRowContext(ctx, `UPDATE sessions SET last_seen_at = max(last_seen_at, ?) WHERE id = ? RETURNING 1`,
		at.UnixNano(), id).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: touch session: %w", store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("sqlite: touch session: %w", err)
	}
	return nil
}

// DeleteSession removes a session; an absent one is no error.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	if _, err := db.w.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id); err != nil {
		return fmt.Errorf("sqlite: delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes ended sessions and expired login links.
func (db *DB) DeleteExpiredSessions(ctx context.Context, idleBefore, now time.Time) (int64, error) {
	var n int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at < ?`, now.UnixNano(), idleBefore.UnixNano())
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM login_links WHERE expires_at <= ?`, now.UnixNano())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired sessions: %w", err)
	}
	return n, nil
}

// CreateLoginLink stores l; ErrConflict if its ID exists.
func (db *DB) CreateLoginLink(ctx context.Context, l *store.LoginLink) error {
	if l.ID == "" || l.StaffID == "" || l.ExpiresAt.IsZero() {
		return fmt.Errorf("sqlite: create login link: needs id, staff and expiry: %w", store.ErrInvalid)
	}
	res, err := db.w.ExecContext(ctx, `INSERT INTO login_links (id, staff_id, next, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, l.ID, l.StaffID, l.Next, l.CreatedAt.UnixNano(), l.ExpiresAt.UnixNano())
	if err != nil {
		return fmt.Errorf("sqlite: create login link: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("sqlite: create login link: %w", errors.Join(err, store.ErrConflict))
	}
	return nil
}

// RedeemLoginLink deletes the link and returns it, if it is still valid.
func (db *DB) RedeemLoginLink(ctx context.Context, id string, now time.Time) (*store.LoginLink, error) {
	var l store.LoginLink
	var created, expires int64
	err := db.w.QueryRowContext(ctx, `DELETE FROM login_links WHERE id = ? AND expires_at > ?
		RETURNING id, staff_id, next, created_at, expires_at`, id, now.UnixNano()).
		Scan(&l.ID, &l.StaffID, &l.Next, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: redeem login link: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: redeem login link: %w", err)
	}
	l.CreatedAt, l.ExpiresAt = fromNanos(created), fromNanos(expires)
	return &l, nil
}
