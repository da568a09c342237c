package bot

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
)

// Sign-in: the console's server-side sessions and one-time login links.
// The doors (the edge's /auth routes, `scrm login-link`, the bot's 登录)
// call these methods; none of them writes a session or a link itself.
//
// A session's and a link's secret is 32 random bytes, base64url: the
// browser's cookie or the link holds it, the store only its SHA-256. Roles
// are never kept in the session: every request resolves the staff member
// again, so a deactivation or a role change takes effect at once.

// Audit actions of sign-in.
const (
	AuditLogin     = "login"      // a session was signed in; detail method=…
	AuditLogout    = "logout"     // a session was signed out
	AuditLoginLink = "login_link" // a one-time link was issued
)

// Sign-in methods, kept in store.Session.Method and the login audit entry.
const (
	SignInOAuth = "wecom_oauth" // WeCom OAuth2 inside the WeCom client
	SignInWeb   = "wecom_web"   // WeCom web login (扫码登录)
	SignInLink  = "link"        // a one-time login link
	SignInToken = "token"       // the admin token (SCRM_API_TOKEN)
)

// SourceCLI is the door of `scrm login-link` (an operator on the server).
const SourceCLI = "cli"

// LoginLinkURL is the address of a login link's secret under base, scrm's
// public URL.
func LoginLinkURL(base, secret string) string {
	return strings.TrimRight(base, "/") + "/auth/link?t=" + url.QueryEscape(secret)
}

// Lifetimes of sign-in records.
const (
	LoginLinkTTL       = 10 * time.Minute
	SessionMaxAge      = 7 * 24 * time.Hour // absolute, whatever the activity
	DefaultSessionIdle = 12 * time.Hour
	// sessionTouchEvery spares the store a write per request: a session's
	// last-seen time moves at most this often, which the idle limit
	// (hours) does not notice.
	sessionTouchEvery = time.Minute
	// maxSecretLen bounds a presented secret before it is hashed.
	maxSecretLen = 128
)

// ErrNotSignedIn is wrapped by the errors of a missing, expired or ended
// session and of an unusable login link: the edge answers 401.
var ErrNotSignedIn = errors.New("bot: not signed in")

func notSignedIn(reason, text string) error {
	return &ActionError{Err: ErrNotSignedIn, Reason: reason, Text: text}
}

// SessionGrant is a session just signed in: Token goes into the cookie and
// nowhere else.
type SessionGrant struct {
	Token   string
	Session *store.Session
	Viewer  Viewer
	// Next is where a login link asked to go ("" for other methods).
	Next string
}

// newSecret returns 32 random bytes, base64url, and their hashed ID.
func newSecret() (secret, id string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	secret = base64.RawURLEncoding.EncodeToString(b)
	return secret, HashSecret(secret)
}

// HashSecret is the store ID of a session's or a link's secret: the hex
// SHA-256 of it.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SafeNext returns next if it is a local path under /console/ or /sidebar/
// (or exactly /console or /sidebar), and "/console/" otherwise: a login must
// never send anyone to another site ("//evil", "/\evil", "https://…").
func SafeNext(next string) string {
	const fallback = "/console/"
	if next == "" || len(next) > 512 || strings.ContainsAny(next, "\\\r\n\t") || strings.HasPrefix(next, "//") {
		return fallback
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") {
		return fallback
	}
	// The path as the browser will resolve it: dot segments could climb
	// out of /console/.
	if strings.Contains(u.Path, "/../") || strings.HasSuffix(u.Path, "/..") || strings.Contains(u.Path, "/./") {
		return fallback
	}
	for _, p := range []string{"/console", "/sidebar"} {
		if u.Path == p || strings.HasPrefix(u.Path, p+"/") {
			return next
		}
	}
	return fallback
}

// signInViewer resolves who a session acts as: the admin token's actor, or
// an active staff member with a role.
func (c *Core) signInViewer(ctx context.Context, staffID string) (Viewer, error) {
	if staffID == AdminActorID {
		return Viewer{StaffID: AdminActorID, Role: RoleAdmin}, nil
	}
	if staffID == "" || ReservedStaffID(staffID) || len(staffID) > 64 {
		return Viewer{}, forbidden("not an active staff member", "你不是 scrm 的在职员工，无法登录。")
	}
	m, err := c.st.FindStaffByID(ctx, staffID)
	if errors.Is(err, store.ErrNotFound) {
		return Viewer{}, forbidden("not an active staff member", "你不是 scrm 的在职员工，无法登录。")
	}
	if err != nil {
		return Viewer{}, fmt.Errorf("sign in: find staff %s: %w", staffID, err)
	}
	v, ok := ViewerFromStaff(m)
	if !ok {
		return Viewer{}, forbidden("not an active staff member", "你不是 scrm 的在职员工，无法登录。")
	}
	return v, nil
}

// SignIn starts a session for staffID (an active staff member, or
// AdminActorID for the admin token) signed in by method, and audits it as
// AuditLogin by the person signing in. The caller has verified who they
// are (a WeCom code, a link, the admin token). An inactive or unknown
// member is refused with ErrForbidden.
func (c *Core) SignIn(ctx context.Context, staffID, method string) (*SessionGrant, error) {
	v, err := c.signInViewer(ctx, staffID)
	if err != nil {
		return nil, err
	}
	now := c.Now()
	secret, id := newSecret()
	csrf, _ := newSecret()
	s := &store.Session{ID: id, StaffID: staffID, CSRF: csrf, Method: method,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(SessionMaxAge)}
	if err := c.audit(ctx, Actor{Viewer: v, Source: SourceConsole}, AuditLogin, "staff:"+staffID, "method="+method, now); err != nil {
		return nil, err
	}
	if err := c.st.CreateSession(ctx, s); err != nil {
		return nil, fmt.Errorf("sign in %s: %w", staffID, err)
	}
	return &SessionGrant{Token: secret, Session: s, Viewer: v}, nil
}

// IssueLoginLink returns the secret of a one-time login link for staffID,
// valid LoginLinkTTL, that opens next (made safe by SafeNext) once signed
// in. A person may issue one for themselves, an admin or the system (the
// CLI) for anyone; the member must be active. It is audited as
// AuditLoginLink by a.
func (c *Core) IssueLoginLink(ctx context.Context, a Actor, staffID, next string) (string, time.Time, error) {
	if a.ID() != staffID && a.Role != RoleAdmin {
		return "", time.Time{}, forbidden("only an admin may issue a login link for someone else", "只有管理员可以为他人生成登录链接。")
	}
	if staffID == AdminActorID {
		return "", time.Time{}, invalid("the admin token signs in with POST /auth/token", "管理员令牌请在登录页输入。")
	}
	if _, err := c.signInViewer(ctx, staffID); err != nil {
		return "", time.Time{}, err
	}
	now := c.Now()
	secret, id := newSecret()
	l := &store.LoginLink{ID: id, StaffID: staffID, Next: SafeNext(next), CreatedAt: now, ExpiresAt: now.Add(LoginLinkTTL)}
	if err := c.audit(ctx, a, AuditLoginLink, "staff:"+staffID, "expires="+l.ExpiresAt.Format(time.RFC3339), now); err != nil {
		return "", time.Time{}, err
	}
	if err := c.st.CreateLoginLink(ctx, l); err != nil {
		return "", time.Time{}, fmt.Errorf("issue login link for %s: %w", staffID, err)
	}
	return secret, l.ExpiresAt, nil
}

// RedeemLoginLink uses up a login link and signs its member in (method
// SignInLink); Grant.Next is where the link asked to go. A link that is
// unknown, used or expired is refused with ErrNotSignedIn; of two
// instances redeeming one link at once only one succeeds.
func (c *Core) RedeemLoginLink(ctx context.Context, secret string) (*SessionGrant, error) {
	if secret == "" || len(secret) > maxSecretLen {
		return nil, notSignedIn("the login link is invalid", "登录链接无效。")
	}
	l, err := c.st.RedeemLoginLink(ctx, HashSecret(secret), c.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, notSignedIn("the login link is invalid, used or expired", "登录链接无效、已使用或已过期，请重新获取。")
	}
	if err != nil {
		return nil, fmt.Errorf("redeem login link: %w", err)
	}
	g, err := c.SignIn(ctx, l.StaffID, SignInLink)
	if err != nil {
		return nil, err
	}
	g.Next = l.Next
	return g, nil
}

// LookupSession returns the session whose cookie holds secret and the
// Viewer it acts as, resolved now from the staff directory. A session
// unknown, past its absolute end, idle for idle or longer (0 means
// DefaultSessionIdle), or whose member is no longer active is refused with
// ErrNotSignedIn, and an ended one is deleted. A live session's last-seen
// time is raised (at most once a minute).
func (c *Core) LookupSession(ctx context.Context, secret string, idle time.Duration) (*store.Session, Viewer, error) {
	if idle <= 0 {
		idle = DefaultSessionIdle
	}
	if secret == "" || len(secret) > maxSecretLen {
		return nil, Viewer{}, notSignedIn("not signed in", "未登录。")
	}
	id := HashSecret(secret)
	s, err := c.st.FindSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, Viewer{}, notSignedIn("not signed in", "未登录。")
	}
	if err != nil {
		return nil, Viewer{}, fmt.Errorf("lookup session: %w", err)
	}
	now := c.Now()
	if !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) >= idle {
		if err := c.st.DeleteSession(ctx, id); err != nil {
			return nil, Viewer{}, fmt.Errorf("lookup session: delete ended: %w", err)
		}
		return nil, Viewer{}, notSignedIn("the session has expired", "登录已过期，请重新登录。")
	}
	v, err := c.signInViewer(ctx, s.StaffID)
	var ae *ActionError
	if errors.As(err, &ae) {
		if err := c.st.DeleteSession(ctx, id); err != nil {
			return nil, Viewer{}, fmt.Errorf("lookup session: delete ended: %w", err)
		}
		return nil, Viewer{}, notSignedIn("not an active staff member", ae.Text)
	}
	if err != nil {
		return nil, Viewer{}, err
	}
	if now.Sub(s.LastSeenAt) >= sessionTouchEvery {
		if err := c.st.TouchSession(ctx, id, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, Viewer{}, fmt.Errorf("lookup session: touch: %w", err)
		}
		s.LastSeenAt = now
	}
	return s, v, nil
}

// SignOut ends the session whose cookie holds secret and audits it as
// AuditLogout by its member; an unknown session is no error.
func (c *Core) SignOut(ctx context.Context, secret string) error {
	if secret == "" || len(secret) > maxSecretLen {
		return nil
	}
	id := HashSecret(secret)
	s, err := c.st.FindSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	a := Actor{Viewer: Viewer{StaffID: s.StaffID}, Source: SourceConsole}
	if err := c.audit(ctx, a, AuditLogout, "staff:"+s.StaffID, "", c.Now()); err != nil {
		return err
	}
	if err := c.st.DeleteSession(ctx, id); err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	return nil
}

// SweepSessions deletes the sessions that ended (idle for idle, 0 meaning
// DefaultSessionIdle, or past their absolute end) and the expired login
// links, and returns how many sessions it deleted.
func (c *Core) SweepSessions(ctx context.Context, idle time.Duration) (int64, error) {
	if idle <= 0 {
		idle = DefaultSessionIdle
	}
	now := c.Now()
	n, err := c.st.DeleteExpiredSessions(ctx, now.Add(-idle), now)
	if err != nil {
		return 0, fmt.Errorf("sweep sessions: %w", err)
	}
	return n, nil
}
