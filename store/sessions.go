package store

import (
	"context"
	"time"
)

// Sign-in records: the console's server-side sessions and one-time login
// links. Both are keyed by the SHA-256 (hex) of a secret the browser or the
// link holds: the store never sees the secret itself, so a copy of the
// database signs nobody in.

// Session is one signed-in browser.
type Session struct {
	ID      string // hex SHA-256 of the cookie's secret
	StaffID string // the staff member, or the admin token's actor ("token:admin")
	// CSRF is the token every write made with the session must carry in
	// X-CSRF-Token. It is not a credential on its own (the cookie is).
	CSRF       string
	Method     string // how the session was signed in: "wecom_oauth", "wecom_web", "link", "token"
	CreatedAt  time.Time
	LastSeenAt time.Time // raised by TouchSession; a session idle too long ends
	ExpiresAt  time.Time // absolute end, whatever the activity
}

// LoginLink is a one-time sign-in link: valid until ExpiresAt, good once.
type LoginLink struct {
	ID        string // hex SHA-256 of the link's token
	StaffID   string
	Next      string // the local path to open after signing in
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SessionStore keeps sessions and login links.
type SessionStore interface {
	// CreateSession stores s. ErrInvalid without ID, StaffID or ExpiresAt;
	// ErrConflict if a session with the ID exists.
	CreateSession(ctx context.Context, s *Session) error
	// FindSession returns ErrNotFound if there is no session id. It does
	// not judge expiry: the caller knows the idle limit.
	FindSession(ctx context.Context, id string) (*Session, error)
	// TouchSession raises LastSeenAt to at (an earlier at changes nothing).
	// ErrNotFound if the session does not exist.
	TouchSession(ctx context.Context, id string, at time.Time) error
	// DeleteSession removes a session; deleting an absent one succeeds.
	DeleteSession(ctx context.Context, id string) error
	// DeleteExpiredSessions removes the sessions that ended by now: those
	// whose ExpiresAt is at or before now and those last seen before
	// idleBefore. It also removes login links that expired at or before
	// now, used or not. It returns how many sessions it removed.
	DeleteExpiredSessions(ctx context.Context, idleBefore, now time.Time) (int64, error)

	// CreateLoginLink stores l. ErrInvalid without ID, StaffID or
	// ExpiresAt; ErrConflict if a link with the ID exists.
	CreateLoginLink(ctx context.Context, l *LoginLink) error
	// RedeemLoginLink uses link id up at now and returns it. It is atomic
	// across instances: of concurrent redemptions of one link exactly one
	// succeeds. ErrNotFound if the link does not exist, was used already,
	// or expired at or before now.
	RedeemLoginLink(ctx context.Context, id string, now time.Time) (*LoginLink, error)
}
