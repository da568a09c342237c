package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// Authentication of /api/v1.
//
// Two kinds of bearer token are accepted:
//
//   - the admin token, SCRM_API_TOKEN itself, which acts as role admin with
//     the actor name "token:admin" in the audit log. No staff ID can be
//     spelled so (WeCom UserIDs have no ':', and the API refuses IDs that
//     start with "token:"), so a staff member whose UserID is "admin" is
//     never mistaken for the admin token;
//   - staff tokens, which act as one staff member with the role and team the
//     staff directory (store.StaffStore) gives at request time.
//
// A staff token is stateless:
//
//	st1.<staffID>.<expiry>.<mac>
//
// where expiry is a unix time in seconds and mac is the unpadded base64url
// HMAC-SHA256 of "<staffID>|<expiry>" keyed by
// HMAC-SHA256(key=SCRM_API_TOKEN, "scrm staff token v1"). The derived key
// keeps the admin token itself out of every staff token's MAC. Staff IDs
// may contain dots (WeCom allows them), so a token is split from the right.
// MACs are compared in constant time. Tokens are minted by
// `scrm token create --staff ID --ttl 720h` or POST /api/v1/tokens.
//
// Revocation: deactivate the staff member (their tokens then get 403) or
// rotate SCRM_API_TOKEN, which invalidates every staff token at once.

const (
	staffTokenPrefix = "st1."
	staffTokenKeyMsg = "scrm staff token v1"
	// MaxStaffTokenTTL bounds how long a staff token may live.
	MaxStaffTokenTTL = 366 * 24 * time.Hour
	adminActor       = bot.AdminActorID
	openAPIPath      = "/api/v1/openapi.json"
)

// Errors of ParseStaffToken.
var (
	ErrTokenInvalid = errors.New("handlers: invalid staff token")
	ErrTokenExpired = errors.New("handlers: expired staff token")
)

func staffTokenMAC(secret, staffID string, expiry int64) []byte {
	k := hmac.New(sha256.New, []byte(secret))
	k.Write([]byte(staffTokenKeyMsg))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write([]byte(staffID + "|" + strconv.FormatInt(expiry, 10)))
	return m.Sum(nil)
}

// validStaffID reports whether id can be carried in a staff token: WeCom
// UserIDs are letters, digits and "_-@.", never "|" or spaces.
func validStaffID(id string) bool {
	if id == "" || len(id) > 64 || reservedStaffID(id) {
		return false
	}
	for _, r := range id {
		if r == '|' || r > unicode.MaxASCII || !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// reservedStaffID reports whether id is spelled like the actor of a
// principal that is not a staff member, such as the admin token.
func reservedStaffID(id string) bool { return bot.ReservedStaffID(id) }

// reservedStaffIDError is the answer to a request naming a reserved ID.
func reservedStaffIDError(id string) error {
	return errorf(fiber.StatusBadRequest, bot.ReservedStaffIDText(id), nil)
}

// MintStaffToken returns a bearer token acting as staffID until expiry,
// signed with a key derived from secret (SCRM_API_TOKEN).
func MintStaffToken(secret, staffID string, expiry time.Time) (string, error) {
	if secret == "" {
		return "", errors.New("handlers: mint staff token: SCRM_API_TOKEN is not set")
	}
	if !validStaffID(staffID) {
		return "", fmt.Errorf("handlers: mint staff token: invalid staff id %q", staffID)
	}
	exp := expiry.Unix()
	mac := staffTokenMAC(secret, staffID, exp)
	return staffTokenPrefix + staffID + "." + strconv.FormatInt(exp, 10) + "." +
		base64.RawURLEncoding.EncodeToString(mac), nil
}

// ParseStaffToken verifies tok and returns the staff ID it acts as and its
// expiry. Returns ErrTokenInvalid if it is malformed or its MAC is wrong and
// ErrTokenExpired if it expired at or before now.
func ParseStaffToken(secret, tok string, now time.Time) (string, time.Time, error) {
	rest, ok := strings.CutPrefix(tok, staffTokenPrefix)
	if !ok || secret == "" {
		return "", time.Time{}, ErrTokenInvalid
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return "", time.Time{}, ErrTokenInvalid
	}
	rest, macText := rest[:i], rest[i+1:]
	j := strings.LastIndexByte(rest, '.')
	if j < 0 {
		return "", time.Time{}, ErrTokenInvalid
	}
	staffID, expText := rest[:j], rest[j+1:]
	exp, err := strconv.ParseInt(expText, 10, 64)
	if err != nil || !validStaffID(staffID) || strconv.FormatInt(exp, 10) != expText {
		return "", time.Time{}, ErrTokenInvalid
	}
	// Compare the encoded MACs: decoding would accept variants of one token
	// (the decoder skips line breaks), and a token has one spelling.
	want := base64.RawURLEncoding.EncodeToString(staffTokenMAC(secret, staffID, exp))
	if !hmac.Equal([]byte(macText), []byte(want)) {
		return "", time.Time{}, ErrTokenInvalid
	}
	expiry := time.Unix(exp, 0).UTC()
	if !now.Before(expiry) {
		return "", time.Time{}, ErrTokenExpired
	}
	return staffID, expiry, nil
}

// principal is who a request acts as: the Viewer every visibility check uses
// and the actor the audit log records.
type principal struct {
	viewer bot.Viewer
	actor  string
	csrf   string // the session's CSRF token; "" for bearer callers
	source string // the door: bot.SourceConsole for a session, bot.SourceAPI otherwise
}

type principalKey struct{}

// principalOf returns the authenticated principal of an /api/v1 request.
// The middleware always sets one; a missing one fails closed as no role.
func principalOf(c *fiber.Ctx) principal {
	p, _ := c.Locals(principalKey{}).(principal)
	return p
}

// requireRole returns the principal if its role is one of roles, and a 403
// otherwise.
func requireRole(c *fiber.Ctx, roles ...string) (principal, error) {
	p := principalOf(c)
	for _, r := range roles {
		if p.viewer.Role == r {
			return p, nil
		}
	}
	return p, errorf(fiber.StatusForbidden, "your role may not do this", nil)
}

// requireAPIToken authenticates every /api/v1 request except the OpenAPI
// document and puts the resolved principal into the request's locals.
func (s *Server) requireAPIToken(c *fiber.Ctx) error {
	if (c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead) && c.Path() == openAPIPath {
		return c.Next()
	}
	authz := c.Get(fiber.HeaderAuthorization)
	if authz == "" {
		// A browser signed in to the console: its session, whether or not
		// bearer tokens are enabled.
		if secret := c.Cookies(sessionCookie); secret != "" && s.opts.Core != nil {
			return s.sessionAuth(c, secret)
		}
		if s.opts.APIToken == "" {
			return unauthorized(c, "not signed in (bearer tokens are disabled: SCRM_API_TOKEN is not set)")
		}
	}
	if s.opts.APIToken == "" {
		return errorf(fiber.StatusNotFound, "bearer tokens are disabled: set SCRM_API_TOKEN to enable them", nil)
	}
	got, ok := strings.CutPrefix(authz, "Bearer ")
	if !ok || got == "" {
		return unauthorized(c, "missing or wrong bearer token")
	}
	if hmac.Equal([]byte(got), []byte(s.opts.APIToken)) {
		c.Locals(principalKey{}, principal{viewer: bot.Viewer{StaffID: adminActor, Role: bot.RoleAdmin}, actor: adminActor})
		return c.Next()
	}
	if !strings.HasPrefix(got, staffTokenPrefix) {
		return unauthorized(c, "missing or wrong bearer token")
	}
	staffID, _, err := ParseStaffToken(s.opts.APIToken, got, s.opts.Now())
	if errors.Is(err, ErrTokenExpired) {
		return unauthorized(c, "the token has expired")
	}
	if err != nil {
		return unauthorized(c, "missing or wrong bearer token")
	}
	if s.opts.Core == nil {
		return errorf(fiber.StatusForbidden, "staff tokens are not supported by this store", nil)
	}
	m, err := s.opts.Core.Read().FindStaffByID(c.UserContext(), staffID)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(fiber.StatusForbidden, "not an active staff member", nil)
	}
	if err != nil {
		return fmt.Errorf("api auth: find staff: %w", err)
	}
	v, ok := bot.ViewerFromStaff(m)
	if !ok {
		return errorf(fiber.StatusForbidden, "not an active staff member", nil)
	}
	c.Locals(principalKey{}, principal{viewer: v, actor: m.ID})
	return c.Next()
}

func unauthorized(c *fiber.Ctx, public string) error {
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="scrm"`)
	return errorf(fiber.StatusUnauthorized, public, nil)
}
