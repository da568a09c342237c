package wecom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Default API bases; SCRM_WECOM_API_BASE and SCRM_OA_API_BASE override them.
const (
	DefaultWeComBase = "https://qyapi.weixin.qq.com"
	DefaultOABase    = "https://api.weixin.qq.com"
)

// APIConfig configures an APIClient. Only the credentials of the channels in
// use need to be set: WeCom methods need CorpID and AppSecret, OA methods need
// OAAppID and OAAppSecret. Zero tuning fields take the documented defaults.
type APIConfig struct {
	CorpID  string
	AgentID string // numeric AgentId of the self-built app, as a string
	// AppSecret is the self-built app's secret: message/send and kf.
	AppSecret string
	// ContactSecret is the 客户联系 secret. Its token is separate from the app's.
	// When empty, externalcontact calls use the app token, which works when the
	// app is listed under 客户联系 → 可调用接口的应用.
	ContactSecret string
	WeComBase     string // default DefaultWeComBase

	OAAppID     string
	OAAppSecret string
	OABase      string // default DefaultOABase

	// HTTPTimeout bounds each HTTP attempt (default 10s). The caller's ctx
	// bounds the whole call including retries and limiter waits.
	HTTPTimeout time.Duration
	// HTTPClient is used for every request when set (tests); by default the
	// client owns a keep-alive transport. Never http.DefaultClient.
	HTTPClient *http.Client

	// Clock drives the per-member send limiter (default: real time). Tests
	// inject a fake clock so they need not wait a minute.
	Clock Clock
	// MemberPerMinute and MemberPerHour are WeCom's per app per member send
	// limits for message/send (defaults 30 and 1000; negative disables).
	MemberPerMinute int
	MemberPerHour   int

	// MaxBusyRetries bounds retries after errcode -1 and after transport
	// errors of idempotent calls (default 3). RetryBackoff is the first wait,
	// doubled each time with jitter (default 500ms).
	MaxBusyRetries int
	RetryBackoff   time.Duration
	// FreqBackoff is the first wait after 45009/45033 (default 2s), doubled up
	// to FreqBackoffMax (default 60s: WeCom's shortest block window). A call
	// gives up with ErrAPIRateLimited after waiting FreqMaxWait in total
	// (default 3m) so a leased job can reschedule instead of holding its lease.
	FreqBackoff    time.Duration
	FreqBackoffMax time.Duration
	FreqMaxWait    time.Duration
	// ConfigErrorCooldown is how long a rejected secret (40001 and friends) is
	// remembered before gettoken is tried again (default 1m). It prevents the
	// retry storms that get a corp blocked with 45009 for an hour.
	ConfigErrorCooldown time.Duration
	// MarkTagConcurrency caps concurrent mark_tag calls (default 5; WeCom
	// answers 45033 above 5).
	MarkTagConcurrency int
}

// APIClient calls the WeCom and Official Account server APIs for one corp and
// one self-built app (and optionally one OA). It is safe for concurrent use.
//
// The SDK github.com/silenceper/wechat/v2 provides the request and response
// types used here, but its HTTP layer is not: every SDK call goes through the
// package globals util.DefaultHTTPClient (no timeout) and util.SetURIModifier
// (one base for the whole process, so two clients against two bases — a test
// and its simulator, or WeCom and a mock — cannot coexist), takes no context,
// and in kf.SyncMsg drops the errcode. So requests are made here with
// net/http, and every response's errcode is kept in *APIError.
type APIClient struct {
	cfg    APIConfig
	http   *http.Client
	log    *slog.Logger
	wecom  string // base without trailing slash
	oa     string
	clock  Clock
	limit  *memberLimiter
	markCh chan struct{}

	appTokens     *tokenSource
	corpTickets   *ticketSource // JS-SDK tickets (client_jsapi.go)
	agentTickets  *ticketSource
	contactTokens *tokenSource
	oaTokens      *tokenSource

	gateMu sync.Mutex
	gates  map[string]time.Time // api → blocked until (after 45009)

	untrustedMu  sync.Mutex
	untrustedAt  time.Time // last call refused for this server's IP (60020, 40164)
	untrustedMsg string    // the platform's errmsg then (it names the caller IP)
}

// logrusOnce silences logrus once per process. The SDK's packages log through
// the global logrus logger (the OA server logs decrypted messages at debug),
// and nothing in scrm uses logrus, so its output is discarded.
var logrusOnce sync.Once

// NewAPIClient builds a client. cache is shared by every instance of the
// service (Redis in cluster mode, NewMemoryTokenCache otherwise); when it also
// implements SendSlots (coord.Redis does), the per member send limits are
// kept there, across instances and restarts. logger may be nil. It returns an
// error for an unusable base URL.
func NewAPIClient(cfg APIConfig, cache TokenCache, logger *slog.Logger) (*APIClient, error) {
	logrusOnce.Do(func() {
		logrus.SetOutput(io.Discard)
		logrus.SetLevel(logrus.ErrorLevel)
	})
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cache == nil {
		cache = NewMemoryTokenCache()
	}
	// A cache every instance shares keeps the per member send slots too.
	slots, _ := cache.(SendSlots)
	applyAPIDefaults(&cfg)
	wecomBase, err := apiCleanBase(cfg.WeComBase)
	if err != nil {
		return nil, fmt.Errorf("wecom: new api client: SCRM_WECOM_API_BASE: %w", err)
	}
	oaBase, err := apiCleanBase(cfg.OABase)
	if err != nil {
		return nil, fmt.Errorf("wecom: new api client: SCRM_OA_API_BASE: %w", err)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = 64
		tr.MaxIdleConnsPerHost = 32
		tr.IdleConnTimeout = 90 * time.Second
		hc = &http.Client{Transport: tr}
	}
	c := &APIClient{
		cfg:    cfg,
		http:   hc,
		log:    logger,
		wecom:  wecomBase,
		oa:     oaBase,
		clock:  cfg.Clock,
		limit:  newMemberLimiter(cfg.Clock, cfg.MemberPerMinute, cfg.MemberPerHour, slots, "wecom:send:"+cfg.CorpID+":"+cfg.AgentID+":"),
		markCh: make(chan struct{}, cfg.MarkTagConcurrency),
		gates:  make(map[string]time.Time),
	}
	if cfg.CorpID != "" && cfg.AppSecret != "" {
		c.appTokens = newTokenSource(c, cache, apiTokenApp, cfg.CorpID, cfg.AppSecret, wecomBase)
		c.contactTokens = c.appTokens
		c.corpTickets, c.agentTickets = newTicketSources(c, cache)
	}
	if cfg.CorpID != "" && cfg.ContactSecret != "" {
		c.contactTokens = newTokenSource(c, cache, apiTokenContact, cfg.CorpID, cfg.ContactSecret, wecomBase)
	}
	if cfg.OAAppID != "" && cfg.OAAppSecret != "" {
		c.oaTokens = newTokenSource(c, cache, apiTokenOA, cfg.OAAppID, cfg.OAAppSecret, oaBase)
	}
	return c, nil
}

func applyAPIDefaults(cfg *APIConfig) {
	if cfg.WeComBase == "" {
		cfg.WeComBase = DefaultWeComBase
	}
	if cfg.OABase == "" {
		cfg.OABase = DefaultOABase
	}
	if cfg.HTTPTimeout <= 0 {
		cfg.HTTPTimeout = 10 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.MemberPerMinute == 0 {
		cfg.MemberPerMinute = 30
	}
	if cfg.MemberPerHour == 0 {
		cfg.MemberPerHour = 1000
	}
	if cfg.MaxBusyRetries <= 0 {
		cfg.MaxBusyRetries = 3
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 500 * time.Millisecond
	}
	if cfg.FreqBackoff <= 0 {
		cfg.FreqBackoff = 2 * time.Second
	}
	if cfg.FreqBackoffMax <= 0 {
		cfg.FreqBackoffMax = 60 * time.Second
	}
	if cfg.FreqMaxWait <= 0 {
		cfg.FreqMaxWait = 3 * time.Minute
	}
	if cfg.ConfigErrorCooldown <= 0 {
		cfg.ConfigErrorCooldown = time.Minute
	}
	if cfg.MarkTagConcurrency <= 0 {
		cfg.MarkTagConcurrency = 5
	}
}

func apiCleanBase(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("%q is not an http(s) URL", base)
	}
	return strings.TrimRight(base, "/"), nil
}

// QueueDepth reports how many message/send calls are waiting in the
// per-member limiter.
func (c *APIClient) QueueDepth() int { return c.limit.depth("") }

// MemberQueueDepth reports how many message/send calls to one member are
// waiting in the per-member limiter.
func (c *APIClient) MemberQueueDepth(userID string) int { return c.limit.depth(userID) }

// ---- errors ----

// Sentinels matched by *APIError through errors.Is.
var (
	// ErrAPIConfig: the platform rejected the configuration (a wrong secret,
	// corpid or appid, an IP not on the allow list, a missing permission).
	// Retrying cannot help; an admin must fix the settings.
	ErrAPIConfig = errors.New("wecom: configuration rejected by the platform")
	// ErrAPIRateLimited: 45009/45033 persisted past the client's backoff
	// budget. Reschedule the work; do not drop it.
	ErrAPIRateLimited = errors.New("wecom: rate limited")
	// ErrAPIBusy: errcode -1 persisted past the bounded retries.
	ErrAPIBusy = errors.New("wecom: platform busy")
	// ErrAPITokenInvalid: the token was rejected again right after a refresh.
	ErrAPITokenInvalid = errors.New("wecom: access token rejected")
	// ErrAPIOutsideWindow: the customer-service window is closed or used up
	// (OA 45015/45047, kf 95018); wait for the customer to write again.
	ErrAPIOutsideWindow = errors.New("wecom: outside the customer-service window")
	// ErrAPINotConfigured: the method needs credentials the APIConfig lacks.
	ErrAPINotConfigured = errors.New("wecom: api credentials not configured")
)

// APIError is an errcode≠0 answer from WeCom or the Official Account API.
type APIError struct {
	Code int    // errcode
	Msg  string // errmsg as the platform sent it
	API  string // path under /cgi-bin/, e.g. "message/send"
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("wecom: %s: errcode %d: %s", e.API, e.Code, e.Msg)
	if hint := apiConfigHint(e); hint != "" {
		s += " (" + hint + ")"
	}
	return s
}

// Is maps error codes to the package's sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrAPIConfig:
		return apiIsConfigCode(e.API, e.Code)
	case ErrAPIRateLimited:
		return e.Code == 45009 || e.Code == 45033
	case ErrAPIBusy:
		return e.Code == -1
	case ErrAPITokenInvalid:
		return e.Code == 40014 || e.Code == 42001
	case ErrAPIOutsideWindow:
		return e.Code == 45015 || e.Code == 45047 || e.Code == 95018
	}
	return false
}

// APIErrorCode returns the errcode carried by err, or 0 when err holds no
// *APIError.
func APIErrorCode(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return 0
}

// apiIsConfigCode lists codes that mean "the settings are wrong". 40001 is a
// configuration error only from gettoken: on other OA APIs it means the token
// is invalid and is handled as such.
func apiIsConfigCode(api string, code int) bool {
	switch code {
	case 40001:
		return api == "gettoken"
	case 40013, // invalid corpid / appid
		40125,  // OA: invalid appsecret
		40164,  // OA: caller IP not on the allow list
		41002,  // corpid missing
		41004,  // secret missing
		60020,  // WeCom: caller IP not trusted
		48002,  // API forbidden for this app (missing permission)
		301002: // token belongs to another agent
		return true
	}
	return false
}

func apiConfigHint(e *APIError) string {
	if !apiIsConfigCode(e.API, e.Code) {
		return ""
	}
	switch e.Code {
	case 40001, 40125, 41004:
		return "the secret was rejected: check SCRM_WECOM_SECRET / SCRM_WECOM_CONTACT_SECRET / SCRM_OA_APP_SECRET"
	case 40013, 41002:
		return "the corp id or app id was rejected: check SCRM_WECOM_CORP_ID / SCRM_OA_APP_ID"
	case 40164, 60020:
		return "this server's IP is not on the app's trusted IP list"
	default:
		return "the app lacks permission for this API; check the app's settings in the admin console"
	}
}

// ---- the call machinery ----

type apiCall struct {
	api        string        // path under /cgi-bin/
	method     string        // GET or POST
	tokens     *tokenSource  // which app's token
	query      url.Values    // extra query parameters (never the token)
	body       any           // JSON body for POST
	idempotent bool          // safe to resend after a transport error
	timeout    time.Duration // per attempt; 0 means cfg.HTTPTimeout
	// raw is a body sent as is with contentType (media/upload's
	// multipart form) instead of body's JSON.
	raw         []byte
	contentType string
	// once makes -1 and 45009/45033 final instead of retried: for calls
	// WeCom counts against a small hourly budget (the JS-SDK tickets), where
	// every resend spends one. A rejected token is still replaced once.
	once bool
}

// apiStatus is the errcode/errmsg pair every answer carries.
type apiStatus struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// call runs one API call with the retry policy of the protocol doc section 4:
// 40014/42001 (and OA 40001) → drop the token, refresh, retry once; -1 →
// bounded retries with backoff; 45009/45033 → back off (bounded, ctx-aware)
// and retry; anything else → *APIError. out receives the JSON answer.
func (c *APIClient) call(ctx context.Context, ac apiCall, out any) error {
	if ac.tokens == nil {
		return fmt.Errorf("wecom: %s: %w", ac.api, ErrAPINotConfigured)
	}
	var body []byte
	if ac.body != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // keep markdown's <font> and Chinese text literal
		if err := enc.Encode(ac.body); err != nil {
			return fmt.Errorf("wecom: %s: encode request: %w", ac.api, err)
		}
		body = buf.Bytes()
	}
	if ac.raw != nil {
		body = ac.raw
	}
	var (
		refreshed  bool
		busy       int
		freqWaited time.Duration
		freqNext   = c.cfg.FreqBackoff
	)
	for {
		if err := c.waitGate(ctx, ac.api); err != nil {
			return err
		}
		token, err := ac.tokens.token(ctx)
		retryable := err != nil // gettoken is a read: always safe to repeat
		if err == nil {
			var raw []byte
			raw, err = c.roundTrip(ctx, ac, token, body)
			retryable = ac.idempotent
			if err == nil {
				var st apiStatus
				if err := json.Unmarshal(raw, &st); err != nil {
					return fmt.Errorf("wecom: %s: decode answer: %w", ac.api, err)
				}
				if st.ErrCode == 0 {
					if out != nil {
						if err := json.Unmarshal(raw, out); err != nil {
							return fmt.Errorf("wecom: %s: decode answer: %w", ac.api, err)
						}
					}
					return nil
				}
				err = c.noteAPIError(&APIError{Code: st.ErrCode, Msg: st.ErrMsg, API: ac.api})
			}
		}
		var te *apiTransportError
		if errors.As(err, &te) {
			// Connection failures, timeouts and non-200 answers: resend only
			// what cannot take effect twice.
			if !retryable || ac.once || busy >= c.cfg.MaxBusyRetries || ctx.Err() != nil {
				return err
			}
			busy++
			c.log.Warn("wecom api transport error, retrying", "api", te.api, "attempt", busy, "err", err)
			if err := sleepCtx(ctx, c.backoff(busy)); err != nil {
				return fmt.Errorf("wecom: %s: %w", ac.api, err)
			}
			continue
		}
		var ae *APIError
		if !errors.As(err, &ae) {
			return err
		}
		switch {
		case ae.API == ac.api && ac.tokens.rejects(ae.Code):
			if refreshed {
				return err
			}
			refreshed = true
			c.log.Info("wecom access token rejected, refreshing", "api", ac.api, "errcode", ae.Code, "app", ac.tokens.kind)
			if err := ac.tokens.invalidate(ctx, token); err != nil {
				return err
			}
		case ac.once:
			return err
		case ae.Code == -1:
			if busy >= c.cfg.MaxBusyRetries {
				return err
			}
			busy++
			c.log.Warn("wecom api busy, retrying", "api", ae.API, "attempt", busy)
			if err := sleepCtx(ctx, c.backoff(busy)); err != nil {
				return fmt.Errorf("wecom: %s: waiting after errcode -1: %w", ac.api, err)
			}
		case ae.Code == 45009 || ae.Code == 45033:
			wait := jitter(freqNext)
			if freqWaited+wait > c.cfg.FreqMaxWait {
				return err
			}
			freqWaited += wait
			freqNext = min(freqNext*2, c.cfg.FreqBackoffMax)
			if ae.Code == 45009 {
				// Hold every call to this API, not only this one: hammering a
				// blocked API extends the block.
				c.setGate(ae.API, wait)
			}
			c.log.Warn("wecom api rate limited, backing off", "api", ae.API, "errcode", ae.Code, "wait", wait)
			if err := sleepCtx(ctx, wait); err != nil {
				return fmt.Errorf("wecom: %s: waiting after errcode %d: %w", ac.api, ae.Code, err)
			}
		default:
			return err
		}
	}
}

// apiTransportError is a failure before an errcode was read: connection,
// timeout, non-200 status. The URL is left out because it holds the token.
type apiTransportError struct {
	api string
	err error
}

func (e *apiTransportError) Error() string { return fmt.Sprintf("wecom: %s: %v", e.api, e.err) }
func (e *apiTransportError) Unwrap() error { return e.err }

func (c *APIClient) roundTrip(ctx context.Context, ac apiCall, token string, body []byte) ([]byte, error) {
	base := c.wecom
	if ac.tokens.kind == apiTokenOA {
		base = c.oa
	}
	q := url.Values{}
	for k, v := range ac.query {
		q[k] = v
	}
	q.Set("access_token", token)
	return c.doHTTPAs(ctx, ac.api, ac.method, base+"/cgi-bin/"+ac.api+"?"+q.Encode(), body, ac.timeout, ac.contentType)
}

func (c *APIClient) doHTTP(ctx context.Context, api, method, u string, body []byte, timeout time.Duration) ([]byte, error) {
	return c.doHTTPAs(ctx, api, method, u, body, timeout, "")
}

func (c *APIClient) doHTTPAs(ctx context.Context, api, method, u string, body []byte, timeout time.Duration, contentType string) ([]byte, error) {
	if timeout <= 0 {
		timeout = c.cfg.HTTPTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("wecom: %s: build request: %w", api, apiScrubURL(err))
	}
	if body != nil {
		if contentType == "" {
			contentType = "application/json; charset=utf-8"
		}
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &apiTransportError{api: api, err: apiScrubURL(err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, &apiTransportError{api: api, err: apiScrubURL(err)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &apiTransportError{api: api, err: fmt.Errorf("http status %d", resp.StatusCode)}
	}
	return raw, nil
}

// apiScrubURL drops the URL from net/http errors: it carries access_token or
// corpsecret, which must never reach a log.
func apiScrubURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

func (c *APIClient) backoff(attempt int) time.Duration {
	d := c.cfg.RetryBackoff << (attempt - 1)
	return jitter(d)
}

// jitter spreads d over [0.75d, 1.25d) so synchronized callers desynchronize.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d*3/4 + time.Duration(rand.Int64N(int64(d)/2+1))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *APIClient) setGate(api string, d time.Duration) {
	until := time.Now().Add(d)
	c.gateMu.Lock()
	if until.After(c.gates[api]) {
		c.gates[api] = until
	}
	c.gateMu.Unlock()
}

// waitGate delays a call while its API is known to be blocked (45009).
func (c *APIClient) waitGate(ctx context.Context, api string) error {
	c.gateMu.Lock()
	until, ok := c.gates[api]
	if ok && !time.Now().Before(until) {
		delete(c.gates, api)
	}
	c.gateMu.Unlock()
	if d := time.Until(until); ok && d > 0 {
		if err := sleepCtx(ctx, d); err != nil {
			return fmt.Errorf("wecom: %s: waiting out a frequency block: %w", api, err)
		}
	}
	return nil
}
