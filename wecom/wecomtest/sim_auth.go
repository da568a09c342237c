package wecomtest

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Sign-in with WeCom (protocol doc, section 6). The simulator serves the
// two pages a browser is sent to — the OAuth2 authorize page
// (/connect/oauth2/authorize, inside the WeCom client) and the web login
// (/wwlogin/sso/login, 扫码登录) — and sends the browser straight back to
// redirect_uri with a code and the state, as WeCom does once the member has
// confirmed. Which member: the one named by SignInAs, else a sim_userid
// query parameter (the demo's chooser links), else the page lists the staff
// to pick from. auth/getuserinfo then exchanges the code as WeCom does: once,
// within 5 minutes, with the app's token; anything else is 40029.

// codeTTL is how long WeCom keeps a sign-in code.
const codeTTL = 5 * time.Minute

type simCode struct {
	userID  string
	expires time.Time
}

// SignInAs makes the sign-in pages send back a code for userID (a member
// added with AddStaff; anyone else comes back as a non-member with an
// openid). "" restores the chooser.
func (s *Simulator) SignInAs(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signInAs = userID
}

// IssueCode returns a fresh sign-in code for userID, as the pages would
// put in the redirect.
func (s *Simulator) IssueCode(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueCodeLocked(userID)
}

func (s *Simulator) issueCodeLocked(userID string) string {
	if s.codes == nil {
		s.codes = map[string]simCode{}
	}
	code := "simcode_" + randHex(16)
	s.codes[code] = simCode{userID: userID, expires: s.now().Add(codeTTL)}
	return code
}

// serveSignInPage answers the authorize and the web login pages; it
// reports false for other paths.
func (s *Simulator) serveSignInPage(w http.ResponseWriter, r *http.Request) bool {
	var oauth bool
	switch {
	case strings.HasSuffix(r.URL.Path, "/connect/oauth2/authorize"):
		oauth = true
	case strings.HasSuffix(r.URL.Path, "/wwlogin/sso/login"):
	default:
		return false
	}
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	page := "wwlogin/sso/login"
	if oauth {
		page = "connect/oauth2/authorize"
	}
	s.calls[page]++
	// WeCom shows an error page for a malformed request; the simulator
	// answers 400 with what is wrong.
	if q.Get("appid") != s.cfg.CorpID {
		http.Error(w, "appid 参数错误 (invalid appid)", http.StatusBadRequest)
		return true
	}
	if oauth {
		if q.Get("response_type") != "code" {
			http.Error(w, "response_type 应为 code", http.StatusBadRequest)
			return true
		}
		switch q.Get("scope") {
		case "snsapi_base":
		case "snsapi_privateinfo":
			if q.Get("agentid") == "" {
				http.Error(w, "snsapi_privateinfo 需要 agentid", http.StatusBadRequest)
				return true
			}
		default:
			http.Error(w, "scope 参数错误", http.StatusBadRequest)
			return true
		}
		if a := q.Get("agentid"); a != "" && a != s.cfg.AgentID {
			http.Error(w, "agentid 参数错误 (invalid agentid)", http.StatusBadRequest)
			return true
		}
	} else {
		if q.Get("login_type") != "CorpApp" {
			http.Error(w, "login_type 应为 CorpApp", http.StatusBadRequest)
			return true
		}
		if q.Get("agentid") != s.cfg.AgentID {
			http.Error(w, "agentid 参数错误 (invalid agentid)", http.StatusBadRequest)
			return true
		}
	}
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || (back.Scheme != "http" && back.Scheme != "https") || back.Host == "" {
		http.Error(w, "redirect_uri 参数错误 (50001 redirect_uri not trusted)", http.StatusBadRequest)
		return true
	}
	user := s.signInAs
	if user == "" {
		user = q.Get("sim_userid")
	}
	if user == "" {
		s.renderChooser(w, r)
		return true
	}
	bq := back.Query()
	bq.Set("code", s.issueCodeLocked(user))
	bq.Set("state", q.Get("state"))
	back.RawQuery = bq.Encode()
	back.Fragment = ""
	http.Redirect(w, r, back.String(), http.StatusFound)
	return true
}

var chooserPage = template.Must(template.New("chooser").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>企业微信登录（模拟）</title>
<style>body{font-family:system-ui,sans-serif;max-width:420px;margin:48px auto;padding:0 16px;color:#1f2329}
a{display:block;padding:12px 16px;margin:8px 0;border:1px solid #dee0e3;border-radius:8px;text-decoration:none;color:#1f2329}
a:hover{border-color:#07c160}small{color:#8f959e}</style></head>
<body><h2>企业微信{{if .OAuth}}授权{{else}}扫码登录{{end}}（模拟）</h2>
<p><small>这是 scrm 自带的企业微信模拟器。真实环境中，成员在这里扫码或确认身份；请选择以谁的身份登录：</small></p>
{{range .Staff}}<a href="{{.Link}}">{{.Name}} <small>{{.UserID}}</small></a>
{{else}}<p>模拟企业中还没有成员。</p>{{end}}
</body></html>`))

// renderChooser lists the simulated corp's members, each a link back to
// this page with sim_userid set.
func (s *Simulator) renderChooser(w http.ResponseWriter, r *http.Request) {
	type choice struct{ UserID, Name, Link string }
	data := struct {
		OAuth bool
		Staff []choice
	}{OAuth: strings.HasSuffix(r.URL.Path, "/authorize")}
	for _, id := range s.staffOrder {
		st := s.staff[id]
		q := r.URL.Query()
		q.Set("sim_userid", st.UserID)
		data.Staff = append(data.Staff, choice{UserID: st.UserID, Name: st.Name, Link: r.URL.Path + "?" + q.Encode()})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = chooserPage.Execute(w, data)
}

// authGetUserInfo answers auth/getuserinfo: a member's userid, or a
// non-member's openid. The code is used up by the first exchange, whatever
// its outcome after the token check.
func (s *Simulator) authGetUserInfo(r *http.Request) simAnswer {
	code := r.URL.Query().Get("code")
	if code == "" {
		return errAnswer(41008, "missing code")
	}
	c, ok := s.codes[code]
	delete(s.codes, code)
	if !ok || !s.now().Before(c.expires) {
		return errAnswer(40029, simErrMsg(40029))
	}
	if _, member := s.staff[c.userID]; member {
		return simAnswer{"errcode": 0, "errmsg": "ok", "userid": c.userID}
	}
	return simAnswer{"errcode": 0, "errmsg": "ok", "openid": "o" + randHex(12)}
}
