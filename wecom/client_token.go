package wecom

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"
)

// TokenCache stores access tokens for every instance of the service. The
// lead implements it over Redis in cluster mode; NewMemoryTokenCache serves
// a single process. Keys embed the app and a hash of its secret and API base,
// never the secret itself.
type TokenCache interface {
	// Get returns the cached token; ok is false when there is none or it expired.
	Get(ctx context.Context, key string) (token string, ok bool, err error)
	// Set stores token for ttl.
	Set(ctx context.Context, key, token string, ttl time.Duration) error
	// Delete removes the token; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// MemoryTokenCache is an in-process TokenCache, safe for concurrent use
// (unlike the SDK's cache.Memory, which reads its map without a lock).
type MemoryTokenCache struct {
	mu sync.RWMutex
	m  map[string]apiMemEntry
}

type apiMemEntry struct {
	token   string
	expires time.Time
}

// NewMemoryTokenCache returns an empty in-process cache.
func NewMemoryTokenCache() *MemoryTokenCache {
	return &MemoryTokenCache{m: make(map[string]apiMemEntry)}
}

// Get implements TokenCache.
func (m *MemoryTokenCache) Get(_ context.Context, key string) (string, bool, error) {
	m.mu.RLock()
	e, ok := m.m[key]
	m.mu.RUnlock()
	if !ok || !time.Now().Before(e.expires) {
		return "", false, nil
	}
	return e.token, true, nil
}

// Set implements TokenCache.
func (m *MemoryTokenCache) Set(_ context.Context, key, token string, ttl time.Duration) error {
	m.mu.Lock()
	m.m[key] = apiMemEntry{token: token, expires: time.Now().Add(ttl)}
	m.mu.Unlock()
	return nil
}

// Delete implements TokenCache.
func (m *MemoryTokenCache) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	delete(m.m, key)
	m.mu.Unlock()
	return nil
}

// Token kinds: each has its own secret and therefore its own token.
const (
	apiTokenApp     = "app"
	apiTokenContact = "contact"
	apiTokenOA      = "oa"
)

// tokenSource hands out one app's access token. Refreshes are single-flight
// per process: however many callers find the token missing or rejected at
// once, one gettoken call is made, and a caller whose rejected token has
// already been replaced in the shared cache (by this process or another
// instance) takes the replacement without fetching.
type tokenSource struct {
	c      *APIClient
	cache  TokenCache
	kind   string
	id     string // corpid or appid
	secret string
	base   string
	key    string

	mu        sync.Mutex
	flight    *tokenFlight
	local     string // last token fetched here; used only while the cache errors
	localExp  time.Time
	failErr   error // a configuration error remembered until failUntil
	failUntil time.Time
}

type tokenFlight struct {
	done  chan struct{}
	stale string
	token string
	err   error
}

func newTokenSource(c *APIClient, cache TokenCache, kind, id, secret, base string) *tokenSource {
	h := sha256.Sum256([]byte(base + "\x00" + secret))
	return &tokenSource{
		c: c, cache: cache, kind: kind, id: id, secret: secret, base: base,
		key: fmt.Sprintf("scrm:wecom:token:%s:%s:%s", kind, id, hex.EncodeToString(h[:6])),
	}
}

// rejects reports whether errcode means "this access token is no good".
// On the Official Account, 40001 also means an invalid or superseded token.
func (s *tokenSource) rejects(code int) bool {
	return code == 40014 || code == 42001 || (s.kind == apiTokenOA && code == 40001)
}

func (s *tokenSource) cooldown() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failErr != nil && time.Now().Before(s.failUntil) {
		return s.failErr
	}
	return nil
}

// token returns a usable token, fetching one if the cache has none.
func (s *tokenSource) token(ctx context.Context) (string, error) {
	if err := s.cooldown(); err != nil {
		return "", err
	}
	tok, ok, err := s.cache.Get(ctx, s.key)
	switch {
	case err != nil:
		// A cache outage must delay nothing: fall back to the token this
		// process fetched last, or fetch one.
		s.c.log.Warn("wecom token cache get failed", "app", s.kind, "err", err)
		s.mu.Lock()
		local, exp := s.local, s.localExp
		s.mu.Unlock()
		if local != "" && time.Now().Before(exp) {
			return local, nil
		}
	case ok:
		return tok, nil
	}
	return s.refresh(ctx, "")
}

// invalidate replaces a token the platform rejected. It returns the new
// token; callers retry their request once with it.
func (s *tokenSource) invalidate(ctx context.Context, stale string) error {
	_, err := s.refresh(ctx, stale)
	return err
}

// refresh joins the refresh in flight or starts one. stale is the token the
// caller saw rejected ("" when the cache was empty).
func (s *tokenSource) refresh(ctx context.Context, stale string) (string, error) {
	for range 2 {
		s.mu.Lock()
		f := s.flight
		if f == nil {
			f = &tokenFlight{done: make(chan struct{}), stale: stale}
			s.flight = f
			// The fetch outlives any one caller's cancellation: other callers
			// are waiting on it. It is still bounded by HTTPTimeout.
			go s.run(context.WithoutCancel(ctx), f, stale)
		}
		s.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return "", fmt.Errorf("wecom: waiting for %s access token: %w", s.kind, ctx.Err())
		}
		if f.err != nil {
			return "", f.err
		}
		// A flight that began before our token was rejected may hand back
		// that very token from the cache; then run one for our stale token.
		// (A flight for our own stale token may return it too: WeCom's
		// gettoken answers the same token while it considers it valid.)
		if stale == "" || f.stale == stale || f.token != stale {
			return f.token, nil
		}
	}
	return "", fmt.Errorf("wecom: %s access token: refresh returned the rejected token: %w", s.kind, ErrAPITokenInvalid)
}

func (s *tokenSource) run(ctx context.Context, f *tokenFlight, stale string) {
	f.token, f.err = s.fetchIfStale(ctx, stale)
	s.mu.Lock()
	s.flight = nil
	if f.err != nil && errors.Is(f.err, ErrAPIConfig) {
		s.failErr, s.failUntil = f.err, time.Now().Add(s.c.cfg.ConfigErrorCooldown)
	}
	s.mu.Unlock()
	close(f.done)
}

// fetchIfStale re-reads the shared cache first: another caller or instance
// may have replaced the stale token already, and then no fetch is needed.
func (s *tokenSource) fetchIfStale(ctx context.Context, stale string) (string, error) {
	tok, ok, err := s.cache.Get(ctx, s.key)
	if err != nil {
		s.c.log.Warn("wecom token cache get failed", "app", s.kind, "err", err)
	} else if ok && tok != stale {
		return tok, nil
	} else if ok && stale != "" {
		// Drop the rejected token so no instance keeps using it if the fetch
		// below fails.
		if err := s.cache.Delete(ctx, s.key); err != nil {
			s.c.log.Warn("wecom token cache delete failed", "app", s.kind, "err", err)
		}
	}
	tok, ttl, err := s.fetch(ctx)
	if err != nil {
		return "", err
	}
	if err := s.cache.Set(ctx, s.key, tok, ttl); err != nil {
		s.c.log.Warn("wecom token cache set failed", "app", s.kind, "err", err)
	}
	s.mu.Lock()
	s.local, s.localExp = tok, time.Now().Add(ttl)
	s.mu.Unlock()
	return tok, nil
}

type apiTokenAnswer struct {
	apiStatus
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// fetch calls gettoken (WeCom) or token (OA) once.
func (s *tokenSource) fetch(ctx context.Context) (string, time.Duration, error) {
	var api string
	q := url.Values{}
	if s.kind == apiTokenOA {
		api = "token"
		q.Set("grant_type", "client_credential")
		q.Set("appid", s.id)
		q.Set("secret", s.secret)
	} else {
		api = "gettoken"
		q.Set("corpid", s.id)
		q.Set("corpsecret", s.secret)
	}
	raw, err := s.c.doHTTP(ctx, api, "GET", s.base+"/cgi-bin/"+api+"?"+q.Encode(), nil, 0)
	if err != nil {
		return "", 0, err
	}
	var a apiTokenAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return "", 0, fmt.Errorf("wecom: %s: decode answer: %w", api, err)
	}
	if a.ErrCode != 0 {
		return "", 0, s.c.noteAPIError(&APIError{Code: a.ErrCode, Msg: a.ErrMsg, API: api})
	}
	if a.AccessToken == "" {
		return "", 0, fmt.Errorf("wecom: %s: answer without access_token", api)
	}
	return a.AccessToken, apiTokenTTL(a.ExpiresIn), nil
}

// apiTokenTTL keeps a token for its lifetime minus five minutes, so a token
// is never used in its last moments when clocks disagree.
func apiTokenTTL(expiresIn int) time.Duration {
	if expiresIn <= 0 {
		expiresIn = 7200
	}
	d := time.Duration(expiresIn) * time.Second
	if d > 10*time.Minute {
		return d - 5*time.Minute
	}
	return d / 2
}

// Apps whose access token CheckToken fetches.
const (
	AppWeCom = "wecom" // the self-built app (SCRM_WECOM_SECRET)
	AppOA    = "oa"    // the Official Account (SCRM_OA_APP_SECRET)
)

// ErrNotConfigured is returned by CheckToken for an app without a secret.
var ErrNotConfigured = errors.New("wecom: app not configured")

// CheckToken reports whether app (AppWeCom or AppOA) has a usable access
// token now: the shared cache's, or one fetched from the platform. It is
// the set-up check an admin runs; a rejected secret comes back as the
// *APIError of gettoken, with its configuration hint.
func (c *APIClient) CheckToken(ctx context.Context, app string) error {
	src := c.appTokens
	if app == AppOA {
		src = c.oaTokens
	}
	if src == nil {
		return ErrNotConfigured
	}
	_, err := src.token(ctx)
	return err
}

// UntrustedIP returns when the platform last refused a call because this
// server's IP is not on the app's trusted IP list (WeCom 60020, the Official
// Account's 40164), and the platform's message then, which names the IP it
// saw. Zero when it has not happened since this process started.
func (c *APIClient) UntrustedIP() (time.Time, string) {
	c.untrustedMu.Lock()
	defer c.untrustedMu.Unlock()
	return c.untrustedAt, c.untrustedMsg
}

// noteAPIError remembers a refusal for the caller's IP and returns e.
func (c *APIClient) noteAPIError(e *APIError) *APIError {
	if e.Code == 60020 || e.Code == 40164 {
		c.untrustedMu.Lock()
		c.untrustedAt, c.untrustedMsg = time.Now(), e.Msg
		c.untrustedMu.Unlock()
	}
	return e
}
