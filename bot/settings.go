package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/scrmhq/scrm/nlp"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// The settings page's reads: what the company configured (hours, the
// off-hours message, the LLM and its budget, the FAQ) and the
// set-up checks (接入检查) an admin runs when callbacks or tokens do not
// work — the problems users of other SCRMs report first. Nothing here
// writes to the store; the callback marks live in the coordinator.

// SetupKV is the coordinator's key/value side (coord.Local, coord.Redis):
// every instance reads the marks any instance wrote.
type SetupKV interface {
	Get(ctx context.Context, key string) (string, bool, error)
	Set(ctx context.Context, key, value string, ttl time.Duration) error
}

// SetupLog records, per channel, when its callback URL last passed
// verification and when its last callback arrived, for the set-up checks.
// The callback edge writes it; the marks never expire (a verification
// happens once, when an admin saves the URL).
type SetupLog struct {
	kv SetupKV

	mu   sync.Mutex
	last map[string]time.Time // channel → last callback mark written here
}

// setupMarkEvery spaces the callback marks one instance writes: the check
// needs "when, roughly", and a coordinator write per callback would add a
// round trip to every acknowledgement.
const setupMarkEvery = time.Minute

// NewSetupLog returns the set-up marks over kv.
func NewSetupLog(kv SetupKV) *SetupLog { return &SetupLog{kv: kv, last: map[string]time.Time{}} }

func setupKey(channel, what string) string { return "setup:" + channel + ":" + what }

// Verified records that channel's callback URL verification succeeded at.
func (l *SetupLog) Verified(ctx context.Context, channel string, at time.Time) error {
	return l.kv.Set(ctx, setupKey(channel, "verified"), at.UTC().Format(time.RFC3339), 0)
}

// Received records that an authentic callback of channel arrived at; it
// writes at most once a minute per channel from one instance.
func (l *SetupLog) Received(ctx context.Context, channel string, at time.Time) error {
	l.mu.Lock()
	if prev, ok := l.last[channel]; ok && at.Sub(prev) < setupMarkEvery && !at.Before(prev) {
		l.mu.Unlock()
		return nil
	}
	l.last[channel] = at
	l.mu.Unlock()
	if err := l.kv.Set(ctx, setupKey(channel, "callback"), at.UTC().Format(time.RFC3339), 0); err != nil {
		l.mu.Lock()
		delete(l.last, channel) // try again with the next callback
		l.mu.Unlock()
		return err
	}
	return nil
}

// marks returns when channel's URL was verified and its last callback
// arrived (zero: never recorded).
func (l *SetupLog) marks(ctx context.Context, channel string) (verified, received time.Time, err error) {
	for _, m := range []struct {
		what string
		dst  *time.Time
	}{{"verified", &verified}, {"callback", &received}} {
		v, ok, err := l.kv.Get(ctx, setupKey(channel, m.what))
		if err != nil {
			return verified, received, fmt.Errorf("settings: %s mark of %s: %w", m.what, channel, err)
		}
		if ok {
			*m.dst, _ = time.Parse(time.RFC3339, v)
		}
	}
	return verified, received, nil
}

// LLMUsage is the LLM client's side the settings read (*nlp.LLM).
type LLMUsage interface {
	Model() string
	Accountant() nlp.Accountant
	Day() string
}

// TokenChecker fetches the platforms' access tokens (*wecom.APIClient).
type TokenChecker interface {
	CheckToken(ctx context.Context, app string) error
	UntrustedIP() (time.Time, string)
}

// SettingsOptions is what the company configured; zero values mean "not
// configured".
type SettingsOptions struct {
	BusinessHours   string // SCRM_BUSINESS_HOURS as written
	Hours           Hours  // parsed; nil: always open
	Location        *time.Location
	OffHoursMessage string
	FAQ             FAQSource // nil: no knowledge base
	FAQMinScore     float64   // the answerer's (default 0.6)
	LLM             LLMUsage  // nil: no LLM
	TokenBudget     int64     // SCRM_LLM_DAILY_TOKENS (0: no cap)
	DormantDays     int
	// The channels: callbacks (token and key set) and API secrets.
	WeComCallback, WeComAPI bool
	OACallback, OAAPI       bool
	Tokens                  TokenChecker // nil without API credentials
	Setup                   *SetupLog    // nil: no marks
	PublicURL               string       // SCRM_PUBLIC_URL without the trailing slash
	Now                     func() time.Time
}

// Settings answers the settings page and the set-up checks.
type Settings struct{ o SettingsOptions }

// NewSettings returns the settings reads.
func NewSettings(o SettingsOptions) *Settings {
	o.FAQMinScore = positiveOr(o.FAQMinScore, 0.6)
	o.Now = clockOr(o.Now)
	if o.Location == nil {
		o.Location = time.UTC
	}
	o.DormantDays = positiveOr(o.DormantDays, 30)
	return &Settings{o: o}
}

// HoursSetting is the business hours.
type HoursSetting struct {
	Spec        string `json:"spec"`        // as configured, e.g. "09:00-18:00 Mon-Fri"
	Description string `json:"description"` // in Chinese, e.g. "工作日 9:00-18:00"
	Timezone    string `json:"timezone"`
	OpenNow     bool   `json:"open_now"`
}

// LLMSetting is the LLM and today's use of its budget.
type LLMSetting struct {
	Configured  bool   `json:"configured"`
	Model       string `json:"model"`
	TokensToday int64  `json:"tokens_today"`
	TokenBudget int64  `json:"token_budget"` // 0: no daily cap
}

// CompanySettings is GET /api/v1/settings: the configuration. The
// follow-up cadences are not in it: they are the built-in journeys, data
// admins edit in the console (跟进旅程, /api/v1/journeys).
type CompanySettings struct {
	Hours           HoursSetting `json:"hours"`
	OffHoursMessage string       `json:"off_hours_message"`
	LLM             LLMSetting   `json:"llm"`
	DormantDays     int          `json:"dormant_days"`
	FAQCount        int          `json:"faq_count"`
}

// requireAdmin refuses everyone but admins: settings show how the company
// is wired, which is an admin's business.
func requireAdmin(v Viewer) error {
	if v.Role != RoleAdmin {
		return &ActionError{Err: ErrForbidden, Reason: "admins only", Text: "只有管理员可以查看设置。"}
	}
	return nil
}

// Company returns the configured settings.
func (s *Settings) Company(ctx context.Context, v Viewer) (*CompanySettings, error) {
	if err := requireAdmin(v); err != nil {
		return nil, err
	}
	o := s.o
	out := &CompanySettings{
		Hours:           HoursSetting{Spec: cmp.Or(o.BusinessHours, "always"), Description: "全天", Timezone: o.Location.String(), OpenNow: true},
		OffHoursMessage: o.OffHoursMessage,
		LLM:             LLMSetting{TokenBudget: o.TokenBudget},
		DormantDays:     o.DormantDays,
	}
	if o.Hours != nil {
		out.Hours.Description, out.Hours.OpenNow = o.Hours.Describe(), o.Hours.Open(o.Now())
		if out.OffHoursMessage == "" {
			out.OffHoursMessage = offHoursText(o.Hours)
		}
	}
	if o.LLM != nil {
		out.LLM.Configured, out.LLM.Model = true, o.LLM.Model()
		n, err := o.LLM.Accountant().DayTotal(ctx, o.LLM.Day())
		if err != nil {
			return nil, fmt.Errorf("settings: tokens today: %w", err)
		}
		out.LLM.TokensToday = n
	}
	kb, err := s.knowledgeBase(ctx)
	if err != nil {
		return nil, err
	}
	out.FAQCount = len(kb.Entries())
	return out, nil
}

func (s *Settings) knowledgeBase(ctx context.Context) (*KnowledgeBase, error) {
	if s.o.FAQ == nil {
		return nil, nil
	}
	kb, err := s.o.FAQ.KnowledgeBase(ctx)
	if err != nil {
		return nil, fmt.Errorf("settings: faq: %w", err)
	}
	return kb, nil
}

// FAQ returns the knowledge base's entries in file order ([] without one).
func (s *Settings) FAQ(ctx context.Context, v Viewer) ([]*FAQEntry, error) {
	if err := requireAdmin(v); err != nil {
		return nil, err
	}
	kb, err := s.knowledgeBase(ctx)
	if err != nil {
		return nil, err
	}
	entries := kb.Entries()
	if entries == nil {
		entries = []*FAQEntry{}
	}
	return entries, nil
}

// FAQTest is how the knowledge base answers a question.
type FAQTest struct {
	Matched  bool    `json:"matched"`            // the bot would answer with Answer
	ID       string  `json:"id,omitempty"`       // the best entry, matched or not
	Question string  `json:"question,omitempty"` // its question
	Answer   string  `json:"answer,omitempty"`
	Score    float64 `json:"score"`
	MinScore float64 `json:"min_score"` // the score the bot answers at
}

// maxFAQQuestion bounds a tested question, as customers' messages are.
const maxFAQQuestion = 2000

// TestFAQ matches question against the knowledge base as the bot does
// without an LLM: the best entry, and whether its score reaches the
// answering threshold.
func (s *Settings) TestFAQ(ctx context.Context, v Viewer, question string) (*FAQTest, error) {
	if err := requireAdmin(v); err != nil {
		return nil, err
	}
	question = strings.TrimSpace(question)
	if question == "" || len([]rune(question)) > maxFAQQuestion {
		return nil, invalid("question must be 1 to 2000 characters", "请输入 1 到 2000 字的问题。")
	}
	out := &FAQTest{MinScore: s.o.FAQMinScore}
	kb, err := s.knowledgeBase(ctx)
	if err != nil {
		return nil, err
	}
	if m := kb.Match(question, 0.01, 1); len(m) > 0 {
		out.ID, out.Question, out.Answer = m[0].Entry.ID, m[0].Entry.Question, m[0].Entry.Answer
		out.Score = float64(int(m[0].Score*1000+0.5)) / 1000
		out.Matched = m[0].Score >= s.o.FAQMinScore
	}
	return out, nil
}

// CheckItem is one line of 接入检查.
type CheckItem struct {
	Key    string `json:"key"`
	Title  string `json:"title"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Hint   string `json:"hint"`
}

// checkTimeout bounds a token fetch of the checks: the page waits for it.
const checkTimeout = 5 * time.Second

// Checks runs the set-up checks: for WeCom and the Official Account,
// whether the callback URL passed verification, when the last callback
// arrived and whether an access token can be fetched now; then what the
// trusted IP, the trusted domain (可信域名) and the sidebar's page must be.
func (s *Settings) Checks(ctx context.Context, v Viewer) ([]CheckItem, error) {
	if err := requireAdmin(v); err != nil {
		return nil, err
	}
	o := s.o
	base := o.PublicURL
	shown := cmp.Or(base, "https://你的域名")
	var items []CheckItem
	for _, ch := range []struct {
		channel, name, prefix, path, app string
		callback, api                    bool
		callbackEnv, apiEnv, where       string
	}{
		{store.ChannelWeCom, "企业微信", "wecom", "/wecom/callback", wecom.AppWeCom, o.WeComCallback, o.WeComAPI,
			"SCRM_WECOM_CORP_ID、SCRM_WECOM_TOKEN、SCRM_WECOM_AES_KEY", "SCRM_WECOM_CORP_ID、SCRM_WECOM_SECRET",
			"企业微信管理后台 → 应用管理 → 自建应用 → 接收消息 → 设置API接收"},
		{store.ChannelOA, "公众号", "oa", "/oa/callback", wecom.AppOA, o.OACallback, o.OAAPI,
			"SCRM_OA_APP_ID、SCRM_OA_TOKEN（安全模式再加 SCRM_OA_AES_KEY）", "SCRM_OA_APP_ID、SCRM_OA_APP_SECRET",
			"微信公众平台 → 设置与开发 → 基本配置 → 服务器配置"},
	} {
		var verified, received time.Time
		if o.Setup != nil && ch.callback {
			var err error
			if verified, received, err = o.Setup.marks(ctx, ch.channel); err != nil {
				return nil, err
			}
		}
		urlHint := fmt.Sprintf("在%s中把 URL 填为 %s%s，Token 和 EncodingAESKey 与 scrm 的配置一致，保存时平台会发一次验证请求。", ch.where, shown, ch.path)
		ver := CheckItem{Key: ch.prefix + "_callback_verified", Title: ch.name + "回调 URL 验证", Hint: urlHint}
		last := CheckItem{Key: ch.prefix + "_last_callback", Title: ch.name + "最近一次回调",
			Hint: "平台把消息和事件推送到回调 URL；长时间没有回调时，检查 URL 能否从公网访问、验证是否通过。"}
		switch {
		case !ch.callback:
			ver.Detail = "未配置回调：设置 " + ch.callbackEnv + " 后重启。"
			last.Detail = "未配置回调。"
		default:
			ver.OK = !verified.IsZero() || !received.IsZero()
			switch {
			case !verified.IsZero():
				ver.Detail = "已于 " + s.stamp(verified) + " 通过验证。"
			case !received.IsZero():
				ver.Detail = "验证记录已不在，但已收到通过签名校验的回调，说明 URL 已生效。"
			default:
				ver.Detail = "还没有收到验证请求。"
			}
			last.OK = !received.IsZero()
			if last.OK {
				last.Detail = "最近一次在 " + s.stamp(received) + "。"
			} else {
				last.Detail = "还没有收到回调。"
			}
		}
		tok := CheckItem{Key: ch.prefix + "_token", Title: ch.name + " access_token 获取",
			Hint: "access_token 用 " + ch.apiEnv + " 获取；secret 被重置后要同步更新。"}
		switch {
		case !ch.api || o.Tokens == nil:
			tok.Detail = "未配置：设置 " + ch.apiEnv + " 后重启。"
		default:
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			err := o.Tokens.CheckToken(cctx, ch.app)
			cancel()
			tok.OK = err == nil
			tok.Detail = tokenDetail(err)
		}
		items = append(items, ver, last, tok)
	}

	ip := CheckItem{Key: "trusted_ip", Title: "企业可信 IP", OK: true,
		Hint: "企业微信管理后台 → 应用管理 → 自建应用 → 企业可信IP，填入 scrm 服务器的出口 IP；公众号在「基本配置 → IP白名单」中填入。"}
	if o.Tokens == nil {
		ip.OK, ip.Detail = false, "未配置接口凭据，无法检查。"
	} else if at, msg := o.Tokens.UntrustedIP(); !at.IsZero() {
		ip.OK, ip.Detail = false, "平台在 "+s.stamp(at)+" 以「IP 不在可信列表」拒绝了调用："+msg
	} else {
		ip.Detail = "本实例启动以来没有被平台以「IP 不在可信列表」拒绝过。"
	}
	host, https := publicHost(base)
	domain := CheckItem{Key: "trusted_domain", Title: "可信域名", OK: host != "",
		Hint: "企业微信管理后台 → 应用管理 → 自建应用 → 网页授权及JS-SDK：可信域名填 " + cmp.Or(host, "你的域名") + "（需 ICP 备案并完成域名归属验证），企业微信授权登录的回调域名同样填它。"}
	sidebar := CheckItem{Key: "sidebar", Title: "侧边栏页面", OK: host != "" && https,
		Hint: "企业微信管理后台 → 客户联系 → 聊天工具栏管理：添加应用页面 " + shown + "/sidebar/ ；JS-SDK 的可信域名同为 " + cmp.Or(host, "你的域名") + "。"}
	switch {
	case host == "":
		domain.Detail = "未设置 SCRM_PUBLIC_URL，无法推算域名。"
		sidebar.Detail = domain.Detail
	default:
		domain.Detail = "根据 SCRM_PUBLIC_URL，域名是 " + host + "。"
		sidebar.Detail = "页面地址 " + base + "/sidebar/"
		if !https {
			sidebar.Detail += "；企业微信要求 https 地址。"
		}
	}
	return append(items, ip, domain, sidebar), nil
}

// stamp renders t in the business time zone.
func (s *Settings) stamp(t time.Time) string { return t.In(s.o.Location).Format("2006-01-02 15:04") }

// tokenDetail explains a token check's result without the platform's
// secrets (errors of the client never carry them).
func tokenDetail(err error) string {
	var ae *wecom.APIError
	switch {
	case err == nil:
		return "可以获取。"
	case errors.Is(err, wecom.ErrNotConfigured):
		return "未配置接口凭据。"
	case errors.As(err, &ae):
		return fmt.Sprintf("平台拒绝：errcode %d %s", ae.Code, ae.Msg)
	case errors.Is(err, context.DeadlineExceeded):
		return "平台 5 秒内没有应答。"
	default:
		return "无法连接平台。"
	}
}

// publicHost is the host of the public base URL and whether it is https.
func publicHost(base string) (string, bool) {
	rest, ok := strings.CutPrefix(base, "https://")
	https := ok
	if !ok {
		rest, ok = strings.CutPrefix(base, "http://")
		if !ok {
			return "", false
		}
	}
	host, _, _ := strings.Cut(rest, "/")
	return host, https
}
