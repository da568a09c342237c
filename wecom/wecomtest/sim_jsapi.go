package wecomtest

import (
	"net/http"
	"time"

	"github.com/scrmhq/scrm/wecom"
)

// JS-SDK tickets (protocol doc, section 6): get_jsapi_ticket (the corp's)
// and ticket/get?type=agent_config (the app's), both with the app's token.
// Each ticket lives 7,200 s. WeCom allows 400 fetches an hour per corp and
// 100 per app; the simulator counts both kinds against the app's 100 and
// the corp tickets against the corp's 400, over a rolling hour, and answers
// 45009 above (a call with a bad token is refused before it counts). A
// fetch issues a new ticket; earlier ones stay valid until they expire
// (unconfirmed on WeCom; the client never relies on either).

// Ticket limits per rolling hour.
const (
	SimTicketsPerApp  = 100
	SimTicketsPerCorp = 400
	simTicketTTL      = 7200 * time.Second
)

type simTicket struct {
	kind    string // wecom.TicketCorp or wecom.TicketAgent
	expires time.Time
	revoked bool
}

type simTickets struct {
	ttl     time.Duration // 0: simTicketTTL
	issued  map[string]*simTicket
	appLog  []time.Time // both kinds
	corpLog []time.Time // corp tickets
	fetches map[string]int
	maxHour int // the most fetches within any rolling hour seen
}

func (s *Simulator) ticketFetch(r *http.Request, kind string) simAnswer {
	if kind == wecom.TicketAgent && r.URL.Query().Get("type") != "agent_config" {
		return errAnswer(40058, simErrMsg(40058))
	}
	t := &s.tickets
	if t.issued == nil {
		t.issued, t.fetches = map[string]*simTicket{}, map[string]int{}
	}
	now := s.now()
	t.appLog = pruneHour(t.appLog, now)
	t.corpLog = pruneHour(t.corpLog, now)
	if len(t.appLog) >= SimTicketsPerApp || (kind == wecom.TicketCorp && len(t.corpLog) >= SimTicketsPerCorp) {
		return errAnswer(45009, simErrMsg(45009))
	}
	t.appLog = append(t.appLog, now)
	if kind == wecom.TicketCorp {
		t.corpLog = append(t.corpLog, now)
	}
	t.maxHour = max(t.maxHour, len(t.appLog))
	t.fetches[kind]++
	ttl := simTicketTTL
	if t.ttl > 0 {
		ttl = t.ttl
	}
	tk := "simticket_" + kind + "_" + randHex(20)
	t.issued[tk] = &simTicket{kind: kind, expires: now.Add(ttl)}
	return simAnswer{"errcode": 0, "errmsg": "ok", "ticket": tk, "expires_in": int(ttl / time.Second)}
}

func pruneHour(log []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(log) && !log[i].After(now.Add(-time.Hour)) {
		i++
	}
	return log[i:]
}

// SetTicketTTL makes tickets issued from now on live d (whole seconds, as
// expires_in) instead of 7,200 s, so a test sees one expire.
func (s *Simulator) SetTicketTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tickets.ttl = d
}

// TicketFetches counts successful fetches of a ticket kind
// (wecom.TicketCorp, wecom.TicketAgent).
func (s *Simulator) TicketFetches(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tickets.fetches[kind]
}

// MaxTicketFetchesPerHour is the most ticket fetches (both kinds) the app
// made within any rolling hour so far.
func (s *Simulator) MaxTicketFetchesPerHour() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tickets.maxHour
}

// ExpireTickets invalidates every issued ticket, as WeCom may before their
// time: signatures made with them no longer verify.
func (s *Simulator) ExpireTickets() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tickets.issued {
		t.revoked = true
	}
}

// VerifyJSSignature reports whether sig is a valid signature of pageURL
// with a live ticket of kind, as the WeCom client checks ww.register's
// signatures: the simulated JS-SDK of the demo and the browser tests uses
// it.
func (s *Simulator) VerifyJSSignature(kind, pageURL, nonce string, timestamp int64, sig string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for tk, t := range s.tickets.issued {
		if t.kind != kind || t.revoked || !now.Before(t.expires) {
			continue
		}
		if wecom.SignJSAPI(tk, nonce, timestamp, pageURL) == sig {
			return true
		}
	}
	return false
}
