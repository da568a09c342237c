package wecomtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/scrmhq/scrm/wecom"
)

// Credentials of the simulated corp and Official Account. They are public
// test values: the demo and tests use them so that nothing needs configuring.
const (
	SimCorpID        = "wwsimulatedcorp0001"
	SimAgentID       = "1000002"
	SimAppSecret     = "sim-app-secret-0000000000000000000000000"
	SimContactSecret = "sim-contact-secret-000000000000000000000"
	SimToken         = "simwecomtoken"
	SimAESKey        = "bVyyOVQnHHmmSaDDkLU6CYwu5QOLZOtSz7GYN3Jf98k"
	SimOAAppID       = "wxsimulatedoa0001"
	SimOAAppSecret   = "sim-oa-secret-000000000000000000"
	SimOAToken       = "simoatoken"
	SimOAAESKey      = "wK1UzTXwg/GnhCb+SbxgOjll2k6PL5Vii0o1epagMao"
	SimOAOriginalID  = "gh_simulated0001"
)

// Secret kinds, for GetTokenCalls and SetSecretInvalid.
const (
	SecretApp     = "app"
	SecretContact = "contact"
	SecretOA      = "oa"
)

// Channels of a SentMessage.
const (
	SentWeComApp = "wecom_app" // message/send to a staff member
	SentKF       = "kf"        // kf/send_msg to a 微信客服 customer
	SentOA       = "oa"        // OA message/custom/send to a follower
)

// SimConfig configures a Simulator. Zero fields take the Sim* constants.
type SimConfig struct {
	CorpID, AgentID, AppSecret, ContactSecret string
	OAAppID, OAAppSecret                      string
	// Now is the simulator's clock (token expiry, send limits, service
	// windows, kf's 3-day horizon). Default time.Now.
	Now func() time.Time
	// MemberPerMinute and MemberPerHour are message/send's per member limits
	// (default 30 and 1000). Like WeCom, the simulator drops the excess
	// silently and records it in Dropped.
	MemberPerMinute, MemberPerHour int
	Logger                         *slog.Logger
}

// Simulator is one stateful WeCom corp with a self-built app and a 客户联系
// secret, 微信客服 accounts, and one Official Account, served over HTTP. Both
// WeCom (SCRM_WECOM_API_BASE) and the OA (SCRM_OA_API_BASE) can point at
// URL. It is safe for concurrent use.
type Simulator struct {
	// URL is the base URL once the simulator listens ("" for an unstarted one).
	URL string

	cfg SimConfig
	log *slog.Logger
	srv *http.Server
	ln  net.Listener

	archiveOnce sync.Once
	archive     *ChatArchive // the corp's 会话内容存档

	mu sync.Mutex
	// tokens
	tokens        map[string]*simToken
	current       map[string]string // kind → current token
	getTokenCalls map[string]int
	badSecret     map[string]bool
	// faults
	faults   map[string][]int // api → queue of errcodes to answer
	freqTill map[string]time.Time
	latency  map[string]time.Duration
	outage   map[string]Outage // api → how it is down; "" for every API
	inflight map[string]int
	maxConc  map[string]int
	calls    map[string]int
	// corp data
	staff      map[string]*Staff
	staffOrder []string
	contacts   map[string]*Contact
	contOrder  []string
	groups     []*simTagGroup
	seq        int
	// message/send
	sent       []SentMessage
	dropped    []SentMessage
	suppressed int
	received   []SentMessage // every accepted message/send recipient, before the duplicate check (sim_received.go)
	memberLog  map[string][]time.Time
	dupSeen    map[string]time.Time
	onSent     func(SentMessage)
	// kf
	kfAccounts  map[string]*KFAccount
	kfMsgs      []*simKFMsg
	kfTokens    map[string]time.Time
	kfFreeCalls []time.Time
	kfEmpty     int
	kfWindows   map[string]*simWindow // open_kfid|external_userid
	// OA
	followers   map[string]*OAFollower
	followOrder []string
	oaWindows   map[string][]*simWindow
	chats       simChats // customer groups (sim_groups.go)

	// sign-in (sim_auth.go)
	signInAs string
	codes    map[string]simCode

	tickets   simTickets     // JS-SDK tickets (sim_jsapi.go)
	jssdk     simJSSDK       // the JS-SDK stand-in (sim_jssdk.go)
	handover  simHandovers   // customer handovers (sim_handover.go)
	directory simDirectory   // departments, leaders, member statuses (sim_directory.go)
	gm        simGroupMsgs   // mass messages (sim_groupmsg.go)
	acq       simAcquisition // contact ways, welcomes, media, join ways, OA QR codes (sim_channels.go)
}

type simToken struct {
	kind    string
	expires time.Time
	revoked bool
}

type simTagGroup struct {
	ID, Name string
	Created  time.Time
	Order    int
	Tags     []*simTag
}

type simTag struct {
	ID, Name string
	Created  time.Time
	Order    int
}

type simWindow struct {
	expires time.Time
	left    int
}

// Staff is a member of the simulated corp.
type Staff struct {
	UserID     string
	Name       string
	Department []int
	IsLeader   bool
}

// Contact is an external contact (customer) of the simulated corp.
type Contact struct {
	ExternalUserID string
	Name           string
	UnionID        string
	Type           int // 1 WeChat user (default), 2 WeCom user
	Gender         int
	CorpName       string
	Follow         []Follow
}

// Follow is a staff member's relationship with a Contact.
type Follow struct {
	UserID      string
	Remark      string
	Description string
	State       string
	CreateTime  time.Time
	TagIDs      []string
	AddWay      int
}

// KFAccount is a 微信客服 account.
type KFAccount struct {
	OpenKfID string
	Name     string
}

// KFMessage is a message or event waiting in the kf queue for sync_msg.
type KFMessage struct {
	OpenKfID       string
	ExternalUserID string
	MsgType        string // default "text"; "event" for events
	Content        string // text content
	EventType      string // for events, e.g. "enter_session"
	Origin         int    // default 3 (customer), 4 for events
	SendTime       time.Time
	MsgID          string // generated when empty
}

type simKFMsg struct {
	KFMessage
}

// OAFollower is a follower of the simulated Official Account.
type OAFollower struct {
	OpenID        string
	UnionID       string
	Nickname      string
	SubscribeTime time.Time
	Unsubscribed  bool
}

// SentMessage is one message the simulator delivered (or dropped).
type SentMessage struct {
	Channel string // SentWeComApp, SentKF or SentOA
	To      string // staff UserID, kf external_userid or openid
	From    string // agentid, open_kfid or OA appid
	MsgType string
	Content string          // the readable text: text/markdown content, card title and description
	Raw     json.RawMessage // the message object as sent, e.g. {"content":"..."}
	MsgID   string
	At      time.Time
}

// NewUnstartedSimulator builds a simulator without a listener: serve
// Handler() yourself, or call Start.
func NewUnstartedSimulator(cfg SimConfig) *Simulator {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&cfg.CorpID, SimCorpID)
	def(&cfg.AgentID, SimAgentID)
	def(&cfg.AppSecret, SimAppSecret)
	def(&cfg.ContactSecret, SimContactSecret)
	def(&cfg.OAAppID, SimOAAppID)
	def(&cfg.OAAppSecret, SimOAAppSecret)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MemberPerMinute == 0 {
		cfg.MemberPerMinute = 30
	}
	if cfg.MemberPerHour == 0 {
		cfg.MemberPerHour = 1000
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Simulator{
		cfg: cfg, log: log,
		tokens: map[string]*simToken{}, current: map[string]string{}, getTokenCalls: map[string]int{},
		badSecret: map[string]bool{}, faults: map[string][]int{}, freqTill: map[string]time.Time{}, outage: map[string]Outage{},
		latency: map[string]time.Duration{}, inflight: map[string]int{}, maxConc: map[string]int{}, calls: map[string]int{},
		staff: map[string]*Staff{}, contacts: map[string]*Contact{},
		memberLog: map[string][]time.Time{}, dupSeen: map[string]time.Time{},
		kfAccounts: map[string]*KFAccount{}, kfTokens: map[string]time.Time{}, kfWindows: map[string]*simWindow{},
		followers: map[string]*OAFollower{}, oaWindows: map[string][]*simWindow{},
	}
}

// NewSimulator starts a simulator on a random local port, like
// httptest.NewServer, and panics if it cannot listen. Close it when done.
func NewSimulator(cfg SimConfig) *Simulator {
	s := NewUnstartedSimulator(cfg)
	if err := s.Start("127.0.0.1:0"); err != nil {
		panic(fmt.Sprintf("wecomtest: start simulator: %v", err))
	}
	return s
}

// Start serves the simulator on addr ("127.0.0.1:0" for a random port) and
// sets URL.
func (s *Simulator) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("wecomtest: listen %s: %w", addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.URL = "http://" + ln.Addr().String()
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("simulator stopped", "err", err)
		}
	}()
	return nil
}

// Close stops the listener, if any, and closes its connections at once (a
// graceful shutdown would wait up to 5 s for connections a client opened but
// never used).
func (s *Simulator) Close() error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

// APIConfig returns a client configuration that points both API bases at the
// simulator with its credentials. Call it after Start (it reads URL).
func (s *Simulator) APIConfig() wecom.APIConfig {
	return wecom.APIConfig{
		CorpID: s.cfg.CorpID, AgentID: s.cfg.AgentID, AppSecret: s.cfg.AppSecret, ContactSecret: s.cfg.ContactSecret,
		OAAppID: s.cfg.OAAppID, OAAppSecret: s.cfg.OAAppSecret, WeComBase: s.URL, OABase: s.URL,
	}
}

// SimDriverConfig returns a DriverConfig with the simulated corp's callback
// keys (SimToken, SimAESKey, ...) for a server configured with them, OA in
// safe mode, and sim (may be nil) to keep service windows in step.
func SimDriverConfig(wecomURL, oaURL string, sim *Simulator) DriverConfig {
	return DriverConfig{
		URL: wecomURL, OAURL: oaURL,
		Token: SimToken, AESKey: SimAESKey, CorpID: SimCorpID, AgentID: SimAgentID,
		OAAppID: SimOAAppID, OAToken: SimOAToken, OAAESKey: SimOAAESKey, OASafeMode: true, OAOriginalID: SimOAOriginalID,
		Simulator: sim,
	}
}

// Config returns the effective configuration (defaults filled in).
func (s *Simulator) Config() SimConfig { return s.cfg }

func (s *Simulator) now() time.Time { return s.cfg.Now() }

func (s *Simulator) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%06d", prefix, s.seq)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ---- fault injection ----

// Fail makes the next times calls to api answer errcode. api is the path
// under /cgi-bin/, e.g. "message/send", "gettoken", "token" (OA), "kf/sync_msg".
func (s *Simulator) Fail(api string, errcode, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range times {
		s.faults[api] = append(s.faults[api], errcode)
	}
}

// Busy makes the next times calls to api answer -1 (system busy).
func (s *Simulator) Busy(api string, times int) { s.Fail(api, -1, times) }

// FreqLimit makes api answer 45009 for d (on the simulator's clock).
func (s *Simulator) FreqLimit(api string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.freqTill[api] = s.now().Add(d)
}

// SetLatency delays every answer of api by d (0 removes it).
func (s *Simulator) SetLatency(api string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		delete(s.latency, api)
		return
	}
	s.latency[api] = d
}

// Outage is how an API is down for SetOutage.
type Outage int

// Kinds of outage.
const (
	OutageNone Outage = iota // the API answers
	Outage503                // HTTP 503 with no JSON body, as a failing gateway answers
	OutageDrop               // the connection is closed without an answer, as when refused or reset
)

// OAAPIs are the Official Account's APIs (api.weixin.qq.com, apart from
// WeCom's qyapi): SetOutage(Outage503, OAAPIs...) is a WeChat outage.
var OAAPIs = []string{"token", "user/info", "message/custom/send"}

// SetOutage makes apis (every API when none is named) fail with o until it
// is called again with OutageNone. Failed calls are counted by Calls.
func (s *Simulator) SetOutage(o Outage, apis ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(apis) == 0 {
		apis = []string{""}
	}
	for _, api := range apis {
		if o == OutageNone {
			delete(s.outage, api)
		} else {
			s.outage[api] = o
		}
	}
}

// ExpireTokens invalidates every issued access token: the next call with one
// answers 42001, and gettoken issues new tokens.
func (s *Simulator) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		t.revoked = true
	}
	s.current = map[string]string{}
}

// SetSecretInvalid makes gettoken reject a secret kind (SecretApp,
// SecretContact, SecretOA) with 40001, as after an admin reset the secret.
func (s *Simulator) SetSecretInvalid(kind string, invalid bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.badSecret[kind] = invalid
}

// GetTokenCalls counts gettoken (or OA token) calls made with a secret kind,
// including rejected ones.
func (s *Simulator) GetTokenCalls(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getTokenCalls[kind]
}

// Calls counts requests to api, including failed ones.
func (s *Simulator) Calls(api string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[api]
}

// MaxConcurrent reports the most requests to api that were in flight at once.
func (s *Simulator) MaxConcurrent(api string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxConc[api]
}

// ---- records ----

// Sent returns every delivered message, oldest first.
func (s *Simulator) Sent() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentMessage(nil), s.sent...)
}

// SentTo returns the messages delivered to one recipient (UserID,
// external_userid or openid), oldest first.
func (s *Simulator) SentTo(to string) []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SentMessage
	for _, m := range s.sent {
		if m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// Dropped returns messages WeCom would have silently dropped because a
// member's send limit was exceeded.
func (s *Simulator) Dropped() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentMessage(nil), s.dropped...)
}

// DuplicatesSuppressed counts recipients skipped by enable_duplicate_check.
func (s *Simulator) DuplicatesSuppressed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.suppressed
}

// OnSent registers a function called (outside the simulator's lock) for every
// delivered message; the demo uses it to show messages live. nil removes it.
func (s *Simulator) OnSent(fn func(SentMessage)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onSent = fn
}

// ---- seeding and inspection ----

// AddStaff adds or replaces a staff member.
func (s *Simulator) AddStaff(st Staff) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.staff[st.UserID]; !ok {
		s.staffOrder = append(s.staffOrder, st.UserID)
	}
	cp := st
	cp.Department = append([]int(nil), st.Department...)
	s.staff[st.UserID] = &cp
}

// StaffList returns the staff in the order they were added.
func (s *Simulator) StaffList() []Staff {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Staff, 0, len(s.staffOrder))
	for _, id := range s.staffOrder {
		out = append(out, *s.staff[id])
	}
	return out
}

// AddExternalContact adds or replaces a customer and their follow users.
func (s *Simulator) AddExternalContact(c Contact) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.contacts[c.ExternalUserID]; !ok {
		s.contOrder = append(s.contOrder, c.ExternalUserID)
	}
	cp := c
	if cp.Type == 0 {
		cp.Type = 1
	}
	cp.Follow = nil
	for _, f := range c.Follow {
		f.TagIDs = append([]string(nil), f.TagIDs...)
		if f.CreateTime.IsZero() {
			f.CreateTime = s.now()
		}
		cp.Follow = append(cp.Follow, f)
	}
	s.contacts[c.ExternalUserID] = &cp
}

// ExternalContact returns a copy of a customer.
func (s *Simulator) ExternalContact(externalUserID string) (Contact, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.contacts[externalUserID]
	if !ok {
		return Contact{}, false
	}
	cp := *c
	cp.Follow = nil
	for _, f := range c.Follow {
		f.TagIDs = append([]string(nil), f.TagIDs...)
		cp.Follow = append(cp.Follow, f)
	}
	return cp, true
}

// AddTag adds a corp tag, creating its group when needed, and returns both
// ids. Adding an existing tag returns the existing ids.
func (s *Simulator) AddTag(groupName, tagName string) (groupID, tagID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupByName(groupName)
	if g == nil {
		g = &simTagGroup{ID: s.nextID("etgrp"), Name: groupName, Created: s.now(), Order: len(s.groups)}
		s.groups = append(s.groups, g)
	}
	for _, t := range g.Tags {
		if t.Name == tagName {
			return g.ID, t.ID
		}
	}
	t := &simTag{ID: s.nextID("ettag"), Name: tagName, Created: s.now(), Order: len(g.Tags)}
	g.Tags = append(g.Tags, t)
	return g.ID, t.ID
}

// TagID returns the id of a tag by group and tag name.
func (s *Simulator) TagID(groupName, tagName string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.groupByName(groupName); g != nil {
		for _, t := range g.Tags {
			if t.Name == tagName {
				return t.ID, true
			}
		}
	}
	return "", false
}

func (s *Simulator) groupByName(name string) *simTagGroup {
	for _, g := range s.groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

func (s *Simulator) findTag(id string) (*simTagGroup, *simTag) {
	for _, g := range s.groups {
		for _, t := range g.Tags {
			if t.ID == id {
				return g, t
			}
		}
	}
	return nil, nil
}

// AddKFAccount adds a 微信客服 account.
func (s *Simulator) AddKFAccount(openKfID, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kfAccounts[openKfID] = &KFAccount{OpenKfID: openKfID, Name: name}
}

// AddKFMessage queues a customer message (or event) for kf/sync_msg, opens
// the customer's 48-hour / 5-message send window, and returns a fresh
// callback Token (valid 10 minutes) to pass to Driver.SendKFEvent. The kf
// account is created when unknown.
func (s *Simulator) AddKFMessage(m KFMessage) (token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.kfAccounts[m.OpenKfID]; !ok {
		s.kfAccounts[m.OpenKfID] = &KFAccount{OpenKfID: m.OpenKfID, Name: m.OpenKfID}
	}
	if m.MsgType == "" {
		m.MsgType = "text"
	}
	if m.Origin == 0 {
		m.Origin = 3
		if m.MsgType == "event" {
			m.Origin = 4
		}
	}
	if m.SendTime.IsZero() {
		m.SendTime = s.now()
	}
	if m.MsgID == "" {
		m.MsgID = s.nextID("kfmsg")
	}
	s.kfMsgs = append(s.kfMsgs, &simKFMsg{KFMessage: m})
	if m.Origin == 3 {
		s.kfWindows[m.OpenKfID+"|"+m.ExternalUserID] = &simWindow{expires: m.SendTime.Add(48 * time.Hour), left: 5}
	}
	return s.newKFTokenLocked()
}

// NewKFToken issues a sync_msg token valid for 10 minutes.
func (s *Simulator) NewKFToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newKFTokenLocked()
}

func (s *Simulator) newKFTokenLocked() string {
	t := "ENC" + randHex(16)
	s.kfTokens[t] = s.now().Add(10 * time.Minute)
	return t
}

// KFEmptyPages makes the next n sync_msg calls answer has_more=1 with an
// empty msg_list, which the real API does and clients must tolerate.
func (s *Simulator) KFEmptyPages(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kfEmpty += n
}

// AddOAFollower adds or replaces an Official Account follower.
func (s *Simulator) AddOAFollower(f OAFollower) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.followers[f.OpenID]; !ok {
		s.followOrder = append(s.followOrder, f.OpenID)
	}
	if f.SubscribeTime.IsZero() {
		f.SubscribeTime = s.now()
	}
	cp := f
	s.followers[f.OpenID] = &cp
}

// OAUserMessaged records that a follower wrote to the OA at t: the account
// may then send 5 customer-service messages within 48 hours. The Driver
// calls it for OA message callbacks when DriverConfig.Simulator is set.
func (s *Simulator) OAUserMessaged(openID string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureFollower(openID, t)
	s.oaWindows[openID] = append(s.pruneOAWindows(openID), &simWindow{expires: t.Add(48 * time.Hour), left: 5})
}

// OAUserInteracted records a menu click, follow or QR scan at t: 3 messages
// within one minute.
func (s *Simulator) OAUserInteracted(openID string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureFollower(openID, t)
	s.oaWindows[openID] = append(s.pruneOAWindows(openID), &simWindow{expires: t.Add(time.Minute), left: 3})
}

// OAUserUnsubscribed records an unfollow: no more customer-service messages.
func (s *Simulator) OAUserUnsubscribed(openID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.followers[openID]; ok {
		f.Unsubscribed = true
	}
	delete(s.oaWindows, openID)
}

func (s *Simulator) ensureFollower(openID string, t time.Time) {
	if f, ok := s.followers[openID]; ok {
		f.Unsubscribed = false
		return
	}
	s.followers[openID] = &OAFollower{OpenID: openID, SubscribeTime: t}
	s.followOrder = append(s.followOrder, openID)
}

func (s *Simulator) pruneOAWindows(openID string) []*simWindow {
	now := s.now()
	var keep []*simWindow
	for _, w := range s.oaWindows[openID] {
		if now.Before(w.expires) && w.left > 0 {
			keep = append(keep, w)
		}
	}
	return keep
}

// ---- HTTP ----

// Handler serves the simulated APIs under /cgi-bin/ (any prefix before
// /cgi-bin/ is ignored, so it can be mounted under a path).
func (s *Simulator) Handler() http.Handler {
	return http.HandlerFunc(s.serve)
}

type simAnswer map[string]any

func errAnswer(code int, msg string) simAnswer {
	return simAnswer{"errcode": code, "errmsg": msg}
}

func okAnswer() simAnswer { return simAnswer{"errcode": 0, "errmsg": "ok"} }

// concLimits are the community-reported concurrency limits (45033 above).
var concLimits = map[string]int{
	"externalcontact/mark_tag": 5,
	"externalcontact/remark":   5,
	"kf/sync_msg":              5,
}

func (s *Simulator) serve(w http.ResponseWriter, r *http.Request) {
	if s.serveSignInPage(w, r) { // the sign-in pages a browser visits (sim_auth.go)
		return
	}
	if s.serveJSSDK(w, r) { // the JS-SDK stand-in the sidebar page loads (sim_jssdk.go)
		return
	}
	if s.serveQRImage(w, r) { // the QR code images of contact and join ways (sim_channels.go)
		return
	}
	i := strings.Index(r.URL.Path, "/cgi-bin/")
	if i < 0 {
		http.NotFound(w, r)
		return
	}
	api := r.URL.Path[i+len("/cgi-bin/"):]

	s.mu.Lock()
	s.calls[api]++
	s.inflight[api]++
	if s.inflight[api] > s.maxConc[api] {
		s.maxConc[api] = s.inflight[api]
	}
	over := concLimits[api] > 0 && s.inflight[api] > concLimits[api]
	delay := s.latency[api]
	down, ok := s.outage[api]
	if !ok {
		down = s.outage[""]
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight[api]--
		s.mu.Unlock()
	}()

	switch down {
	case Outage503:
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	case OutageDrop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without an answer
	}
	if delay > 0 {
		// Like the platform, finish the call even when the caller gave up:
		// a timed-out send may still have been delivered.
		time.Sleep(delay)
	}
	var ans simAnswer
	var sent []SentMessage
	if over {
		ans = errAnswer(45033, "api concurrent out of limit")
	} else {
		ans, sent = s.dispatch(api, r)
	}
	if s.takeDropAfter(api) { // the call took effect; its answer is lost (sim_groupmsg.go)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK) // API errors are always 200 + errcode, as on the platform
	_ = json.NewEncoder(w).Encode(ans)
	if len(sent) > 0 {
		s.mu.Lock()
		fn := s.onSent
		s.mu.Unlock()
		if fn != nil {
			for _, m := range sent {
				fn(m)
			}
		}
	}
}

// dispatch runs one API call under the lock.
func (s *Simulator) dispatch(api string, r *http.Request) (simAnswer, []SentMessage) {
	var body []byte
	if r.Method == http.MethodPost {
		b, err := readBody(r)
		if err != nil {
			return errAnswer(44002, "empty post data"), nil
		}
		body = b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.faults[api]; len(q) > 0 {
		code := q[0]
		s.faults[api] = q[1:]
		return errAnswer(code, simErrMsg(code)), nil
	}
	if till, ok := s.freqTill[api]; ok {
		if s.now().Before(till) {
			return errAnswer(45009, simErrMsg(45009)), nil
		}
		delete(s.freqTill, api)
	}
	switch api {
	case "gettoken":
		return s.getToken(r), nil
	case "token":
		return s.oaToken(r), nil
	}
	kinds, ok := simAPIKinds[api]
	if !ok {
		return errAnswer(48001, "api unauthorized: not simulated"), nil
	}
	if ans := s.checkToken(r.URL.Query().Get("access_token"), kinds); ans != nil {
		return ans, nil
	}
	switch api {
	case "message/send":
		return s.messageSend(body)
	case "externalcontact/get":
		return s.contactGet(r), nil
	case "externalcontact/list":
		return s.contactList(r), nil
	case "externalcontact/batch/get_by_user":
		return s.contactBatch(body), nil
	case "externalcontact/get_corp_tag_list":
		return s.tagList(body), nil
	case "externalcontact/add_corp_tag":
		return s.tagAdd(body), nil
	case "externalcontact/del_corp_tag":
		return s.tagDel(body), nil
	case "externalcontact/mark_tag":
		return s.markTag(body), nil
	case "externalcontact/groupchat/get":
		return s.groupChatGet(body), nil
	case "externalcontact/groupchat/list":
		return s.groupChatList(body), nil
	case "kf/sync_msg":
		return s.kfSync(body), nil
	case "kf/send_msg":
		return s.kfSend(body)
	case "message/custom/send":
		return s.oaCustomSend(body)
	case "user/info":
		return s.oaUserInfo(r), nil
	case "externalcontact/transfer_customer", "externalcontact/resigned/transfer_customer":
		return s.handoverStart(api, body), nil
	case "externalcontact/transfer_result", "externalcontact/resigned/transfer_result":
		return s.handoverResult(api, body), nil
	case "department/list":
		return s.departmentList(r), nil
	case "user/list":
		return s.userList(r), nil
	case "auth/getuserinfo":
		return s.authGetUserInfo(r), nil
	case "get_jsapi_ticket":
		return s.ticketFetch(r, wecom.TicketCorp), nil
	case "ticket/get":
		return s.ticketFetch(r, wecom.TicketAgent), nil
	}
	if ans, ok := s.dispatchAcquisition(api, r, body); ok {
		return ans, nil
	}
	if ans, ok := s.dispatchGroupMsg(api, body); ok {
		return ans, nil
	}
	return errAnswer(48001, "api unauthorized: not simulated"), nil
}

// simAPIKinds lists which tokens each API accepts.
var simAPIKinds = map[string][]string{
	"message/send":                      {SecretApp},
	"externalcontact/get":               {SecretContact, SecretApp},
	"externalcontact/list":              {SecretContact, SecretApp},
	"externalcontact/batch/get_by_user": {SecretContact, SecretApp},
	"externalcontact/get_corp_tag_list": {SecretContact, SecretApp},
	"externalcontact/add_corp_tag":      {SecretContact, SecretApp},
	"externalcontact/del_corp_tag":      {SecretContact, SecretApp},
	"externalcontact/mark_tag":          {SecretContact, SecretApp},
	"externalcontact/groupchat/get":     {SecretContact, SecretApp},
	"externalcontact/groupchat/list":    {SecretContact, SecretApp},
	"kf/sync_msg":                       {SecretApp},
	"kf/send_msg":                       {SecretApp},
	"message/custom/send":               {SecretOA},
	"user/info":                         {SecretOA},
	"auth/getuserinfo":                  {SecretApp},
	"get_jsapi_ticket":                  {SecretApp},
	"ticket/get":                        {SecretApp},

	"externalcontact/add_contact_way":        {SecretContact, SecretApp},
	"externalcontact/get_contact_way":        {SecretContact, SecretApp},
	"externalcontact/update_contact_way":     {SecretContact, SecretApp},
	"externalcontact/del_contact_way":        {SecretContact, SecretApp},
	"externalcontact/send_welcome_msg":       {SecretContact, SecretApp},
	"externalcontact/groupchat/add_join_way": {SecretContact, SecretApp},
	"externalcontact/groupchat/get_join_way": {SecretContact, SecretApp},
	"externalcontact/groupchat/del_join_way": {SecretContact, SecretApp},
	"media/upload":                           {SecretContact, SecretApp},
	"qrcode/create":                          {SecretOA},

	"externalcontact/add_msg_template":         {SecretContact, SecretApp},
	"externalcontact/get_groupmsg_list_v2":     {SecretContact, SecretApp},
	"externalcontact/get_groupmsg_task":        {SecretContact, SecretApp},
	"externalcontact/get_groupmsg_send_result": {SecretContact, SecretApp},
	"externalcontact/remind_groupmsg_send":     {SecretContact, SecretApp},
	"externalcontact/cancel_groupmsg_send":     {SecretContact, SecretApp},
}

func simErrMsg(code int) string {
	switch code {
	case -1:
		return "system busy"
	case 0:
		return "ok"
	case 40001:
		return "invalid credential"
	case 40003:
		return "invalid openid"
	case 40004:
		return "invalid media type"
	case 40006:
		return "invalid file size"
	case 40007:
		return "invalid media_id"
	case 40013:
		return "invalid corpid"
	case 40014:
		return "invalid access_token"
	case 40029:
		return "invalid code"
	case 40056:
		return "invalid agentid"
	case 40058:
		return "invalid parameter"
	case 40068:
		return "invalid tagid"
	case 40071:
		return "UserTag Name Already Exist"
	case 41001:
		return "access_token missing"
	case 41051:
		return "welcome_code used or expired"
	case 41096:
		return "another app is sending a welcome with this code"
	case 44001:
		return "empty media data"
	case 40050:
		return "chatid not found"
	case 42001:
		return "access_token expired"
	case 45009:
		return "api freq out of limit"
	case 45015:
		return "response out of time limit or subscription is canceled"
	case 45033:
		return "api concurrent out of limit"
	case 45047:
		return "out of response count limit"
	case 47001:
		return "data format error"
	case 48002:
		return "api forbidden"
	case 60111:
		return "userid not found"
	case 81013:
		return "user & party & tag all invalid"
	case 84061:
		return "not external contact"
	case 95000:
		return "invalid open_kfid"
	case 95007:
		return "invalid msg token"
	case 95018:
		return "send msg not allowed: outside the 48h window or over 5 messages"
	}
	return "simulated error"
}

func (s *Simulator) issueToken(kind string, reuse bool) simAnswer {
	now := s.now()
	if reuse {
		// WeCom returns the same token while it is valid and extends it.
		if cur, ok := s.current[kind]; ok {
			if t := s.tokens[cur]; t != nil && !t.revoked && now.Before(t.expires) {
				t.expires = now.Add(7200 * time.Second)
				return simAnswer{"errcode": 0, "errmsg": "ok", "access_token": cur, "expires_in": 7200}
			}
		}
	} else if cur, ok := s.current[kind]; ok {
		// The OA issues a new token each time; the old one lives 5 more minutes.
		if t := s.tokens[cur]; t != nil && t.expires.After(now.Add(5*time.Minute)) {
			t.expires = now.Add(5 * time.Minute)
		}
	}
	tok := kind + "_" + randHex(24)
	s.tokens[tok] = &simToken{kind: kind, expires: now.Add(7200 * time.Second)}
	s.current[kind] = tok
	return simAnswer{"errcode": 0, "errmsg": "ok", "access_token": tok, "expires_in": 7200}
}

func (s *Simulator) getToken(r *http.Request) simAnswer {
	q := r.URL.Query()
	var kind string
	switch q.Get("corpsecret") {
	case s.cfg.AppSecret:
		kind = SecretApp
	case s.cfg.ContactSecret:
		kind = SecretContact
	}
	if kind != "" {
		s.getTokenCalls[kind]++
	} else {
		s.getTokenCalls["unknown"]++
	}
	if q.Get("corpid") != s.cfg.CorpID {
		return errAnswer(40013, "invalid corpid")
	}
	if kind == "" || s.badSecret[kind] {
		return errAnswer(40001, "invalid credential")
	}
	return s.issueToken(kind, true)
}

func (s *Simulator) oaToken(r *http.Request) simAnswer {
	q := r.URL.Query()
	s.getTokenCalls[SecretOA]++
	if q.Get("grant_type") != "client_credential" {
		return errAnswer(40002, "invalid grant_type")
	}
	if q.Get("appid") != s.cfg.OAAppID {
		return errAnswer(40013, "invalid appid")
	}
	if q.Get("secret") != s.cfg.OAAppSecret || s.badSecret[SecretOA] {
		return errAnswer(40001, "invalid credential, access_token is invalid or not latest")
	}
	return s.issueToken(SecretOA, false)
}

// checkToken answers nil when tok is valid for one of kinds.
func (s *Simulator) checkToken(tok string, kinds []string) simAnswer {
	oa := kinds[0] == SecretOA
	if tok == "" {
		return errAnswer(41001, simErrMsg(41001))
	}
	t, ok := s.tokens[tok]
	if !ok {
		if oa {
			return errAnswer(40001, "invalid credential, access_token is invalid or not latest")
		}
		return errAnswer(40014, simErrMsg(40014))
	}
	if t.revoked || !s.now().Before(t.expires) {
		return errAnswer(42001, simErrMsg(42001))
	}
	for _, k := range kinds {
		if t.kind == k {
			return nil
		}
	}
	if oa || t.kind == SecretOA {
		return errAnswer(40001, "invalid credential, access_token is invalid or not latest")
	}
	return errAnswer(48002, simErrMsg(48002))
}

func readBody(r *http.Request) ([]byte, error) {
	defer r.Body.Close()
	// media/upload takes files up to 20 MB (plus the form around them).
	return io.ReadAll(io.LimitReader(r.Body, 21<<20))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
