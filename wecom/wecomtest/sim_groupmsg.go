package wecomtest

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// Mass messages (群发) in the simulated corp: add_msg_template creates a
// task per sender that reaches nobody until the sender confirms
// (ConfirmGroupMsg, the simulated WeCom app's 发送 button); each customer,
// and each customer group, receives at most as many company mass messages
// a month as the month has days (SetGroupMsgMonthlyCap overrides it), the
// rest get status 3; and the results APIs (docs/wecom-protocol.md section
// 6). A group message (chat_type group) is sent by the groups' owner: the
// listed groups the sender does not own, or that are dismissed, come back
// in fail_list, and a group dismissed before the owner sends gets status 2
// (both guessed). Codes the documents do not give are assumptions: 40058
// for bad parameters, an unknown msgid or a range over a month; 41048 when
// no customer (or group) can receive it; 45009 past three reminders a day.

// MaxGroupMsgCustomers is the simulator's (and, unconfirmed, WeCom's)
// limit of external_userid per add_msg_template.
const MaxGroupMsgCustomers = 10000

// MaxGroupMsgGroups is the simulator's (and, unconfirmed, WeCom's) limit
// of chat_id_list per add_msg_template.
const MaxGroupMsgGroups = 2000

// SimGroupMsg is a mass message as the simulator keeps it.
type SimGroupMsg struct {
	MsgID       string
	Creator     string // the sender
	ChatType    string
	Text        string
	Attachments []json.RawMessage
	CreateTime  time.Time
	Sent        bool // the sender confirmed
	SendTime    time.Time
	Cancelled   bool
	Recipients  []SimGroupMsgRecipient
	Reminders   []time.Time
}

// RecipientIDs are the message's customers' external_userids, or its
// groups' chat IDs, sorted.
func (m SimGroupMsg) RecipientIDs() []string {
	ids := make([]string, 0, len(m.Recipients))
	for _, r := range m.Recipients {
		ids = append(ids, r.ExternalUserID+r.ChatID)
	}
	slices.Sort(ids)
	return ids
}

// SimGroupMsgRecipient is one customer (or group) of a mass message.
type SimGroupMsgRecipient struct {
	ExternalUserID string
	ChatID         string
	Status         int // 0 not sent, 1 sent, 2 not a contact, 3 over the monthly cap
}

type simGroupMsgs struct {
	msgs      map[string]*SimGroupMsg
	order     []string
	received  map[string]int // external_userid|YYYY-MM → mass messages received
	cap       int            // 0: the month's days
	dropAfter map[string]int // api → answers computed, then the connection dropped
	seq       int
}

func (g *simGroupMsgs) init() {
	if g.msgs == nil {
		g.msgs, g.received, g.dropAfter = map[string]*SimGroupMsg{}, map[string]int{}, map[string]int{}
	}
}

// SetGroupMsgMonthlyCap sets how many mass messages a customer receives a
// month (an admin's setting); 0 restores WeCom's default, the month's days.
func (s *Simulator) SetGroupMsgMonthlyCap(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gm.init()
	s.gm.cap = n
}

// DropAfterCall makes the next times calls to api take effect and then
// lose their answer (the connection closes): the caller cannot tell the
// call succeeded.
func (s *Simulator) DropAfterCall(api string, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gm.init()
	s.gm.dropAfter[api] += times
}

func (s *Simulator) takeDropAfter(api string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gm.init()
	if s.gm.dropAfter[api] > 0 {
		s.gm.dropAfter[api]--
		return true
	}
	return false
}

// GroupMsgs returns every mass message created, oldest first.
func (s *Simulator) GroupMsgs() []SimGroupMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gm.init()
	out := make([]SimGroupMsg, 0, len(s.gm.order))
	for _, id := range s.gm.order {
		m := *s.gm.msgs[id]
		m.Recipients = slices.Clone(m.Recipients)
		out = append(out, m)
	}
	return out
}

// GroupMsgDelivered counts the recipients, customers and groups, that
// the mass messages reached (status 1): what a campaign report's
// delivered count must match.
func (s *Simulator) GroupMsgDelivered() int {
	n := 0
	for _, m := range s.GroupMsgs() {
		for _, r := range m.Recipients {
			if r.Status == 1 {
				n++
			}
		}
	}
	return n
}

// ConfirmGroupMsg is the sender pressing 发送 in WeCom: every recipient
// still reachable by the sender (a contact of theirs, or a group they own
// that still exists) and under the monthly cap receives it. It reports
// false for an unknown, cancelled or already sent message.
func (s *Simulator) ConfirmGroupMsg(msgID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gm.init()
	m := s.gm.msgs[msgID]
	if m == nil || m.Cancelled || m.Sent {
		return false
	}
	now := s.now()
	m.Sent, m.SendTime = true, now
	limit := s.gm.cap
	if limit <= 0 {
		limit = time.Date(now.Year(), now.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
	}
	month := now.Format("2006-01")
	for i := range m.Recipients {
		r := &m.Recipients[i]
		key := r.ExternalUserID + r.ChatID + "|" + month
		switch {
		case !s.reachable(*r, m.Creator):
			r.Status = 2
		case s.gm.received[key] >= limit:
			r.Status = 3
		default:
			r.Status = 1
			s.gm.received[key]++
		}
	}
	return true
}

// reachable reports whether sender can send to r: a customer who is their
// contact, or a group they own that is not dismissed.
func (s *Simulator) reachable(r SimGroupMsgRecipient, sender string) bool {
	if r.ChatID == "" {
		return s.isContactOf(r.ExternalUserID, sender)
	}
	g := s.chats.byID[r.ChatID]
	return g != nil && !g.Dismissed && g.Owner == sender
}

func (s *Simulator) isContactOf(ext, userID string) bool {
	c := s.contacts[ext]
	if c == nil {
		return false
	}
	for _, f := range c.Follow {
		if f.UserID == userID {
			return true
		}
	}
	return false
}

func (s *Simulator) dispatchGroupMsg(api string, body []byte) (simAnswer, bool) {
	s.gm.init()
	switch api {
	case "externalcontact/add_msg_template":
		return s.addMsgTemplate(body), true
	case "externalcontact/get_groupmsg_list_v2":
		return s.groupMsgList(body), true
	case "externalcontact/get_groupmsg_task":
		return s.groupMsgTask(body), true
	case "externalcontact/get_groupmsg_send_result":
		return s.groupMsgSendResult(body), true
	case "externalcontact/remind_groupmsg_send":
		return s.groupMsgRemind(body), true
	case "externalcontact/cancel_groupmsg_send":
		return s.groupMsgCancel(body), true
	}
	return nil, false
}

func (s *Simulator) addMsgTemplate(body []byte) simAnswer {
	var b struct {
		ChatType       string                   `json:"chat_type"`
		ExternalUserID []string                 `json:"external_userid"`
		ChatIDList     []string                 `json:"chat_id_list"`
		Sender         string                   `json:"sender"`
		Text           struct{ Content string } `json:"text"`
		Attachments    []json.RawMessage        `json:"attachments"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	if b.ChatType == "" {
		b.ChatType = "single"
	}
	if (b.ChatType != "single" && b.ChatType != "group") || len(b.Attachments) > 9 || b.Text.Content == "" && len(b.Attachments) == 0 ||
		len(b.ExternalUserID) > MaxGroupMsgCustomers || len(b.ChatIDList) > MaxGroupMsgGroups || len([]byte(b.Text.Content)) > 4000 ||
		b.ChatType == "group" && b.Sender == "" {
		return errAnswer(40058, simErrMsg(40058))
	}
	if b.Sender == "" {
		// scrm always names the sender; WeCom would fan out to each
		// customer's last contact, which the simulator does not play.
		return errAnswer(40058, simErrMsg(40058))
	}
	if _, ok := s.staff[b.Sender]; !ok {
		return errAnswer(60111, simErrMsg(60111))
	}
	m := &SimGroupMsg{Creator: b.Sender, ChatType: b.ChatType, Text: b.Text.Content, Attachments: b.Attachments, CreateTime: s.now()}
	fail := []string{}
	seen := map[string]bool{}
	listed := b.ExternalUserID
	if b.ChatType == "group" {
		// scrm always names the groups; WeCom would let the owner pick
		// among theirs, which the simulator does not play.
		if len(b.ChatIDList) == 0 {
			return errAnswer(40058, simErrMsg(40058))
		}
		listed = b.ChatIDList
	}
	for _, id := range listed {
		if seen[id] {
			continue
		}
		seen[id] = true
		r := SimGroupMsgRecipient{ExternalUserID: id}
		if b.ChatType == "group" {
			r = SimGroupMsgRecipient{ChatID: id}
		}
		if !s.reachable(r, b.Sender) {
			fail = append(fail, id)
			continue
		}
		m.Recipients = append(m.Recipients, r)
	}
	if len(m.Recipients) == 0 {
		return errAnswer(41048, "no available customer")
	}
	s.gm.seq++
	m.MsgID = "msg" + strconv.Itoa(s.gm.seq) + randHex(4)
	s.gm.msgs[m.MsgID] = m
	s.gm.order = append(s.gm.order, m.MsgID)
	ans := okAnswer()
	ans["msgid"], ans["fail_list"] = m.MsgID, fail
	return ans
}

type groupMsgQuery struct {
	ChatType   string `json:"chat_type"`
	StartTime  int64  `json:"start_time"`
	EndTime    int64  `json:"end_time"`
	Creator    string `json:"creator"`
	FilterType *int   `json:"filter_type"`
	MsgID      string `json:"msgid"`
	UserID     string `json:"userid"`
	Limit      int    `json:"limit"`
	Cursor     string `json:"cursor"`
}

func pageOf(cursor string, limit, most, n int) (from, to int, next string) {
	from, _ = strconv.Atoi(cursor)
	if limit <= 0 || limit > most {
		limit = most
	}
	from = min(max(from, 0), n)
	to = min(from+limit, n)
	if to < n {
		next = strconv.Itoa(to)
	}
	return from, to, next
}

func (s *Simulator) groupMsgList(body []byte) simAnswer {
	var q groupMsgQuery
	if err := json.Unmarshal(body, &q); err != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	if q.StartTime <= 0 || q.EndTime < q.StartTime || q.EndTime-q.StartTime > 31*86400 {
		return errAnswer(40058, simErrMsg(40058))
	}
	var hits []simAnswer
	for _, id := range s.gm.order {
		m := s.gm.msgs[id]
		t := m.CreateTime.Unix()
		if t < q.StartTime || t > q.EndTime || q.Creator != "" && m.Creator != q.Creator || q.ChatType != "" && q.ChatType != m.ChatType {
			continue
		}
		hits = append(hits, simAnswer{"msgid": m.MsgID, "creator": m.Creator, "create_type": 0, "create_time": strconv.FormatInt(t, 10),
			"text": simAnswer{"content": m.Text}, "attachments": m.Attachments})
	}
	from, to, next := pageOf(q.Cursor, q.Limit, 100, len(hits))
	ans := okAnswer()
	ans["group_msg_list"], ans["next_cursor"] = append([]simAnswer{}, hits[from:to]...), next
	return ans
}

// groupMsgOf reads a query about one mass message and finds it; a bad
// body or an unknown msgid is the answer to give instead.
func (s *Simulator) groupMsgOf(body []byte) (groupMsgQuery, *SimGroupMsg, simAnswer) {
	var q groupMsgQuery
	if err := json.Unmarshal(body, &q); err != nil {
		return q, nil, errAnswer(47001, simErrMsg(47001))
	}
	m := s.gm.msgs[q.MsgID]
	if m == nil {
		return q, nil, errAnswer(40058, simErrMsg(40058))
	}
	return q, m, nil
}

func (s *Simulator) groupMsgTask(body []byte) simAnswer {
	_, m, bad := s.groupMsgOf(body)
	if bad != nil {
		return bad
	}
	task := simAnswer{"userid": m.Creator, "status": 0}
	if m.Sent {
		task["status"], task["send_time"] = 2, m.SendTime.Unix()
	}
	ans := okAnswer()
	ans["task_list"], ans["next_cursor"] = []simAnswer{task}, ""
	return ans
}

func (s *Simulator) groupMsgSendResult(body []byte) simAnswer {
	q, m, bad := s.groupMsgOf(body)
	if bad != nil {
		return bad
	}
	if q.UserID == "" {
		return errAnswer(40058, simErrMsg(40058))
	}
	var list []simAnswer
	if q.UserID == m.Creator {
		for _, r := range m.Recipients {
			e := simAnswer{"userid": m.Creator, "status": r.Status}
			if r.ChatID != "" {
				e["chat_id"] = r.ChatID
			} else {
				e["external_userid"] = r.ExternalUserID
			}
			if r.Status == 1 {
				e["send_time"] = m.SendTime.Unix()
			}
			list = append(list, e)
		}
	}
	from, to, next := pageOf(q.Cursor, q.Limit, 1000, len(list))
	ans := okAnswer()
	ans["send_list"], ans["next_cursor"] = append([]simAnswer{}, list[from:to]...), next
	return ans
}

func (s *Simulator) groupMsgRemind(body []byte) simAnswer {
	_, m, bad := s.groupMsgOf(body)
	if bad != nil {
		return bad
	}
	if m.Cancelled {
		return errAnswer(40058, simErrMsg(40058))
	}
	now := s.now()
	recent := 0
	for _, t := range m.Reminders {
		if now.Sub(t) < 24*time.Hour {
			recent++
		}
	}
	if recent >= 3 {
		return errAnswer(45009, simErrMsg(45009))
	}
	m.Reminders = append(m.Reminders, now)
	return okAnswer()
}

func (s *Simulator) groupMsgCancel(body []byte) simAnswer {
	_, m, bad := s.groupMsgOf(body)
	if bad != nil {
		return bad
	}
	m.Cancelled = true
	return okAnswer()
}
