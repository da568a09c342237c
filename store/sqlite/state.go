package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/scrmhq/scrm/store"
)

// This file holds the typed state of handovers and the inbox
// (store.HandoverStateStore, store.InboxStateStore) and its move out of the
// cursors of older databases.

const handoverColumns = `id, customer_id, external_userid, from_staff, to_staff, resigned, message, by_actor, status,
	reason, submitted, started_at, takeover_at, finished_at`

// FindHandover returns ErrNotFound when customerID has no handover by from.
func (db *DB) FindHandover(ctx context.Context, customerID, from string) (*store.Handover, error) {
	var h store.Handover
	var started int64
	var takeover, finished sql.NullInt64
	err := db.r.QueryRowContext(ctx, `SELECT `+handoverColumns+` FROM handovers WHERE customer_id = ? AND from_staff = ?`,
		customerID, from).Scan(&h.ID, &h.CustomerID, &h.ExternalUserID, &h.From, &h.To, &h.Resigned, &h.Message, &h.By,
		&h.Status, &h.Reason, &h.Submitted, &started, &takeover, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: find handover of %s by %s: %w", customerID, from, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: find handover of %s by %s: %w", customerID, from, err)
	}
	h.StartedAt, h.TakeoverAt, h.FinishedAt = fromNanos(started), fromNullNanos(takeover), fromNullNanos(finished)
	return &h, nil
}

// PutHandover replaces the handover of h's customer by h.From.
func (db *DB) PutHandover(ctx context.Context, h *store.Handover) error {
	if err := putHandover(ctx, db.w, h, `DO UPDATE SET id = excluded.id,
		external_userid = excluded.external_userid, to_staff = excluded.to_staff, resigned = excluded.resigned,
		message = excluded.message, by_actor = excluded.by_actor, status = excluded.status, reason = excluded.reason,
		submitted = excluded.submitted, started_at = excluded.started_at, takeover_at = excluded.takeover_at,
		finished_at = excluded.finished_at`); err != nil {
		return fmt.Errorf("sqlite: put handover: %w", err)
	}
	return nil
}

// putHandover inserts h; onConflict says what a handover already there
// becomes ("DO NOTHING" keeps it).
func putHandover(ctx context.Context, q execer, h *store.Handover, onConflict string) error {
	if h.CustomerID == "" || h.From == "" || h.ID == "" {
		return fmt.Errorf("handover needs id, customer and from: %w", store.ErrInvalid)
	}
	_, err := q.ExecContext(ctx, `INSERT INTO handovers (`+handoverColumns+`) VALUES (`+placeholders(14)+`)
		ON CONFLICT (customer_id, from_staff) `+onConflict,
		h.ID, h.CustomerID, h.ExternalUserID, h.From, h.To, h.Resigned, h.Message, h.By, h.Status, h.Reason, h.Submitted,
		nanos(h.StartedAt), nullNanos(h.TakeoverAt), nullNanos(h.FinishedAt))
	return err
}

// FindInboxOffer returns ErrNotFound when customerID was never offered.
func (db *DB) FindInboxOffer(ctx context.Context, customerID string) (*store.InboxOffer, error) {
	o := store.InboxOffer{CustomerID: customerID}
	var to string
	var at int64
	err := db.r.QueryRowContext(ctx, `SELECT round, to_staff, at, opener, claimed_by FROM inbox_offers WHERE customer_id = ?`,
		customerID).Scan(&o.Round, &to, &at, &o.Opener, &o.ClaimedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: find inbox offer of %s: %w", customerID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: find inbox offer of %s: %w", customerID, err)
	}
	if err := json.Unmarshal([]byte(to), &o.To); err != nil {
		return nil, fmt.Errorf("sqlite: find inbox offer of %s: %w", customerID, err)
	}
	o.At = fromNanos(at)
	return &o, nil
}

// PutInboxOffer replaces the offer of o's customer.
func (db *DB) PutInboxOffer(ctx context.Context, o *store.InboxOffer) error {
	if err := putInboxOffer(ctx, db.w, o, `DO UPDATE SET round = excluded.round,
		to_staff = excluded.to_staff, at = excluded.at, opener = excluded.opener, claimed_by = excluded.claimed_by`); err != nil {
		return fmt.Errorf("sqlite: put inbox offer: %w", err)
	}
	return nil
}

func putInboxOffer(ctx context.Context, q execer, o *store.InboxOffer, onConflict string) error {
	if o.CustomerID == "" {
		return fmt.Errorf("inbox offer needs a customer: %w", store.ErrInvalid)
	}
	to, err := json.Marshal(o.To)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `INSERT INTO inbox_offers (customer_id, round, to_staff, at, opener, claimed_by)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (customer_id) `+onConflict,
		o.CustomerID, o.Round, string(to), nanos(o.At), o.Opener, o.ClaimedBy)
	return err
}

// SetClaimWinner records who won round's claim of customerID.
func (db *DB) SetClaimWinner(ctx context.Context, customerID string, round int, staffID string) error {
	if err := setClaimWinner(ctx, db.w, store.ClaimRecord{CustomerID: customerID, Round: round, StaffID: staffID},
		"DO UPDATE SET staff_id = excluded.staff_id"); err != nil {
		return fmt.Errorf("sqlite: set claim winner: %w", err)
	}
	return nil
}

func setClaimWinner(ctx context.Context, q execer, c store.ClaimRecord, onConflict string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO inbox_claims (customer_id, round, staff_id) VALUES (?, ?, ?)
		ON CONFLICT (customer_id, round) `+onConflict, c.CustomerID, c.Round, c.StaffID)
	return err
}

// ClaimWinner returns who won round's claim of customerID, "" if nobody.
func (db *DB) ClaimWinner(ctx context.Context, customerID string, round int) (string, error) {
	return db.optionalString(ctx, "claim winner", `SELECT staff_id FROM inbox_claims WHERE customer_id = ? AND round = ?`,
		customerID, round)
}

// SetKFAccount records the 微信客服 account externalUserID last wrote to.
func (db *DB) SetKFAccount(ctx context.Context, externalUserID, openKfID string) error {
	if err := setKFAccount(ctx, db.w, store.KFAccountRecord{ExternalUserID: externalUserID, OpenKfID: openKfID},
		"DO UPDATE SET open_kfid = excluded.open_kfid"); err != nil {
		return fmt.Errorf("sqlite: set kf account: %w", err)
	}
	return nil
}

func setKFAccount(ctx context.Context, q execer, k store.KFAccountRecord, onConflict string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO kf_accounts (external_userid, open_kfid) VALUES (?, ?)
		ON CONFLICT (external_userid) `+onConflict, k.ExternalUserID, k.OpenKfID)
	return err
}

// KFAccount returns the account SetKFAccount recorded, "" if none.
func (db *DB) KFAccount(ctx context.Context, externalUserID string) (string, error) {
	return db.optionalString(ctx, "kf account", `SELECT open_kfid FROM kf_accounts WHERE external_userid = ?`, externalUserID)
}

// optionalString reads one string column of at most one row; "" for none.
func (db *DB) optionalString(ctx context.Context, what, query string, args ...any) (string, error) {
	var v string
	err := db.r.QueryRowContext(ctx, query, args...).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return v, nil
}

// moveCursorState moves the state a database kept in cursors before it was
// typed (store.DecodeLegacyState) into its tables, in one transaction, at
// every Open: it finds nothing once done. A record already in its table
// stays as it is, so the move never sets state back.
func (db *DB) moveCursorState(ctx context.Context) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		for _, prefix := range store.LegacyStatePrefixes {
			lo, hi := prefix, prefix[:len(prefix)-1]+";" // every name "<prefix>…": ':' + 1 is ';'
			var names, values []string
			err := eachRow(ctx, tx, `SELECT name, value FROM cursors WHERE name >= ? AND name < ?`, []any{lo, hi},
				func(r *sql.Rows) error {
					var n, v string
					if err := r.Scan(&n, &v); err != nil {
						return err
					}
					names, values = append(names, n), append(values, v)
					return nil
				})
			if err != nil {
				return err
			}
			for i, name := range names {
				rec, ok := store.DecodeLegacyState(name, values[i])
				if !ok {
					continue
				}
				if err := putLegacyState(ctx, tx, rec); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				if _, err := tx.ExecContext(ctx, `DELETE FROM cursors WHERE name = ?`, name); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: move state out of cursors: %w", err)
	}
	return nil
}

func putLegacyState(ctx context.Context, tx *sql.Tx, rec any) error {
	const keep = "DO NOTHING"
	switch r := rec.(type) {
	case *store.Handover:
		return putHandover(ctx, tx, r, keep)
	case *store.InboxOffer:
		return putInboxOffer(ctx, tx, r, keep)
	case store.ClaimRecord:
		return setClaimWinner(ctx, tx, r, keep)
	case store.KFAccountRecord:
		return setKFAccount(ctx, tx, r, keep)
	}
	return fmt.Errorf("unknown state %T", rec)
}
