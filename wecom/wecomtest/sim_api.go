package wecomtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Every method here runs with s.mu held (see dispatch).

// ---- message/send ----

type simSendReq struct {
	ToUser                 string          `json:"touser"`
	ToParty                string          `json:"toparty"`
	ToTag                  string          `json:"totag"`
	MsgType                string          `json:"msgtype"`
	AgentID                json.RawMessage `json:"agentid"`
	EnableDuplicateCheck   int             `json:"enable_duplicate_check"`
	DuplicateCheckInterval int             `json:"duplicate_check_interval"`
}

var simMsgTypes = map[string]bool{
	"text": true, "image": true, "voice": true, "video": true, "file": true, "textcard": true, "news": true,
	"mpnews": true, "markdown": true, "miniprogram_notice": true, "template_card": true,
}

// parseAgentID accepts agentid as a JSON string (the SDK sends that) or a
// number (the documented type).
func parseAgentID(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return strings.TrimSpace(s), true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return "", false
	}
	return n.String(), true
}

func (s *Simulator) messageSend(body []byte) (simAnswer, []SentMessage) {
	var req simSendReq
	var all map[string]json.RawMessage
	if json.Unmarshal(body, &req) != nil || json.Unmarshal(body, &all) != nil {
		return errAnswer(47001, simErrMsg(47001)), nil
	}
	agent, ok := parseAgentID(req.AgentID)
	if !ok {
		return errAnswer(41011, "missing agentid"), nil
	}
	if agent != s.cfg.AgentID {
		return errAnswer(40056, simErrMsg(40056)), nil
	}
	if !simMsgTypes[req.MsgType] {
		return errAnswer(40008, "invalid message type"), nil
	}
	obj, ok := all[req.MsgType]
	if !ok {
		return errAnswer(47001, simErrMsg(47001)), nil
	}
	var compact bytes.Buffer
	if json.Compact(&compact, obj) != nil {
		return errAnswer(47001, simErrMsg(47001)), nil
	}
	content := simContent(req.MsgType, obj)

	var recipients, invalidUser, invalidParty, invalidTag []string
	seen := map[string]bool{}
	add := func(u string) {
		if !seen[u] {
			seen[u] = true
			recipients = append(recipients, u)
		}
	}
	for _, u := range splitBar(req.ToUser) {
		switch {
		case u == "@all":
			for _, id := range s.staffOrder {
				add(id)
			}
		case s.staff[u] != nil:
			add(u)
		default:
			invalidUser = append(invalidUser, strings.ToLower(u))
		}
	}
	for _, p := range splitBar(req.ToParty) {
		dept, err := strconv.Atoi(p)
		found := false
		for _, id := range s.staffOrder {
			if err == nil && slices.Contains(s.staff[id].Department, dept) {
				found = true
				add(id)
			}
		}
		if !found {
			invalidParty = append(invalidParty, p)
		}
	}
	invalidTag = append(invalidTag, splitBar(req.ToTag)...) // member tags are not simulated
	ans := simAnswer{"invaliduser": strings.Join(invalidUser, "|"), "invalidparty": strings.Join(invalidParty, "|"),
		"invalidtag": strings.Join(invalidTag, "|"), "unlicenseduser": ""}
	if len(recipients) == 0 {
		ans["errcode"], ans["errmsg"] = 81013, simErrMsg(81013)
		return ans, nil
	}

	now := s.now()
	interval := time.Duration(req.DuplicateCheckInterval) * time.Second
	if interval <= 0 {
		interval = 1800 * time.Second
	}
	interval = min(interval, 4*time.Hour)
	msgID := "simmsg_" + randHex(8)
	var delivered []SentMessage
	for _, u := range recipients {
		m := SentMessage{Channel: SentWeComApp, To: u, From: agent, MsgType: req.MsgType, Content: content,
			Raw: json.RawMessage(compact.String()), MsgID: msgID, At: now}
		s.received = append(s.received, m)
		key := u + "\x00" + req.MsgType + "\x00" + compact.String()
		if last, ok := s.dupSeen[key]; ok && req.EnableDuplicateCheck == 1 && now.Sub(last) < interval {
			s.suppressed++
			continue
		}
		s.dupSeen[key] = now
		if !s.memberAllows(u, now) {
			// WeCom drops the excess without telling the caller.
			s.dropped = append(s.dropped, m)
			continue
		}
		s.sent = append(s.sent, m)
		delivered = append(delivered, m)
	}
	ans["errcode"], ans["errmsg"], ans["msgid"] = 0, "ok", msgID
	if req.MsgType == "template_card" {
		ans["response_code"] = "simrc_" + randHex(8)
	}
	return ans, delivered
}

// memberAllows applies the per member limits and counts the send.
func (s *Simulator) memberAllows(u string, now time.Time) bool {
	log := s.memberLog[u]
	i := 0
	for i < len(log) && !log[i].After(now.Add(-time.Hour)) {
		i++
	}
	log = log[i:]
	inMinute := 0
	for _, t := range log {
		if t.After(now.Add(-time.Minute)) {
			inMinute++
		}
	}
	if inMinute >= s.cfg.MemberPerMinute || len(log) >= s.cfg.MemberPerHour {
		s.memberLog[u] = log
		return false
	}
	s.memberLog[u] = append(log, now)
	return true
}

// simContent extracts the text a person would read.
func simContent(msgType string, obj json.RawMessage) string {
	var m struct {
		Content     string `json:"content"`
		Title       string `json:"title"`
		Description string `json:"description"`
		MainTitle   struct {
			Title string `json:"title"`
			Desc  string `json:"desc"`
		} `json:"main_title"`
		SubTitleText string `json:"sub_title_text"`
		Horizontal   []struct {
			KeyName string `json:"keyname"`
			Value   string `json:"value"`
		} `json:"horizontal_content_list"`
		Articles []struct {
			Title string `json:"title"`
		} `json:"articles"`
	}
	_ = json.Unmarshal(obj, &m)
	var parts []string
	push := func(v string) {
		if v != "" {
			parts = append(parts, v)
		}
	}
	switch msgType {
	case "text", "markdown":
		return m.Content
	case "textcard":
		push(m.Title)
		push(m.Description)
	case "template_card":
		push(m.MainTitle.Title)
		push(m.MainTitle.Desc)
		push(m.SubTitleText)
		for _, h := range m.Horizontal {
			push(h.KeyName + ": " + h.Value)
		}
	case "news", "mpnews":
		for _, a := range m.Articles {
			push(a.Title)
		}
	}
	return strings.Join(parts, "\n")
}

func splitBar(s string) []string {
	var out []string
	for _, p := range strings.Split(s, "|") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ---- externalcontact ----

func (s *Simulator) tagJSON(ids []string) []simAnswer {
	out := []simAnswer{}
	for _, id := range ids {
		if g, t := s.findTag(id); t != nil {
			out = append(out, simAnswer{"group_name": g.Name, "tag_name": t.Name, "type": 1, "tag_id": t.ID})
		}
	}
	return out
}

func (s *Simulator) externalJSON(c *Contact) simAnswer {
	ec := simAnswer{"external_userid": c.ExternalUserID, "name": c.Name, "type": c.Type, "gender": c.Gender, "avatar": ""}
	if c.Type == 1 && c.UnionID != "" {
		ec["unionid"] = c.UnionID
	}
	if c.CorpName != "" {
		ec["corp_name"] = c.CorpName
	}
	return ec
}

const simFollowPage = 500

func (s *Simulator) contactGet(r *http.Request) simAnswer {
	q := r.URL.Query()
	c := s.contacts[q.Get("external_userid")]
	if c == nil || len(c.Follow) == 0 {
		return errAnswer(84061, simErrMsg(84061))
	}
	start := 0
	if cur := q.Get("cursor"); cur != "" {
		n, err := strconv.Atoi(cur)
		if err != nil || n < 0 || n > len(c.Follow) {
			return errAnswer(40058, simErrMsg(40058))
		}
		start = n
	}
	end := min(start+simFollowPage, len(c.Follow))
	follows := []simAnswer{}
	for _, f := range c.Follow[start:end] {
		follows = append(follows, simAnswer{
			"userid": f.UserID, "remark": f.Remark, "description": f.Description, "createtime": f.CreateTime.Unix(),
			"tags": s.tagJSON(f.TagIDs), "remark_mobiles": []string{}, "oper_userid": f.UserID, "add_way": f.AddWay,
			"state": f.State,
		})
	}
	next := ""
	if end < len(c.Follow) {
		next = strconv.Itoa(end)
	}
	ans := okAnswer()
	ans["external_contact"], ans["follow_user"], ans["next_cursor"] = s.externalJSON(c), follows, next
	return ans
}

func (s *Simulator) contactList(r *http.Request) simAnswer {
	u := r.URL.Query().Get("userid")
	if s.staff[u] == nil {
		return errAnswer(60111, simErrMsg(60111))
	}
	ids := []string{}
	for _, id := range s.contOrder {
		for _, f := range s.contacts[id].Follow {
			if f.UserID == u {
				ids = append(ids, id)
				break
			}
		}
	}
	if len(ids) == 0 {
		return errAnswer(84061, simErrMsg(84061))
	}
	ans := okAnswer()
	ans["external_userid"] = ids
	return ans
}

func (s *Simulator) contactBatch(body []byte) simAnswer {
	var req struct {
		UserIDList []string `json:"userid_list"`
		Cursor     string   `json:"cursor"`
		Limit      int      `json:"limit"`
	}
	if json.Unmarshal(body, &req) != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	if len(req.UserIDList) == 0 || len(req.UserIDList) > 100 || req.Limit < 0 || req.Limit > 100 {
		return errAnswer(40058, simErrMsg(40058))
	}
	if req.Limit == 0 {
		req.Limit = 50
	}
	type pair struct {
		c *Contact
		f Follow
	}
	var pairs []pair
	for _, u := range req.UserIDList {
		for _, id := range s.contOrder {
			c := s.contacts[id]
			for _, f := range c.Follow {
				if f.UserID == u {
					pairs = append(pairs, pair{c, f})
				}
			}
		}
	}
	start := 0
	if req.Cursor != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(req.Cursor, "bc"))
		if err != nil || n < 0 || n > len(pairs) {
			return errAnswer(40058, simErrMsg(40058))
		}
		start = n
	}
	end := min(start+req.Limit, len(pairs))
	list := []simAnswer{}
	for _, p := range pairs[start:end] {
		tags := []string{}
		for _, id := range p.f.TagIDs {
			if _, t := s.findTag(id); t != nil {
				tags = append(tags, id)
			}
		}
		list = append(list, simAnswer{
			"external_contact": s.externalJSON(p.c),
			"follow_info": simAnswer{"userid": p.f.UserID, "remark": p.f.Remark, "description": p.f.Description,
				"createtime": p.f.CreateTime.Unix(), "tag_id": tags, "remark_mobiles": []string{},
				"oper_userid": p.f.UserID, "add_way": p.f.AddWay, "state": p.f.State},
		})
	}
	next := ""
	if end < len(pairs) {
		next = "bc" + strconv.Itoa(end)
	}
	ans := okAnswer()
	ans["external_contact_list"], ans["next_cursor"] = list, next
	return ans
}

func groupJSON(g *simTagGroup, tags []*simTag) simAnswer {
	ts := []simAnswer{}
	for _, t := range tags {
		ts = append(ts, simAnswer{"id": t.ID, "name": t.Name, "create_time": t.Created.Unix(), "order": t.Order})
	}
	return simAnswer{"group_id": g.ID, "group_name": g.Name, "create_time": g.Created.Unix(), "order": g.Order, "tag": ts}
}

type simTagFilter struct {
	TagID   []string `json:"tag_id"`
	GroupID []string `json:"group_id"`
}

func (s *Simulator) tagList(body []byte) simAnswer {
	var req simTagFilter
	if len(bytes.TrimSpace(body)) > 0 && json.Unmarshal(body, &req) != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	groups := []simAnswer{}
	for _, g := range s.groups {
		switch {
		case len(req.GroupID) > 0:
			if slices.Contains(req.GroupID, g.ID) {
				groups = append(groups, groupJSON(g, g.Tags))
			}
		case len(req.TagID) > 0:
			var tags []*simTag
			for _, t := range g.Tags {
				if slices.Contains(req.TagID, t.ID) {
					tags = append(tags, t)
				}
			}
			if len(tags) > 0 {
				groups = append(groups, groupJSON(g, tags))
			}
		default:
			groups = append(groups, groupJSON(g, g.Tags))
		}
	}
	ans := okAnswer()
	ans["tag_group"] = groups
	return ans
}

func (s *Simulator) tagAdd(body []byte) simAnswer {
	var req struct {
		GroupID   string `json:"group_id"`
		GroupName string `json:"group_name"`
		Order     int    `json:"order"`
		Tag       []struct {
			Name  string `json:"name"`
			Order int    `json:"order"`
		} `json:"tag"`
	}
	if json.Unmarshal(body, &req) != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	if len(req.Tag) == 0 || (req.GroupID == "" && req.GroupName == "") {
		return errAnswer(40058, simErrMsg(40058))
	}
	var g *simTagGroup
	if req.GroupID != "" {
		for _, x := range s.groups {
			if x.ID == req.GroupID {
				g = x
			}
		}
		if g == nil {
			return errAnswer(40068, simErrMsg(40068))
		}
	} else {
		g = s.groupByName(req.GroupName)
	}
	names := map[string]bool{}
	for _, t := range req.Tag {
		if t.Name == "" || names[t.Name] {
			return errAnswer(40058, simErrMsg(40058))
		}
		names[t.Name] = true
		if g != nil {
			for _, have := range g.Tags {
				if have.Name == t.Name {
					return errAnswer(40071, simErrMsg(40071))
				}
			}
		}
	}
	now := s.now()
	if g == nil {
		g = &simTagGroup{ID: s.nextID("etgrp"), Name: req.GroupName, Created: now, Order: req.Order}
		s.groups = append(s.groups, g)
	}
	var created []*simTag
	for _, t := range req.Tag {
		nt := &simTag{ID: s.nextID("ettag"), Name: t.Name, Created: now, Order: t.Order}
		g.Tags = append(g.Tags, nt)
		created = append(created, nt)
	}
	ans := okAnswer()
	ans["tag_group"] = groupJSON(g, created)
	return ans
}

func (s *Simulator) tagDel(body []byte) simAnswer {
	var req simTagFilter
	if json.Unmarshal(body, &req) != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	if len(req.TagID) == 0 && len(req.GroupID) == 0 {
		return errAnswer(40058, simErrMsg(40058))
	}
	for _, id := range req.TagID {
		if _, t := s.findTag(id); t == nil {
			return errAnswer(40068, simErrMsg(40068))
		}
	}
	for _, id := range req.GroupID {
		if !slices.ContainsFunc(s.groups, func(g *simTagGroup) bool { return g.ID == id }) {
			return errAnswer(40068, simErrMsg(40068))
		}
	}
	var keep []*simTagGroup
	for _, g := range s.groups {
		if slices.Contains(req.GroupID, g.ID) {
			continue
		}
		g.Tags = slices.DeleteFunc(g.Tags, func(t *simTag) bool { return slices.Contains(req.TagID, t.ID) })
		if len(g.Tags) > 0 { // WeCom removes a group with its last tag
			keep = append(keep, g)
		}
	}
	s.groups = keep
	for _, c := range s.contacts {
		for i := range c.Follow {
			c.Follow[i].TagIDs = slices.DeleteFunc(c.Follow[i].TagIDs, func(id string) bool {
				_, t := s.findTag(id)
				return t == nil
			})
		}
	}
	return okAnswer()
}

func (s *Simulator) markTag(body []byte) simAnswer {
	var req struct {
		UserID         string   `json:"userid"`
		ExternalUserID string   `json:"external_userid"`
		AddTag         []string `json:"add_tag"`
		RemoveTag      []string `json:"remove_tag"`
	}
	if json.Unmarshal(body, &req) != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	if len(req.AddTag) == 0 && len(req.RemoveTag) == 0 {
		return errAnswer(40058, simErrMsg(40058))
	}
	c := s.contacts[req.ExternalUserID]
	fi := -1
	if c != nil {
		fi = slices.IndexFunc(c.Follow, func(f Follow) bool { return f.UserID == req.UserID })
	}
	if fi < 0 {
		return errAnswer(84061, simErrMsg(84061))
	}
	for _, id := range append(append([]string{}, req.AddTag...), req.RemoveTag...) {
		if _, t := s.findTag(id); t == nil {
			return errAnswer(40068, simErrMsg(40068))
		}
	}
	f := &c.Follow[fi]
	for _, id := range req.AddTag {
		if !slices.Contains(f.TagIDs, id) {
			f.TagIDs = append(f.TagIDs, id)
		}
	}
	f.TagIDs = slices.DeleteFunc(f.TagIDs, func(id string) bool { return slices.Contains(req.RemoveTag, id) })
	return okAnswer()
}

// ---- kf ----

func (s *Simulator) kfSync(body []byte) simAnswer {
	var req struct {
		Cursor   string `json:"cursor"`
		Token    string `json:"token"`
		Limit    int    `json:"limit"`
		OpenKfID string `json:"open_kfid"`
	}
	if json.Unmarshal(body, &req) != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	now := s.now()
	if req.Token != "" {
		exp, ok := s.kfTokens[req.Token]
		if !ok || !now.Before(exp) {
			return errAnswer(95007, simErrMsg(95007))
		}
	} else {
		// Without a callback token the API allows 10 calls a minute.
		calls := slices.DeleteFunc(s.kfFreeCalls, func(t time.Time) bool { return !t.After(now.Add(-time.Minute)) })
		if len(calls) >= 10 {
			s.kfFreeCalls = calls
			return errAnswer(45009, simErrMsg(45009))
		}
		s.kfFreeCalls = append(calls, now)
	}
	if req.OpenKfID != "" && s.kfAccounts[req.OpenKfID] == nil {
		return errAnswer(95000, simErrMsg(95000))
	}
	if req.Limit <= 0 || req.Limit > 1000 {
		req.Limit = 1000
	}
	start := 0
	if req.Cursor != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(req.Cursor, "kfc"))
		if err != nil || n < 0 || n > len(s.kfMsgs) {
			return errAnswer(40058, simErrMsg(40058))
		}
		start = n
	}
	ans := okAnswer()
	if s.kfEmpty > 0 {
		s.kfEmpty--
		ans["next_cursor"], ans["has_more"], ans["msg_list"] = "kfc"+strconv.Itoa(start), 1, []simAnswer{}
		return ans
	}
	horizon := now.Add(-72 * time.Hour)
	match := func(m *simKFMsg) bool {
		return !m.SendTime.Before(horizon) && (req.OpenKfID == "" || m.OpenKfID == req.OpenKfID)
	}
	list := []simAnswer{}
	pos := start
	for ; pos < len(s.kfMsgs) && len(list) < req.Limit; pos++ {
		if m := s.kfMsgs[pos]; match(m) {
			list = append(list, kfJSON(m))
		}
	}
	more := 0
	for _, m := range s.kfMsgs[pos:] {
		if match(m) {
			more = 1
			break
		}
	}
	ans["next_cursor"], ans["has_more"], ans["msg_list"] = "kfc"+strconv.Itoa(pos), more, list
	return ans
}

func kfJSON(m *simKFMsg) simAnswer {
	if m.MsgType == "event" {
		return simAnswer{"msgid": m.MsgID, "send_time": m.SendTime.Unix(), "origin": m.Origin, "msgtype": "event",
			"event": simAnswer{"event_type": m.EventType, "open_kfid": m.OpenKfID, "external_userid": m.ExternalUserID}}
	}
	j := simAnswer{"msgid": m.MsgID, "open_kfid": m.OpenKfID, "external_userid": m.ExternalUserID,
		"send_time": m.SendTime.Unix(), "origin": m.Origin, "msgtype": m.MsgType}
	if m.MsgType == "text" {
		j["text"] = simAnswer{"content": m.Content}
	}
	return j
}

func (s *Simulator) kfSend(body []byte) (simAnswer, []SentMessage) {
	var req struct {
		ToUser   string `json:"touser"`
		OpenKfID string `json:"open_kfid"`
		MsgID    string `json:"msgid"`
		MsgType  string `json:"msgtype"`
	}
	var all map[string]json.RawMessage
	if json.Unmarshal(body, &req) != nil || json.Unmarshal(body, &all) != nil {
		return errAnswer(47001, simErrMsg(47001)), nil
	}
	if s.kfAccounts[req.OpenKfID] == nil {
		return errAnswer(95000, simErrMsg(95000)), nil
	}
	obj, ok := all[req.MsgType]
	if req.MsgType == "" || !ok {
		return errAnswer(47001, simErrMsg(47001)), nil
	}
	w := s.kfWindows[req.OpenKfID+"|"+req.ToUser]
	now := s.now()
	if w == nil || !now.Before(w.expires) || w.left <= 0 {
		return errAnswer(95018, simErrMsg(95018)), nil
	}
	w.left--
	if req.MsgID == "" {
		req.MsgID = "simkf_" + randHex(8)
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, obj)
	m := SentMessage{Channel: SentKF, To: req.ToUser, From: req.OpenKfID, MsgType: req.MsgType,
		Content: simContent(req.MsgType, obj), Raw: json.RawMessage(compact.String()), MsgID: req.MsgID, At: now}
	s.sent = append(s.sent, m)
	ans := okAnswer()
	ans["msgid"] = req.MsgID
	return ans, []SentMessage{m}
}

// ---- Official Account ----

func (s *Simulator) oaCustomSend(body []byte) (simAnswer, []SentMessage) {
	var req struct {
		ToUser  string `json:"touser"`
		MsgType string `json:"msgtype"`
	}
	var all map[string]json.RawMessage
	if json.Unmarshal(body, &req) != nil || json.Unmarshal(body, &all) != nil {
		return errAnswer(47001, simErrMsg(47001)), nil
	}
	f := s.followers[req.ToUser]
	if f == nil {
		return errAnswer(40003, simErrMsg(40003)), nil
	}
	obj, ok := all[req.MsgType]
	if req.MsgType == "" || !ok {
		return errAnswer(47001, simErrMsg(47001)), nil
	}
	if f.Unsubscribed {
		return errAnswer(45015, simErrMsg(45015)), nil
	}
	now := s.now()
	var open []*simWindow
	for _, w := range s.oaWindows[req.ToUser] {
		if now.Before(w.expires) {
			open = append(open, w)
		}
	}
	s.oaWindows[req.ToUser] = open
	if len(open) == 0 {
		return errAnswer(45015, simErrMsg(45015)), nil
	}
	i := slices.IndexFunc(open, func(w *simWindow) bool { return w.left > 0 })
	if i < 0 {
		return errAnswer(45047, simErrMsg(45047)), nil
	}
	open[i].left--
	var compact bytes.Buffer
	_ = json.Compact(&compact, obj)
	m := SentMessage{Channel: SentOA, To: req.ToUser, From: s.cfg.OAAppID, MsgType: req.MsgType,
		Content: simContent(req.MsgType, obj), Raw: json.RawMessage(compact.String()), MsgID: "simoa_" + randHex(8), At: now}
	s.sent = append(s.sent, m)
	return okAnswer(), []SentMessage{m}
}

func (s *Simulator) oaUserInfo(r *http.Request) simAnswer {
	f := s.followers[r.URL.Query().Get("openid")]
	if f == nil {
		return errAnswer(40003, simErrMsg(40003))
	}
	ans := okAnswer()
	ans["openid"], ans["tagid_list"] = f.OpenID, []int{}
	if f.UnionID != "" {
		ans["unionid"] = f.UnionID
	}
	if f.Unsubscribed {
		ans["subscribe"] = 0
		return ans
	}
	ans["subscribe"], ans["nickname"], ans["language"], ans["headimgurl"] = 1, f.Nickname, "zh_CN", ""
	ans["subscribe_time"], ans["remark"], ans["groupid"] = f.SubscribeTime.Unix(), "", 0
	ans["subscribe_scene"], ans["qr_scene"], ans["qr_scene_str"] = "ADD_SCENE_QR_CODE", 0, ""
	return ans
}
