// Package config loads scrm's settings from an optional YAML file and from
// SCRM_* environment variables (the environment wins), applies defaults and
// validates them before anything starts. Secrets never leave this package in
// clear text through String, Redacted or the YAML/JSON encoders.
package config

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is every setting of scrm. The `env` tag names the public environment
// variable; `secret:"true"` marks values that are redacted wherever shown.
type Config struct {
	Addr     string `yaml:"addr" env:"SCRM_ADDR"`
	DataDir  string `yaml:"data_dir" env:"SCRM_DATA_DIR"`
	MongoURI string `yaml:"mongo_uri" env:"SCRM_MONGO_URI" secret:"true"`
	MongoDB  string `yaml:"mongo_db" env:"SCRM_MONGO_DB"`
	RedisURL string `yaml:"redis_url" env:"SCRM_REDIS_URL" secret:"true"`
	// RedisPrefix namespaces every key, so deployments can share one Redis.
	RedisPrefix string `yaml:"redis_prefix" env:"SCRM_REDIS_PREFIX"`
	Timezone    string `yaml:"timezone" env:"SCRM_TIMEZONE"`
	APIToken    string `yaml:"api_token" env:"SCRM_API_TOKEN" secret:"true"`

	WeComCorpID        string `yaml:"wecom_corp_id" env:"SCRM_WECOM_CORP_ID"`
	WeComAgentID       string `yaml:"wecom_agent_id" env:"SCRM_WECOM_AGENT_ID"`
	WeComSecret        string `yaml:"wecom_secret" env:"SCRM_WECOM_SECRET" secret:"true"`
	WeComContactSecret string `yaml:"wecom_contact_secret" env:"SCRM_WECOM_CONTACT_SECRET" secret:"true"`
	WeComToken         string `yaml:"wecom_token" env:"SCRM_WECOM_TOKEN" secret:"true"`
	WeComAESKey        string `yaml:"wecom_aes_key" env:"SCRM_WECOM_AES_KEY" secret:"true"`
	WeComAPIBase       string `yaml:"wecom_api_base" env:"SCRM_WECOM_API_BASE"`
	// WeComOAuthBase and WeComLoginBase are the hosts of WeCom's OAuth2
	// authorize page and web login (扫码登录) page the console's sign-in
	// sends browsers to (the simulator stands in for them in the demo).
	WeComOAuthBase string `yaml:"wecom_oauth_base" env:"SCRM_WECOM_OAUTH_BASE"`
	WeComLoginBase string `yaml:"wecom_login_base" env:"SCRM_WECOM_LOGIN_BASE"`
	// WeComJSSDKURL is the WeCom JS-SDK script the chat sidebar (/sidebar/)
	// loads: WeCom's own in production, the simulator's stand-in in the
	// demo and the tests.
	WeComJSSDKURL     string        `yaml:"wecom_jssdk_url" env:"SCRM_WECOM_JSSDK_URL"`
	OAAppID           string        `yaml:"oa_app_id" env:"SCRM_OA_APP_ID"`
	OAAppSecret       string        `yaml:"oa_app_secret" env:"SCRM_OA_APP_SECRET" secret:"true"`
	OAToken           string        `yaml:"oa_token" env:"SCRM_OA_TOKEN" secret:"true"`
	OAAESKey          string        `yaml:"oa_aes_key" env:"SCRM_OA_AES_KEY" secret:"true"`
	OAAPIBase         string        `yaml:"oa_api_base" env:"SCRM_OA_API_BASE"`
	LLMBaseURL        string        `yaml:"llm_base_url" env:"SCRM_LLM_BASE_URL"`
	LLMAPIKey         string        `yaml:"llm_api_key" env:"SCRM_LLM_API_KEY" secret:"true"`
	LLMModel          string        `yaml:"llm_model" env:"SCRM_LLM_MODEL"`
	CallbackMaxSkew   time.Duration `yaml:"callback_max_skew" env:"SCRM_CALLBACK_MAX_SKEW"`
	CallbackMaxBody   int           `yaml:"callback_max_body" env:"SCRM_CALLBACK_MAX_BODY"`
	SQLiteSynchronous string        `yaml:"sqlite_synchronous" env:"SCRM_SQLITE_SYNCHRONOUS"`
	LogLevel          string        `yaml:"log_level" env:"SCRM_LOG_LEVEL"`

	// PublicURL is the base URL people reach scrm at (https://scrm.example.com):
	// login links and WeCom's sign-in redirects are built on it.
	PublicURL string `yaml:"public_url" env:"SCRM_PUBLIC_URL"`
	// SessionIdle ends a console session unused this long; sessions end
	// 7 days after sign-in whatever the activity.
	SessionIdle time.Duration `yaml:"session_idle" env:"SCRM_SESSION_IDLE"`

	// Reminders: when the morning digest goes out (business time, HH:MM; the
	// weekly manager digest goes out then on Mondays) and after how many days
	// without interaction a customer becomes dormant (沉睡).
	DigestAt    string `yaml:"digest_at" env:"SCRM_DIGEST_AT"`
	DormantDays int    `yaml:"dormant_days" env:"SCRM_DORMANT_DAYS"`
	// CampaignMonthlyCap is the company's cap of mass messages (群发) per
	// customer a month, counted across campaigns; 0 leaves only WeCom's.
	CampaignMonthlyCap int `yaml:"campaign_monthly_cap" env:"SCRM_CAMPAIGN_MONTHLY_CAP"`
	// CampaignNudgeHours is how long a salesperson may leave a mass
	// message unsent before WeCom reminds them (remind_groupmsg_send, at
	// most 3 times, the k-th after k×hours); 0 means 4.
	CampaignNudgeHours int `yaml:"campaign_nudge_hours" env:"SCRM_CAMPAIGN_NUDGE_HOURS"`
	// CampaignLease is how long an instance holds a campaign it is
	// creating in WeCom: the longest a crashed instance's campaign waits
	// before another instance finishes it (each task still exactly once).
	CampaignLease time.Duration `yaml:"campaign_lease" env:"SCRM_CAMPAIGN_LEASE"`
	// WelcomeText is the welcome sent to customers who add a member through
	// no channel (#客户昵称# and #员工姓名# are filled in); empty sends none.
	WelcomeText string `yaml:"welcome_text" env:"SCRM_WELCOME_TEXT"`
	// ReminderLease is how long an instance holds the due reminders it
	// claimed: the longest a crashed instance's reminders wait before
	// another instance pushes them, and, three quarters of it, how long a
	// push may wait behind WeCom's per member limit.
	ReminderLease time.Duration `yaml:"reminder_lease" env:"SCRM_REMINDER_LEASE"`
	// AlertEscalateHours is how many business hours a sentiment alert
	// (情绪预警) may stand unhandled before the salesperson's manager is told.
	AlertEscalateHours int `yaml:"alert_escalate_hours" env:"SCRM_ALERT_ESCALATE_HOURS"`

	// Customer inbox: the FAQ knowledge base, business hours and the
	// message customers get outside them ("" renders one from the hours).
	FAQFile         string `yaml:"faq_file" env:"SCRM_FAQ_FILE"`
	BusinessHours   string `yaml:"business_hours" env:"SCRM_BUSINESS_HOURS"`
	OffHoursMessage string `yaml:"off_hours_message" env:"SCRM_OFF_HOURS_MESSAGE"`

	// LLMDailyTokens caps the LLM tokens spent per business day (0: no
	// cap); past it, analyses run on the offline models until the next day.
	LLMDailyTokens int `yaml:"llm_daily_tokens" env:"SCRM_LLM_DAILY_TOKENS"`
	// AnalysisQuiet is how long a conversation must be silent before it is
	// analysed; AnalysisApply applies the proposed tags and stage changes
	// instead of only proposing them.
	AnalysisQuiet time.Duration `yaml:"analysis_quiet" env:"SCRM_ANALYSIS_QUIET"`
	AnalysisApply bool          `yaml:"analysis_apply" env:"SCRM_ANALYSIS_APPLY"`

	// Chat archive (会话内容存档): its Secret and the file holding the RSA
	// private key matching the 消息加密公钥 uploaded to WeCom. Both set
	// enable the archive worker (in builds with -tags msgaudit).
	WeComArchiveSecret    string `yaml:"wecom_archive_secret" env:"SCRM_WECOM_ARCHIVE_SECRET" secret:"true"`
	ArchivePrivateKeyFile string `yaml:"archive_private_key_file" env:"SCRM_ARCHIVE_PRIVATE_KEY_FILE"`
}

// DefaultJSSDKURL is WeCom's JS-SDK (ww.register and the client APIs) as
// WeCom's documentation tells pages to load it.
const DefaultJSSDKURL = "https://wwcdn.weixin.qq.com/node/open/js/wecom-jssdk-2.0.2.js"

// Default returns the configuration scrm runs with when nothing is set.
func Default() Config {
	return Config{
		Addr:               ":8080",
		DataDir:            "./data",
		MongoDB:            "scrm",
		RedisPrefix:        "scrm:",
		Timezone:           "Asia/Shanghai",
		WeComAPIBase:       "https://qyapi.weixin.qq.com",
		OAAPIBase:          "https://api.weixin.qq.com",
		WeComOAuthBase:     "https://open.weixin.qq.com",
		WeComLoginBase:     "https://login.work.weixin.qq.com",
		WeComJSSDKURL:      DefaultJSSDKURL,
		SessionIdle:        12 * time.Hour,
		CallbackMaxSkew:    5 * time.Minute,
		CallbackMaxBody:    1 << 20,
		SQLiteSynchronous:  "FULL",
		LogLevel:           "info",
		DigestAt:           "09:00",
		DormantDays:        30,
		CampaignMonthlyCap: 4,
		ReminderLease:      time.Minute,
		CampaignLease:      2 * time.Minute,
		AlertEscalateHours: 4,
		AnalysisQuiet:      10 * time.Minute,
		BusinessHours:      "09:00-18:00 Mon-Fri",
	}
}

// Load reads the YAML file at path (skipped when path is empty), then the
// environment through getenv (os.Getenv when nil). The environment wins.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: read %s: %w", path, err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("config: parse %s: %w", path, err)
		}
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	if err := applyEnv(&cfg, getenv); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func applyEnv(cfg *Config, getenv func(string) string) error {
	v := reflect.ValueOf(cfg).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name := t.Field(i).Tag.Get("env")
		raw := getenv(name)
		if name == "" || raw == "" {
			continue
		}
		f := v.Field(i)
		switch f.Interface().(type) {
		case string:
			f.SetString(raw)
		case int:
			n, err := strconv.Atoi(raw)
			if err != nil {
				return fmt.Errorf("config: %s=%q is not an integer", name, raw)
			}
			f.SetInt(int64(n))
		case time.Duration:
			d, err := time.ParseDuration(raw)
			if err != nil {
				return fmt.Errorf("config: %s=%q is not a duration such as 5m or 30s", name, raw)
			}
			f.SetInt(int64(d))
		case bool:
			b, err := strconv.ParseBool(raw)
			if err != nil {
				return fmt.Errorf("config: %s=%q is not a boolean (true or false)", name, raw)
			}
			f.SetBool(b)
		}
	}
	return nil
}

// WeComEnabled reports whether the WeCom callback channel is configured.
func (c Config) WeComEnabled() bool {
	return c.WeComCorpID != "" && c.WeComToken != "" && c.WeComAESKey != ""
}

// WeComAPIEnabled reports whether outbound WeCom calls can be made.
func (c Config) WeComAPIEnabled() bool { return c.WeComCorpID != "" && c.WeComSecret != "" }

// OAEnabled reports whether the Official Account callback channel is configured.
func (c Config) OAEnabled() bool { return c.OAAppID != "" && c.OAToken != "" }

// ArchiveEnabled reports whether the chat archive (会话内容存档) is configured.
func (c Config) ArchiveEnabled() bool {
	return c.WeComArchiveSecret != "" && c.ArchivePrivateKeyFile != ""
}

// ArchivePrivateKey reads the archive's RSA private key (PEM); Validate has
// checked it parses.
func (c Config) ArchivePrivateKey() (string, error) {
	b, err := os.ReadFile(c.ArchivePrivateKeyFile)
	if err != nil {
		return "", fmt.Errorf("SCRM_ARCHIVE_PRIVATE_KEY_FILE: %w", err)
	}
	return string(b), nil
}

// WeComLoginEnabled reports whether staff can sign in to the console with
// WeCom: it takes the app's AgentId and secret (auth/getuserinfo).
func (c Config) WeComLoginEnabled() bool { return c.WeComAPIEnabled() && c.WeComAgentID != "" }

// PublicBase returns SCRM_PUBLIC_URL without a trailing slash.
func (c Config) PublicBase() string { return strings.TrimRight(c.PublicURL, "/") }

// LLMEnabled reports whether an OpenAI-compatible LLM is configured.
func (c Config) LLMEnabled() bool { return c.LLMBaseURL != "" && c.LLMModel != "" }

// Location returns the business time zone; Validate guarantees it loads.
func (c Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Validate checks every setting and returns all problems at once, each naming
// the environment variable and what is wrong with it.
func (c Config) Validate() error {
	var errs []error
	bad := func(env, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, a...)))
	}
	if c.Addr == "" {
		bad("SCRM_ADDR", "must not be empty (for example :8080)")
	}
	if c.MongoURI == "" && c.DataDir == "" {
		bad("SCRM_DATA_DIR", "must name a directory for the embedded store when SCRM_MONGO_URI is not set")
	}
	if c.MongoURI != "" && !strings.HasPrefix(c.MongoURI, "mongodb://") && !strings.HasPrefix(c.MongoURI, "mongodb+srv://") {
		bad("SCRM_MONGO_URI", "must start with mongodb:// or mongodb+srv://")
	}
	if c.MongoURI != "" && c.MongoDB == "" {
		bad("SCRM_MONGO_DB", "must name the database when SCRM_MONGO_URI is set")
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			bad("SCRM_REDIS_URL", "must be a URL such as redis://127.0.0.1:6379/0")
		}
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "" {
		bad("SCRM_TIMEZONE", "%q is not an IANA time zone such as Asia/Shanghai", c.Timezone)
	}
	for env, base := range map[string]string{"SCRM_WECOM_API_BASE": c.WeComAPIBase, "SCRM_OA_API_BASE": c.OAAPIBase,
		"SCRM_WECOM_OAUTH_BASE": c.WeComOAuthBase, "SCRM_WECOM_LOGIN_BASE": c.WeComLoginBase, "SCRM_WECOM_JSSDK_URL": c.WeComJSSDKURL} {
		if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(env, "%q is not an http(s) URL", base)
		}
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			bad("SCRM_PUBLIC_URL", "%q is not an http(s) base URL such as https://scrm.example.com", c.PublicURL)
		}
	}
	if c.SessionIdle < time.Minute || c.SessionIdle > 7*24*time.Hour {
		bad("SCRM_SESSION_IDLE", "must be a duration between 1m and 168h such as 12h (got %s)", c.SessionIdle)
	}
	// A channel is either fully configured or not at all: half a configuration
	// is a typo that would silently disable the channel.
	wecomSet := map[string]string{"SCRM_WECOM_CORP_ID": c.WeComCorpID, "SCRM_WECOM_TOKEN": c.WeComToken, "SCRM_WECOM_AES_KEY": c.WeComAESKey}
	if anySet(wecomSet) || c.WeComSecret != "" || c.WeComAgentID != "" {
		for env, v := range wecomSet {
			if v == "" {
				bad(env, "is required when any SCRM_WECOM_* setting is given")
			}
		}
	}
	if c.WeComAESKey != "" && len(c.WeComAESKey) != 43 {
		bad("SCRM_WECOM_AES_KEY", "must be the 43-character EncodingAESKey from the WeCom console (got %d characters)", len(c.WeComAESKey))
	}
	if c.WeComAgentID != "" {
		if _, err := strconv.Atoi(c.WeComAgentID); err != nil {
			bad("SCRM_WECOM_AGENT_ID", "must be the numeric AgentId of the self-built app")
		}
	}
	if (c.WeComSecret != "" || c.WeComContactSecret != "") && c.WeComCorpID == "" {
		bad("SCRM_WECOM_CORP_ID", "is required to use SCRM_WECOM_SECRET or SCRM_WECOM_CONTACT_SECRET")
	}
	oaSet := map[string]string{"SCRM_OA_APP_ID": c.OAAppID, "SCRM_OA_TOKEN": c.OAToken}
	if anySet(oaSet) || c.OAAESKey != "" || c.OAAppSecret != "" {
		for env, v := range oaSet {
			if v == "" {
				bad(env, "is required when any SCRM_OA_* setting is given")
			}
		}
	}
	if c.OAAESKey != "" && len(c.OAAESKey) != 43 {
		bad("SCRM_OA_AES_KEY", "must be the 43-character EncodingAESKey from the Official Account console (got %d characters)", len(c.OAAESKey))
	}
	if (c.LLMBaseURL == "") != (c.LLMModel == "") {
		bad("SCRM_LLM_MODEL", "SCRM_LLM_BASE_URL and SCRM_LLM_MODEL must be set together")
	}
	if c.LLMBaseURL != "" {
		if u, err := url.Parse(c.LLMBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			bad("SCRM_LLM_BASE_URL", "%q is not an http(s) URL", c.LLMBaseURL)
		}
	}
	if c.LLMDailyTokens < 0 {
		bad("SCRM_LLM_DAILY_TOKENS", "must be 0 (no cap) or a positive number of tokens")
	}
	if c.AnalysisQuiet < time.Second || c.AnalysisQuiet > 24*time.Hour {
		bad("SCRM_ANALYSIS_QUIET", "must be a duration between 1s and 24h such as 10m")
	}
	if c.CallbackMaxSkew <= 0 {
		bad("SCRM_CALLBACK_MAX_SKEW", "must be a positive duration such as 5m")
	}
	if c.CallbackMaxBody < 1024 {
		bad("SCRM_CALLBACK_MAX_BODY", "must be at least 1024 bytes")
	}
	switch strings.ToUpper(c.SQLiteSynchronous) {
	case "FULL", "NORMAL", "EXTRA":
	default:
		bad("SCRM_SQLITE_SYNCHRONOUS", "must be FULL, NORMAL or EXTRA")
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("SCRM_LOG_LEVEL", "must be debug, info, warn or error")
	}
	if _, err := ParseBusinessHours(c.BusinessHours, time.UTC); err != nil {
		bad("SCRM_BUSINESS_HOURS", "%v (for example 09:00-18:00 Mon-Fri, or always)", err)
	}
	if c.FAQFile != "" {
		if st, err := os.Stat(c.FAQFile); err != nil || st.IsDir() {
			bad("SCRM_FAQ_FILE", "%q is not a readable file (see docs/faq.example.yaml)", c.FAQFile)
		}
	}
	if !validClock(c.DigestAt) {
		bad("SCRM_DIGEST_AT", "%q is not a time of day such as 09:00", c.DigestAt)
	}
	if c.DormantDays < 1 || c.DormantDays > 3650 {
		bad("SCRM_DORMANT_DAYS", "must be a number of days between 1 and 3650 (got %d)", c.DormantDays)
	}
	if c.AlertEscalateHours < 1 || c.AlertEscalateHours > 720 {
		bad("SCRM_ALERT_ESCALATE_HOURS", "must be a number of business hours between 1 and 720 (got %d)", c.AlertEscalateHours)
	}
	if c.ReminderLease < 5*time.Second || c.ReminderLease > time.Hour {
		bad("SCRM_REMINDER_LEASE", "must be a duration between 5s and 1h such as 1m (got %s)", c.ReminderLease)
	}
	if c.CampaignLease < 5*time.Second || c.CampaignLease > time.Hour {
		bad("SCRM_CAMPAIGN_LEASE", "must be a duration between 5s and 1h such as 2m (got %s)", c.CampaignLease)
	}
	if (c.WeComArchiveSecret == "") != (c.ArchivePrivateKeyFile == "") {
		bad("SCRM_ARCHIVE_PRIVATE_KEY_FILE", "SCRM_WECOM_ARCHIVE_SECRET and SCRM_ARCHIVE_PRIVATE_KEY_FILE must be set together")
	}
	if c.WeComArchiveSecret != "" && c.WeComCorpID == "" {
		bad("SCRM_WECOM_CORP_ID", "is required to use SCRM_WECOM_ARCHIVE_SECRET")
	}
	if c.ArchivePrivateKeyFile != "" {
		if err := checkRSAKeyFile(c.ArchivePrivateKeyFile); err != nil {
			bad("SCRM_ARCHIVE_PRIVATE_KEY_FILE", "%v", err)
		}
	}
	return errors.Join(errs...)
}

// checkRSAKeyFile checks that path holds a PEM RSA private key (PKCS#1 or
// PKCS#8), the forms the archive SDK accepts. The key itself never appears
// in the error.
func checkRSAKeyFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%q is not a readable file", path)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return fmt.Errorf("%q holds no PEM block (want -----BEGIN RSA PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----)", path)
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return fmt.Errorf("%q is not an RSA private key in PKCS#1 or PKCS#8 form", path)
	}
	if _, ok := k.(*rsa.PrivateKey); !ok {
		return fmt.Errorf("%q holds a %T, not an RSA private key", path, k)
	}
	return nil
}

// validClock reports whether s is a time of day "HH:MM".
func validClock(s string) bool {
	t, err := time.Parse("15:04", s)
	return err == nil && len(s) == 5 && t.Format("15:04") == s
}

func anySet(m map[string]string) bool {
	for _, v := range m {
		if v != "" {
			return true
		}
	}
	return false
}

// Redacted returns a copy with every secret replaced by "***" (empty secrets
// stay empty so an operator can see what is unset).
func (c Config) Redacted() Config {
	v := reflect.ValueOf(&c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Tag.Get("secret") == "true" && v.Field(i).String() != "" {
			v.Field(i).SetString("***")
		}
	}
	return c
}

// String renders the redacted configuration, so printing a Config by mistake
// never leaks a secret.
func (c Config) String() string {
	b, _ := yaml.Marshal(c.Redacted().fields())
	return string(b)
}

// fields lists settings by their environment names, for String and the docs.
func (c Config) fields() map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(c)
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		out[t.Field(i).Tag.Get("env")] = fmt.Sprint(v.Field(i).Interface())
	}
	return out
}

// MarshalYAML keeps secrets out of any YAML rendering of a Config.
func (c Config) MarshalYAML() (any, error) { return c.Redacted().fields(), nil }

// LogValue keeps secrets out of slog output.
func (c Config) LogValue() slog.Value {
	f := c.Redacted().fields()
	attrs := make([]slog.Attr, 0, len(f))
	for k, v := range f {
		attrs = append(attrs, slog.String(k, v))
	}
	return slog.GroupValue(attrs...)
}
