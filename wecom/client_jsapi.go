package wecom

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/silenceper/wechat/v2/credential"
)

// The JS-SDK (protocol doc, section 6): a page inside WeCom — the chat
// sidebar — calls ww.register with two signatures of its own URL, one made
// with the corp's jsapi_ticket and one with the app's agent_config ticket.
//
// silenceper/wechat/v2 has this (work/jsapi, credential.WorkJsTicket), but
// not in a form this client can use: it fetches through the package-global
// HTTP client against a hard-coded qyapi URL, locks per process only (every
// instance of a cluster would fetch on a miss, against a limit of 100 an
// hour), drops the errcode, and never replaces a ticket. So the fetching is
// done here, through the client's call machinery and the shared cache; the
// SDK's answer type (credential.ResTicket) decodes the answer.

// TicketCoordinator is what instances share to fetch the JS-SDK tickets
// sparingly: a lease, so one instance fetches while the others wait for the
// cache, and a counter, so the fetches of every instance together stay
// under WeCom's hourly limit. coord.Local and coord.Redis implement it; a
// TokenCache that does not gets an in-process one.
type TicketCoordinator interface {
	Acquire(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	Release(ctx context.Context, name, owner string) error
	Count(ctx context.Context, key string, window time.Duration) (int64, error)
}

// Ticket kinds.
const (
	TicketCorp  = "corp"  // get_jsapi_ticket: wx.config / the corp part of ww.register
	TicketAgent = "agent" // ticket/get?type=agent_config: wx.agentConfig / the agent part
)

// ticketBudget is how many ticket fetches (both kinds together) an app makes
// in a fixed clock hour. WeCom allows 100 in an hour per app (400 per corp);
// its hour is not known to be aligned with ours, and any rolling hour
// overlaps at most two fixed ones, so half of it keeps every rolling hour
// within 100 whatever the timing. A ticket lives 7,200 s: a healthy app
// needs one or two an hour.
const ticketBudget = 50

// Ticket timing.
const (
	ticketLease = 15 * time.Second // one instance's fetch; longer than HTTPTimeout's default
	ticketPoll  = 50 * time.Millisecond

	ticketWaitMax  = 20 * time.Second
	ticketCacheKey = "scrm:wecom:ticket:%s:%s:%s"
)

// ticketMinAge: a ticket younger than this is not dropped on a reported
// rejection (a variable for tests).
var ticketMinAge = time.Minute

// ErrTicketBudget: the app has spent this hour's ticket fetches; the
// signature endpoint answers 503 until the next hour or until another
// instance's fetch lands in the cache.
var ErrTicketBudget = fmt.Errorf("wecom: JS-SDK ticket fetch budget spent for this hour: %w", ErrAPIRateLimited)

// JSSignature is what a page needs for ww.register: both signatures of
// one URL with one timestamp and nonce.
type JSSignature struct {
	CorpID         string `json:"corp_id"`
	AgentID        string `json:"agent_id"`
	Timestamp      int64  `json:"timestamp"`
	NonceStr       string `json:"nonce_str"`
	Signature      string `json:"signature"`
	AgentSignature string `json:"agent_signature"`
}

// SignJSAPI is WeCom's JS-SDK signature (path/96909): the lowercase hex
// SHA-1 of "jsapi_ticket=T&noncestr=N&timestamp=S&url=U", U the page URL
// up to its '#', not escaped.
func SignJSAPI(ticket, nonce string, timestamp int64, pageURL string) string {
	if i := strings.IndexByte(pageURL, '#'); i >= 0 {
		pageURL = pageURL[:i]
	}
	h := sha1.Sum([]byte("jsapi_ticket=" + ticket + "&noncestr=" + nonce +
		"&timestamp=" + strconv.FormatInt(timestamp, 10) + "&url=" + pageURL))
	return hex.EncodeToString(h[:])
}

// JSSignature signs pageURL with both tickets, fetching them when the
// shared cache has none. refresh reports that WeCom rejected the last
// signature (the page's ww.register failed): the tickets are fetched again
// unless they are younger than a minute, so a page that keeps failing for
// another reason (a wrong trusted domain) cannot spend the hourly budget.
// Returns ErrAPINotConfigured without the app's credentials and
// ErrTicketBudget when the hour's fetches are spent.
func (c *APIClient) JSSignature(ctx context.Context, pageURL string, refresh bool) (*JSSignature, error) {
	if c.corpTickets == nil {
		return nil, fmt.Errorf("wecom: jsapi signature: %w", ErrAPINotConfigured)
	}
	if refresh {
		for _, ts := range []*ticketSource{c.corpTickets, c.agentTickets} {
			if err := ts.dropIfOld(ctx); err != nil {
				return nil, err
			}
		}
	}
	corp, err := c.corpTickets.ticket(ctx)
	if err != nil {
		return nil, err
	}
	agent, err := c.agentTickets.ticket(ctx)
	if err != nil {
		return nil, err
	}
	nonce := randomNonce()
	ts := c.clock.Now().Unix()
	return &JSSignature{
		CorpID: c.cfg.CorpID, AgentID: c.cfg.AgentID, Timestamp: ts, NonceStr: nonce,
		Signature:      SignJSAPI(corp, nonce, ts, pageURL),
		AgentSignature: SignJSAPI(agent, nonce, ts, pageURL),
	}, nil
}

const nonceAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = nonceAlphabet[int(b[i])%len(nonceAlphabet)]
	}
	return string(b)
}

// ticketSource hands out one kind of ticket: from the shared cache, else
// fetched by one instance under a lease while the others poll the cache.
type ticketSource struct {
	c      *APIClient
	cache  TokenCache
	coord  TicketCoordinator
	kind   string
	api    string
	query  url.Values
	key    string // cache key
	lease  string // lease name
	budget string // counter key, shared by both kinds of one app
	owner  string // this process, for the lease

	mu       sync.Mutex
	flight   *ticketFlight
	local    string // last ticket fetched here: used only while the cache errs
	localExp time.Time
}

type ticketFlight struct {
	done   chan struct{}
	ticket string
	err    error
}

func newTicketSources(c *APIClient, cache TokenCache) (corp, agent *ticketSource) {
	tc, ok := cache.(TicketCoordinator)
	if !ok {
		tc = newLocalTicketCoordinator()
	}
	scope := c.cfg.CorpID + ":" + c.cfg.AgentID
	h := c.appTokens.key[len(c.appTokens.key)-12:] // the secret's and base's hash, as for tokens
	owner := make([]byte, 8)
	_, _ = rand.Read(owner)
	mk := func(kind, api string, q url.Values) *ticketSource {
		return &ticketSource{
			c: c, cache: cache, coord: tc, kind: kind, api: api, query: q,
			key:    fmt.Sprintf(ticketCacheKey, kind, scope, h),
			lease:  "wecom:ticket:" + kind + ":" + scope,
			budget: "wecom:ticket:budget:" + scope,
			owner:  hex.EncodeToString(owner),
		}
	}
	return mk(TicketCorp, "get_jsapi_ticket", nil), mk(TicketAgent, "ticket/get", url.Values{"type": {"agent_config"}})
}

// cached reads the shared cache: the ticket and when it was fetched.
func (s *ticketSource) cached(ctx context.Context) (ticket string, fetched time.Time, ok bool, err error) {
	v, ok, err := s.cache.Get(ctx, s.key)
	if err != nil || !ok {
		return "", time.Time{}, false, err
	}
	at, t, found := strings.Cut(v, ":")
	n, perr := strconv.ParseInt(at, 10, 64)
	if !found || perr != nil || t == "" {
		return "", time.Time{}, false, nil
	}
	return t, time.Unix(0, n), true, nil
}

func (s *ticketSource) ticket(ctx context.Context) (string, error) {
	t, _, ok, err := s.cached(ctx)
	if err == nil && ok {
		return t, nil
	}
	if err != nil {
		s.c.log.Warn("wecom ticket cache get failed", "ticket", s.kind, "err", err)
		s.mu.Lock()
		local, exp := s.local, s.localExp
		s.mu.Unlock()
		if local != "" && time.Now().Before(exp) {
			return local, nil
		}
	}
	// One flight per process: the callers of this instance wait together.
	s.mu.Lock()
	f := s.flight
	if f == nil {
		f = &ticketFlight{done: make(chan struct{})}
		s.flight = f
		go func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ticketWaitMax)
			defer cancel()
			f.ticket, f.err = s.obtain(ctx)
			s.mu.Lock()
			s.flight = nil
			s.mu.Unlock()
			close(f.done)
		}()
	}
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.ticket, f.err
	case <-ctx.Done():
		return "", fmt.Errorf("wecom: waiting for the %s ticket: %w", s.kind, ctx.Err())
	}
}

// obtain takes the ticket from the cache as soon as it is there, or fetches
// it when this instance holds the lease.
func (s *ticketSource) obtain(ctx context.Context) (string, error) {
	for {
		t, _, ok, err := s.cached(ctx)
		if err == nil && ok {
			return t, nil
		}
		got, lerr := s.coord.Acquire(ctx, s.lease, s.owner, ticketLease)
		if lerr != nil {
			// Without the coordinator (Redis down) nothing can keep the
			// instances' fetches under the limit: wait rather than risk a
			// block of an hour.
			return "", fmt.Errorf("wecom: %s ticket lease: %w", s.kind, lerr)
		}
		if got {
			return s.fetchHeld(ctx)
		}
		if err := sleepCtx(ctx, ticketPoll); err != nil {
			return "", fmt.Errorf("wecom: waiting for another instance's %s ticket: %w", s.kind, err)
		}
	}
}

// fetchHeld fetches under the lease: cache re-read (the holder before may
// have just stored one), the hourly budget, then one call.
func (s *ticketSource) fetchHeld(ctx context.Context) (string, error) {
	defer func() {
		if err := s.coord.Release(context.WithoutCancel(ctx), s.lease, s.owner); err != nil {
			s.c.log.Warn("wecom ticket lease release failed", "ticket", s.kind, "err", err)
		}
	}()
	if t, _, ok, err := s.cached(ctx); err == nil && ok {
		return t, nil
	}
	n, err := s.coord.Count(ctx, s.budget+":"+strconv.FormatInt(s.c.clock.Now().Unix()/3600, 10), time.Hour+time.Minute)
	if err != nil {
		return "", fmt.Errorf("wecom: %s ticket budget: %w", s.kind, err)
	}
	if n > ticketBudget {
		return "", ErrTicketBudget
	}
	var ans credential.ResTicket
	if err := s.c.call(ctx, apiCall{api: s.api, method: "GET", tokens: s.c.appTokens, query: s.query, idempotent: true, once: true}, &ans); err != nil {
		return "", err
	}
	if ans.Ticket == "" {
		return "", fmt.Errorf("wecom: %s: answer without ticket", s.api)
	}
	ttl := apiTokenTTL(int(ans.ExpiresIn))
	now := time.Now()
	if err := s.cache.Set(ctx, s.key, strconv.FormatInt(now.UnixNano(), 10)+":"+ans.Ticket, ttl); err != nil {
		s.c.log.Warn("wecom ticket cache set failed", "ticket", s.kind, "err", err)
	}
	s.mu.Lock()
	s.local, s.localExp = ans.Ticket, now.Add(ttl)
	s.mu.Unlock()
	return ans.Ticket, nil
}

// dropIfOld deletes the cached ticket unless it is younger than
// ticketMinAge.
func (s *ticketSource) dropIfOld(ctx context.Context) error {
	_, at, ok, err := s.cached(ctx)
	if err != nil {
		return fmt.Errorf("wecom: %s ticket: %w", s.kind, err)
	}
	if !ok || time.Since(at) < ticketMinAge {
		return nil
	}
	s.mu.Lock()
	s.local = ""
	s.mu.Unlock()
	if err := s.cache.Delete(ctx, s.key); err != nil {
		return fmt.Errorf("wecom: %s ticket: %w", s.kind, err)
	}
	return nil
}

// localTicketCoordinator is the in-process TicketCoordinator for a
// TokenCache that is not a coordinator (a single process).
type localTicketCoordinator struct {
	mu     sync.Mutex
	leases map[string]localHeld
	counts map[string]localHeld
}

type localHeld struct {
	v   string
	n   int64
	exp time.Time
}

func newLocalTicketCoordinator() *localTicketCoordinator {
	return &localTicketCoordinator{leases: map[string]localHeld{}, counts: map[string]localHeld{}}
}

func (l *localTicketCoordinator) Acquire(_ context.Context, name, owner string, ttl time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.leases[name]; ok && h.v != owner && time.Now().Before(h.exp) {
		return false, nil
	}
	l.leases[name] = localHeld{v: owner, exp: time.Now().Add(ttl)}
	return true, nil
}

func (l *localTicketCoordinator) Release(_ context.Context, name, owner string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.leases[name]; ok && h.v == owner {
		delete(l.leases, name)
	}
	return nil
}

func (l *localTicketCoordinator) Count(_ context.Context, key string, window time.Duration) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.counts[key]
	if !ok || !time.Now().Before(h.exp) {
		h = localHeld{exp: time.Now().Add(window)}
	}
	h.n++
	l.counts[key] = h
	return h.n, nil
}
