package wecom

import (
	"context"
	"net/url"

	"github.com/silenceper/wechat/v2/work/oauth"
)

// Sign-in with WeCom (protocol doc, section 6): a page opened inside the
// WeCom client goes through OAuth2 (snsapi_base), a desktop browser through
// the web login (扫码登录); both come back with a code that auth/getuserinfo
// turns into the member's UserID.
//
// The SDK's work/oauth builds the same URLs, but with fixed hosts (the
// simulator could not stand in), a literal "STATE", the retired qrConnect
// page, and its HTTP layer is the package global without context that the
// client avoids (see APIClient). Its answer type is used here.

// Default hosts of the sign-in pages; SCRM_WECOM_OAUTH_BASE and
// SCRM_WECOM_LOGIN_BASE override them.
const (
	DefaultOAuthBase = "https://open.weixin.qq.com"
	DefaultLoginBase = "https://login.work.weixin.qq.com"
)

// OAuthURL is the OAuth2 authorize page (snsapi_base) that sends a member
// inside the WeCom client back to redirectURI with a code and state.
func OAuthURL(base, corpID, agentID, redirectURI, state string) string {
	q := url.Values{}
	q.Set("appid", corpID)
	q.Set("redirect_uri", redirectURI)
	q.Set("response_type", "code")
	q.Set("scope", "snsapi_base")
	q.Set("state", state)
	q.Set("agentid", agentID)
	return base + "/connect/oauth2/authorize?" + q.Encode() + "#wechat_redirect"
}

// WebLoginURL is the web login page (扫码登录) for the self-built app: the
// member scans the QR code with WeCom, or confirms in the desktop client,
// and is sent back to redirectURI with a code and state.
func WebLoginURL(base, corpID, agentID, redirectURI, state string) string {
	q := url.Values{}
	q.Set("login_type", "CorpApp")
	q.Set("appid", corpID)
	q.Set("agentid", agentID)
	q.Set("redirect_uri", redirectURI)
	q.Set("state", state)
	return base + "/wwlogin/sso/login?" + q.Encode()
}

// AuthUser is who a sign-in code belongs to: a member's UserID, or for
// someone outside the corp an OpenID (and a customer's ExternalUserID).
type AuthUser struct {
	UserID         string
	OpenID         string
	ExternalUserID string
}

// GetUserInfo exchanges a sign-in code for the person it was issued to
// (auth/getuserinfo, with the app's token). A code is good once and for 5
// minutes: a reused, expired or unknown code answers errcode 40029. The
// call is never resent after a transport error, since the first attempt
// may have used the code up.
func (c *APIClient) GetUserInfo(ctx context.Context, code string) (*AuthUser, error) {
	var resp oauth.GetUserInfoResponse
	if err := c.call(ctx, apiCall{
		api: "auth/getuserinfo", method: "GET", tokens: c.appTokens,
		query: url.Values{"code": {code}},
	}, &resp); err != nil {
		return nil, err
	}
	return &AuthUser{UserID: resp.UserID, OpenID: resp.OpenID, ExternalUserID: resp.ExternalUserID}, nil
}
