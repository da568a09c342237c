package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/wecom"
)

// Sign-in for the console (/auth/*) and the session side of /api/v1.
//
// A session is a cookie, scrm_session, holding a random secret; the store
// keeps its SHA-256 (bot.Core's sign-in methods). /api/v1 accepts it as well
// as bearer tokens, also when SCRM_API_TOKEN is empty. A request made with
// the session whose method is not GET/HEAD/OPTIONS must carry the session's
// CSRF token in X-CSRF-Token: the cookie goes with any request the browser
// makes, the header only with the console's own. Bearer requests need no
// CSRF token (a browser never adds an Authorization header by itself).

const (
	sessionCookie = "scrm_session"
	stateCookie   = "scrm_oauth_state"
	csrfHeader    = "X-CSRF-Token"
	// clientHeader names the page a session request comes from: "sidebar"
	// for the chat sidebar, absent for the console.
	clientHeader = "X-Scrm-Client"
	// stateTTL bounds a WeCom sign-in round trip (WeCom's code lives 5
	// minutes once issued; the person may take a while to scan).
	stateTTL = 10 * time.Minute
)

// tokenTries wrong admin tokens from one address are allowed per
// tokenTryWindow.
const (
	tokenTries     = 10
	tokenTryWindow = 15 * time.Minute
)

// csrfRefused is the answer to a session write without the right token.
const csrfRefused = "缺少或错误的 CSRF 令牌"

// UserInfoer exchanges a WeCom sign-in code for the person (wecom.APIClient).
type UserInfoer interface {
	GetUserInfo(ctx context.Context, code string) (*wecom.AuthUser, error)
}

// WeComLogin enables signing in with WeCom: OAuth2 inside the WeCom client,
// the web login (扫码登录) elsewhere.
type WeComLogin struct {
	CorpID, AgentID string
	// OAuthBase and LoginBase are the hosts of the authorize and the web
	// login pages (wecom.DefaultOAuthBase, wecom.DefaultLoginBase, or the
	// simulator).
	OAuthBase, LoginBase string
	Users                UserInfoer
}

// sessionAuth authenticates an /api/v1 request by its session cookie.
func (s *Server) sessionAuth(c *fiber.Ctx, secret string) error {
	sess, v, err := s.opts.Core.LookupSession(c.UserContext(), secret, s.opts.SessionIdle)
	if errors.Is(err, bot.ErrNotSignedIn) {
		s.clearCookie(c, sessionCookie, "/")
		return errorf(fiber.StatusUnauthorized, "not signed in or the session has expired", err)
	}
	if err != nil {
		return err
	}
	if !safeMethod(c.Method()) && !hmac.Equal([]byte(c.Get(csrfHeader)), []byte(sess.CSRF)) {
		return errorf(fiber.StatusForbidden, csrfRefused, nil)
	}
	// The sidebar shares the console's sessions; its requests say so, and
	// what it does is recorded as the sidebar's.
	source := bot.SourceConsole
	if c.Get(clientHeader) == bot.SourceSidebar {
		source = bot.SourceSidebar
	}
	c.Locals(principalKey{}, principal{viewer: v, actor: v.StaffID, csrf: sess.CSRF, source: source})
	return c.Next()
}

func safeMethod(m string) bool {
	return m == fiber.MethodGet || m == fiber.MethodHead || m == fiber.MethodOptions
}

// me answers who the caller is, with the CSRF token a session's writes need.
func (s *Server) me(c *fiber.Ctx) error {
	p := principalOf(c)
	out := struct {
		StaffID   string   `json:"staff_id"`
		Name      string   `json:"name"`
		Role      string   `json:"role"`
		Team      []string `json:"team"`
		CSRFToken string   `json:"csrf_token"`
	}{StaffID: p.viewer.StaffID, Role: p.viewer.Role, Team: p.viewer.Team, CSRFToken: p.csrf}
	if out.Team == nil {
		out.Team = []string{}
	}
	switch {
	case p.viewer.StaffID == adminActor:
		out.Name = "管理员（令牌）"
	case s.opts.Core != nil:
		if m, err := s.opts.Core.Read().FindStaffByID(c.UserContext(), p.viewer.StaffID); err == nil {
			out.Name = m.Name
		}
	}
	if out.Name == "" {
		out.Name = p.viewer.StaffID
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, fiber.StatusOK, out)
}

func (s *Server) authRoutes() {
	a := s.app.Group("/auth", withDeadline)
	a.Get("/link", s.authLinkPage)
	a.Post("/link", s.authLink)
	a.Post("/token", s.authToken)
	a.Post("/logout", s.authLogout)
	a.Get("/wecom/login", s.wecomLogin)
	a.Get("/wecom/callback", s.wecomSignInCallback)
}

// startSession sets the session cookie of g.
func (s *Server) startSession(c *fiber.Ctx, g *bot.SessionGrant) {
	c.Cookie(&fiber.Cookie{
		// Max-Age rather than Expires: relative, so a browser whose clock
		// is off still keeps the cookie as long as the session lives.
		Name: sessionCookie, Value: g.Token, Path: "/", MaxAge: int(g.Session.ExpiresAt.Sub(g.Session.CreatedAt) / time.Second),
		HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode, Secure: secureRequest(c),
	})
	c.Set(fiber.HeaderCacheControl, "no-store")
}

func (s *Server) clearCookie(c *fiber.Ctx, name, path string) {
	c.Cookie(&fiber.Cookie{
		Name: name, Value: "", Path: path, Expires: time.Unix(1, 0), MaxAge: -1,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode, Secure: secureRequest(c),
	})
}

// secureRequest reports whether the browser reached scrm over https,
// directly or through a proxy that says so.
func secureRequest(c *fiber.Ctx) bool {
	return c.Protocol() == "https" || strings.EqualFold(strings.TrimSpace(strings.Split(c.Get(fiber.HeaderXForwardedProto), ",")[0]), "https")
}

// authLinkPage answers a one-time login link's GET with a page that signs
// in by POSTing the link back, without using it up. Link previews, mail
// scanners and chat clients fetch a URL before the person opens it; were the
// GET to redeem the link, that fetch would spend it and the person would
// find it already used. A browser submits the form by itself; one without
// scripts shows the button.
func (s *Server) authLinkPage(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return linkPage.Execute(c, struct{ T, Next string }{c.Query("t"), c.Query("next")})
}

var linkPage = template.Must(template.New("link").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>登录 scrm</title>
<style>body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;display:flex;min-height:90vh;align-items:center;justify-content:center;background:#f5f7fa;margin:0}
form{background:#fff;padding:32px 40px;border-radius:8px;box-shadow:0 2px 12px rgba(0,0,0,.08);text-align:center}
button{font-size:16px;padding:10px 32px;border:0;border-radius:4px;background:#409eff;color:#fff;cursor:pointer}</style></head>
<body><form id="f" method="post" action="/auth/link"><p>正在登录 scrm 后台…</p>
<input type="hidden" name="t" value="{{.T}}"><input type="hidden" name="next" value="{{.Next}}">
<button type="submit">登录</button></form>
<script>document.getElementById("f").submit()</script></body></html>
`))

// authLink signs in with a one-time login link, POSTed by its page.
func (s *Server) authLink(c *fiber.Ctx) error {
	g, err := s.opts.Core.RedeemLoginLink(c.UserContext(), c.FormValue("t"))
	if errors.Is(err, bot.ErrNotSignedIn) {
		return errorf(fiber.StatusUnauthorized, "登录链接无效、已使用或已过期，请重新获取（在企业微信中对应用发送「登录」，或运行 scrm login-link）。", err)
	}
	if err != nil {
		return signInError(err)
	}
	s.startSession(c, g)
	next := g.Next
	if q := c.FormValue("next"); q != "" {
		next = q
	}
	return c.Redirect(bot.SafeNext(next), fiber.StatusFound)
}

// authToken signs the admin in with SCRM_API_TOKEN, to bootstrap.
func (s *Server) authToken(c *fiber.Ctx) error {
	if s.opts.APIToken == "" {
		return errorf(fiber.StatusNotFound, "未设置 SCRM_API_TOKEN，无法用管理员令牌登录。", nil)
	}
	var req struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(c.Body(), &req); err != nil {
		return errorf(fiber.StatusBadRequest, "请求体应为 JSON：{\"token\": \"…\"}", err)
	}
	// Wrong guesses are counted per client address across instances; past
	// the limit every attempt, right or wrong, waits out the window, so the
	// token cannot be guessed faster than tokenTries per tokenTryWindow.
	key := "signin:token:" + c.IP()
	tries, _, err := s.coord.Get(c.UserContext(), key)
	if err != nil {
		return errorf(fiber.StatusServiceUnavailable, "暂时无法登录，请稍后再试。", err)
	}
	if n, _ := strconv.Atoi(tries); n >= tokenTries {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(tokenTryWindow/time.Second)))
		return errorf(fiber.StatusTooManyRequests, "尝试次数过多，请 15 分钟后再试。", nil)
	}
	if req.Token == "" || !hmac.Equal([]byte(req.Token), []byte(s.opts.APIToken)) {
		if _, err := s.coord.Count(c.UserContext(), key, tokenTryWindow); err != nil {
			return errorf(fiber.StatusServiceUnavailable, "暂时无法登录，请稍后再试。", err)
		}
		return errorf(fiber.StatusUnauthorized, "管理员令牌不正确。", nil)
	}
	g, err := s.opts.Core.SignIn(c.UserContext(), adminActor, bot.SignInToken)
	if err != nil {
		return signInError(err)
	}
	s.startSession(c, g)
	return sendJSON(c, fiber.StatusOK, fiber.Map{"next": "/console/"})
}

// authLogout ends the session (CSRF checked) and clears its cookie.
func (s *Server) authLogout(c *fiber.Ctx) error {
	secret := c.Cookies(sessionCookie)
	if secret != "" {
		sess, _, err := s.opts.Core.LookupSession(c.UserContext(), secret, s.opts.SessionIdle)
		switch {
		case errors.Is(err, bot.ErrNotSignedIn):
			// Already ended: clearing the cookie is all that is left.
		case err != nil:
			return err
		case !hmac.Equal([]byte(c.Get(csrfHeader)), []byte(sess.CSRF)):
			return errorf(fiber.StatusForbidden, csrfRefused, nil)
		default:
			if err := s.opts.Core.SignOut(c.UserContext(), secret); err != nil {
				return err
			}
		}
	}
	s.clearCookie(c, sessionCookie, "/")
	return c.SendStatus(fiber.StatusNoContent)
}

// wecomLogin sends the browser to WeCom: OAuth2 inside the WeCom client,
// the web login elsewhere. A random state, with the method and where to go
// afterwards, waits in a short-lived cookie for the way back.
func (s *Server) wecomLogin(c *fiber.Ctx) error {
	wl := s.opts.WeComLogin
	if wl == nil {
		return errorf(fiber.StatusNotFound, "未配置企业微信登录（需要 SCRM_WECOM_CORP_ID、SCRM_WECOM_AGENT_ID 和 SCRM_WECOM_SECRET）。", nil)
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	state := base64.RawURLEncoding.EncodeToString(b)
	method := bot.SignInWeb
	if strings.Contains(strings.ToLower(c.Get(fiber.HeaderUserAgent)), "wxwork") {
		method = bot.SignInOAuth
	}
	next := bot.SafeNext(c.Query("next"))
	c.Cookie(&fiber.Cookie{
		Name: stateCookie, Value: state + "." + method + "." + base64.RawURLEncoding.EncodeToString([]byte(next)),
		Path: "/auth/", MaxAge: int(stateTTL / time.Second),
		HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode, Secure: secureRequest(c),
	})
	c.Set(fiber.HeaderCacheControl, "no-store")
	back := s.publicBase(c) + "/auth/wecom/callback"
	if method == bot.SignInOAuth {
		return c.Redirect(wecom.OAuthURL(wl.OAuthBase, wl.CorpID, wl.AgentID, back, state), fiber.StatusFound)
	}
	return c.Redirect(wecom.WebLoginURL(wl.LoginBase, wl.CorpID, wl.AgentID, back, state), fiber.StatusFound)
}

// publicBase is where WeCom sends the browser back: SCRM_PUBLIC_URL, or
// this request's own scheme and host.
func (s *Server) publicBase(c *fiber.Ctx) string {
	if s.opts.PublicURL != "" {
		return strings.TrimRight(s.opts.PublicURL, "/")
	}
	scheme := "http"
	if secureRequest(c) {
		scheme = "https"
	}
	return scheme + "://" + c.Hostname()
}

// wecomSignInCallback checks the state, exchanges the code for the member and
// signs them in.
func (s *Server) wecomSignInCallback(c *fiber.Ctx) error {
	wl := s.opts.WeComLogin
	if wl == nil {
		return errorf(fiber.StatusNotFound, "未配置企业微信登录。", nil)
	}
	cookie := c.Cookies(stateCookie)
	s.clearCookie(c, stateCookie, "/auth/")
	parts := strings.SplitN(cookie, ".", 3)
	state := c.Query("state")
	if len(parts) != 3 || state == "" || !hmac.Equal([]byte(parts[0]), []byte(state)) {
		return errorf(fiber.StatusBadRequest, "登录状态不匹配或已过期，请重新登录。", nil)
	}
	method := parts[1]
	if method != bot.SignInOAuth {
		method = bot.SignInWeb
	}
	nextRaw, _ := base64.RawURLEncoding.DecodeString(parts[2])
	code := c.Query("code")
	if code == "" || len(code) > 512 {
		return errorf(fiber.StatusBadRequest, "企业微信未返回登录码（可能取消了授权），请重新登录。", nil)
	}
	u, err := wl.Users.GetUserInfo(c.UserContext(), code)
	if wecom.APIErrorCode(err) == 40029 {
		return errorf(fiber.StatusUnauthorized, "登录码无效或已过期，请重新登录。", err)
	}
	if err != nil {
		return errorf(fiber.StatusBadGateway, "暂时无法向企业微信确认身份，请稍后再试。", err)
	}
	if u.UserID == "" {
		return errorf(fiber.StatusForbidden, "只有本企业成员可以登录。", nil)
	}
	g, err := s.opts.Core.SignIn(c.UserContext(), u.UserID, method)
	if err != nil {
		return signInError(err)
	}
	s.startSession(c, g)
	return c.Redirect(bot.SafeNext(string(nextRaw)), fiber.StatusFound)
}

// signInError turns a refused sign-in into a page-readable answer: the
// Chinese text the core gives.
func signInError(err error) error {
	var ae *bot.ActionError
	if errors.As(err, &ae) {
		return errorf(errorStatus(ae.Err), ae.Text, err)
	}
	return fmt.Errorf("sign in: %w", err)
}
