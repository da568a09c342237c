package wecomtest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/scrmhq/scrm/wecom"
)

// Customer handover (在职继承 / 离职继承) in the simulated corp.
//
// transfer_customer (and resigned/transfer_customer) records a waiting
// handover per accepted customer, due for takeover 24 hours later;
// transfer_result reports the records of one handover/takeover pair. WeCom
// settles a handover by itself (the customer accepts by not refusing within
// 24 hours, or refuses); tests do that with SettleHandover or
// SettleDueHandovers, which move the follow in the contact state and return
// the callbacks WeCom would then send, for Driver.SendHandoverCallbacks.

// simHandovers is the handover state of a Simulator.
type simHandovers struct {
	records  []*Handover
	resigned map[string]bool // members who left the company
}

// Handover is one customer's handover as the simulated corp records it.
type Handover struct {
	ExternalUserID string
	HandoverUserID string
	TakeoverUserID string
	Resigned       bool // 离职继承
	SuccessMsg     string
	// Status is wecom.HandoverWaiting until settled, then HandoverDone,
	// HandoverRefused or HandoverLimit.
	Status    int
	StartedAt time.Time
	// TakeoverTime is when the customer was (or, waiting, will be) taken
	// over; zero after a refusal or the limit, which transfer_result
	// reports as 0.
	TakeoverTime time.Time
}

// HandoverSettlement is a settled handover and the callbacks WeCom sends
// about it.
type HandoverSettlement struct {
	Handover
	Callbacks []Msg
}

// The handover APIs take the 客户联系 secret's token or the app's (when the
// app is listed under 可调用接口的应用). They are registered here rather than
// in sim.go's table so the handover simulation stays in one file.
func init() {
	for _, api := range []string{
		"externalcontact/transfer_customer", "externalcontact/transfer_result",
		"externalcontact/resigned/transfer_customer", "externalcontact/resigned/transfer_result",
	} {
		simAPIKinds[api] = []string{SecretContact, SecretApp}
	}
}

// simHandoverPage is transfer_result's page size (WeCom: at most 1,000).
const simHandoverPage = 1000

// simHandoverDelay is how long WeCom waits for a refusal before it takes a
// customer over by itself.
const simHandoverDelay = 24 * time.Hour

// ResignStaff marks a member as having left the company: their customers
// can then only be handed over with resigned/transfer_customer, and they can
// no longer take any over.
func (s *Simulator) ResignStaff(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handover.resigned == nil {
		s.handover.resigned = map[string]bool{}
	}
	s.handover.resigned[userID] = true
}

// Handovers returns every handover the corp recorded, oldest first.
func (s *Simulator) Handovers() []Handover {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Handover, 0, len(s.handover.records))
	for _, h := range s.handover.records {
		out = append(out, *h)
	}
	return out
}

// PendingHandovers returns the handovers still waiting for takeover.
func (s *Simulator) PendingHandovers() []Handover {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Handover
	for _, h := range s.handover.records {
		if h.Status == wecom.HandoverWaiting {
			out = append(out, *h)
		}
	}
	return out
}

// SettleHandover ends the waiting handover of a customer with status:
// wecom.HandoverDone takes the customer over (the handover member's follow
// is replaced by the takeover member's, keeping remark, description and
// tags), wecom.HandoverRefused and wecom.HandoverLimit leave the contact as
// it is. It returns an error when the customer has no waiting handover.
func (s *Simulator) SettleHandover(externalUserID string, status int) (HandoverSettlement, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.handover.records {
		if h.ExternalUserID == externalUserID && h.Status == wecom.HandoverWaiting {
			return s.settleLocked(h, status)
		}
	}
	return HandoverSettlement{}, fmt.Errorf("wecomtest: no waiting handover of %s", externalUserID)
}

// SettleDueHandovers completes every waiting handover whose 24 hours have
// passed on the simulator's clock, as WeCom does when a customer does not
// refuse, oldest first.
func (s *Simulator) SettleDueHandovers() []HandoverSettlement {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []HandoverSettlement
	now := s.now()
	for _, h := range s.handover.records {
		if h.Status == wecom.HandoverWaiting && !now.Before(h.TakeoverTime) {
			st, err := s.settleLocked(h, wecom.HandoverDone)
			if err == nil {
				out = append(out, st)
			}
		}
	}
	return out
}

func (s *Simulator) settleLocked(h *Handover, status int) (HandoverSettlement, error) {
	at := s.now()
	switch status {
	case wecom.HandoverDone:
		h.Status, h.TakeoverTime = status, at
		return HandoverSettlement{Handover: *h, Callbacks: s.takeOverLocked(h, at)}, nil
	case wecom.HandoverRefused, wecom.HandoverLimit:
		h.Status, h.TakeoverTime = status, time.Time{}
		reason := "customer_refused"
		if status == wecom.HandoverLimit {
			reason = "customer_limit_exceed"
		}
		// The callback names the takeover member, not the handover member
		// (a WeCom staff answer in the developer community).
		cb := ContactEvent("transfer_fail", h.TakeoverUserID, h.ExternalUserID, at, map[string]string{"FailReason": reason})
		return HandoverSettlement{Handover: *h, Callbacks: []Msg{cb}}, nil
	}
	return HandoverSettlement{}, fmt.Errorf("wecomtest: cannot settle a handover with status %d", status)
}

// takeOverLocked moves the follow and returns the callbacks: the handover
// member's follow is deleted with Source DELETE_BY_TRANSFER, and the
// takeover member gets add_external_contact unless they already had the
// customer (WeCom's documented exception).
func (s *Simulator) takeOverLocked(h *Handover, at time.Time) []Msg {
	c := s.contacts[h.ExternalUserID]
	if c == nil {
		return nil
	}
	i := slices.IndexFunc(c.Follow, func(f Follow) bool { return f.UserID == h.HandoverUserID })
	had := slices.ContainsFunc(c.Follow, func(f Follow) bool { return f.UserID == h.TakeoverUserID })
	var out []Msg
	if i >= 0 {
		old := c.Follow[i]
		c.Follow = slices.Delete(c.Follow, i, i+1)
		out = append(out, ContactEvent("del_external_contact", h.HandoverUserID, h.ExternalUserID, at,
			map[string]string{"Source": "DELETE_BY_TRANSFER"}))
		if !had {
			c.Follow = append(c.Follow, Follow{UserID: h.TakeoverUserID, Remark: old.Remark, Description: old.Description,
				TagIDs: slices.Clone(old.TagIDs), CreateTime: at, AddWay: 202}) // 202: 管理员/负责人分配
		}
	}
	if !had {
		out = append(out, ContactEvent("add_external_contact", h.TakeoverUserID, h.ExternalUserID, at, nil))
	}
	return out
}

// SendHandoverCallbacks delivers the callbacks of a settled handover in
// order.
func (d *Driver) SendHandoverCallbacks(ctx context.Context, st HandoverSettlement) error {
	for _, m := range st.Callbacks {
		if _, err := d.SendWeCom(ctx, m); err != nil {
			return fmt.Errorf("wecomtest: handover callback %s: %w", m.Field("ChangeType"), err)
		}
	}
	return nil
}

// ---- the API (runs with s.mu held, see dispatch) ----

type simHandoverReq struct {
	HandoverUserID string   `json:"handover_userid"`
	TakeoverUserID string   `json:"takeover_userid"`
	ExternalUserID []string `json:"external_userid"`
	SuccessMsg     string   `json:"transfer_success_msg"`
	Cursor         string   `json:"cursor"`
}

func handoverResigned(api string) bool {
	return api == "externalcontact/resigned/transfer_customer" || api == "externalcontact/resigned/transfer_result"
}

// activeStaff reports whether a member exists and has not left.
func (s *Simulator) activeStaff(userID string) bool {
	_, ok := s.staff[userID]
	return ok && !s.handover.resigned[userID]
}

func (s *Simulator) handoverStart(api string, body []byte) simAnswer {
	var req simHandoverReq
	if json.Unmarshal(body, &req) != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	resigned := handoverResigned(api)
	switch {
	case req.HandoverUserID == "" || req.TakeoverUserID == "",
		len(req.ExternalUserID) == 0 || len(req.ExternalUserID) > wecom.MaxHandoverCustomers,
		!resigned && utf8.RuneCountInString(req.SuccessMsg) > wecom.MaxHandoverMsgRunes:
		return errAnswer(40058, simErrMsg(40058))
	case !s.activeStaff(req.TakeoverUserID):
		return errAnswer(60111, simErrMsg(60111))
	case !resigned && !s.activeStaff(req.HandoverUserID):
		// A member who left is no longer in the directory for on-job calls.
		return errAnswer(60111, simErrMsg(60111))
	}
	now := s.now()
	results := []simAnswer{}
	for _, ext := range req.ExternalUserID {
		code := s.handoverCheck(resigned, req, ext, now)
		results = append(results, simAnswer{"external_userid": ext, "errcode": code})
		if code != 0 {
			continue
		}
		h := &Handover{ExternalUserID: ext, HandoverUserID: req.HandoverUserID, TakeoverUserID: req.TakeoverUserID,
			Resigned: resigned, Status: wecom.HandoverWaiting, StartedAt: now, TakeoverTime: now.Add(simHandoverDelay)}
		if !resigned {
			h.SuccessMsg = req.SuccessMsg
		}
		s.handover.records = append(s.handover.records, h)
	}
	ans := okAnswer()
	ans["customer"] = results
	return ans
}

// handoverCheck returns WeCom's per-customer error code for handing ext
// over (0: accepted).
func (s *Simulator) handoverCheck(resigned bool, req simHandoverReq, ext string, now time.Time) int {
	c := s.contacts[ext]
	switch {
	case c == nil:
		return wecom.HandoverErrInvalidContact
	case req.HandoverUserID == req.TakeoverUserID:
		return wecom.HandoverErrSameMember
	case !slices.ContainsFunc(c.Follow, func(f Follow) bool { return f.UserID == req.HandoverUserID }):
		return wecom.HandoverErrNotFollower
	case resigned && !s.handover.resigned[req.HandoverUserID]:
		return wecom.HandoverErrNotResigned
	}
	recent := 0
	for _, h := range s.handover.records {
		if h.ExternalUserID != ext {
			continue
		}
		if h.Status == wecom.HandoverWaiting {
			return wecom.HandoverErrInProgress
		}
		if !h.Resigned && !resigned && now.Sub(h.StartedAt) < 90*24*time.Hour {
			recent++
		}
	}
	if recent >= 2 {
		return wecom.HandoverErrTooFrequent // an on-job customer: twice per 90 days
	}
	return 0
}

func (s *Simulator) handoverResult(api string, body []byte) simAnswer {
	var req simHandoverReq
	if json.Unmarshal(body, &req) != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	if req.HandoverUserID == "" || req.TakeoverUserID == "" {
		return errAnswer(40058, simErrMsg(40058))
	}
	resigned := handoverResigned(api)
	var match []*Handover
	for _, h := range s.handover.records {
		if h.Resigned == resigned && h.HandoverUserID == req.HandoverUserID && h.TakeoverUserID == req.TakeoverUserID {
			match = append(match, h)
		}
	}
	start := 0
	if req.Cursor != "" {
		n, err := strconv.Atoi(req.Cursor)
		if err != nil || n < 0 || n > len(match) {
			return errAnswer(40058, simErrMsg(40058))
		}
		start = n
	}
	end := min(start+simHandoverPage, len(match))
	list := []simAnswer{}
	for _, h := range match[start:end] {
		var at int64
		if !h.TakeoverTime.IsZero() {
			at = h.TakeoverTime.Unix()
		}
		list = append(list, simAnswer{"external_userid": h.ExternalUserID, "status": h.Status, "takeover_time": at})
	}
	next := ""
	if end < len(match) {
		next = strconv.Itoa(end)
	}
	ans := okAnswer()
	ans["customer"], ans["next_cursor"] = list, next
	return ans
}
