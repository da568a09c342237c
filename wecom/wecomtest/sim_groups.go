package wecomtest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Customer groups (客户群) of the simulated corp: stateful groups that tests
// change through the methods below, each of which returns the
// change_external_chat callback WeCom would send for the change, and the
// externalcontact/groupchat/get and /list APIs that read them.

// GroupChat is a customer group of the simulated corp.
type GroupChat struct {
	ChatID     string // generated ("wrsim…") when empty
	Name       string
	Owner      string // staff UserID; added as a member when missing
	Notice     string
	CreateTime time.Time // default: the simulator's now
	Members    []GroupMember
	Admins     []string // staff UserIDs of the group's admins
	Dismissed  bool
	Version    string // member_version: changes whenever the members do
}

// GroupMember is one member of a GroupChat.
type GroupMember struct {
	UserID string
	// Type is 1 for staff, 2 for an external contact. Zero means 1 for a
	// UserID the simulator knows as staff, else 2.
	Type      int
	JoinTime  time.Time // default: the simulator's now
	JoinScene int       // 1 invited (default), 2 invite link, 3 QR code
	Invitor   string    // staff UserID who invited them, if any
	Nickname  string    // group_nickname
	Name      string    // default: the staff member's or contact's name
	UnionID   string    // default: the contact's UnionID
}

// simChats holds the groups; its maps are made on first use, so the
// simulator's constructor needs no change for them.
type simChats struct {
	byID  map[string]*GroupChat
	order []string
	// largeRange makes groupchat/list refuse calls without an owner filter
	// (81017), as WeCom does with over 1,000 people in the app's range.
	largeRange bool
}

// SetLargeVisibleRange makes groupchat/list answer 81017 unless the call
// filters by owner, as WeCom does for a corp with more than 1,000 people in
// the app's visible range.
func (s *Simulator) SetLargeVisibleRange(large bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chats.largeRange = large
}

func (s *Simulator) chatLocked(chatID string) *GroupChat {
	g := s.chats.byID[chatID]
	if g == nil {
		panic("wecomtest: no customer group " + chatID)
	}
	return g
}

// fillMember completes a member from the simulator's staff and contacts.
func (s *Simulator) fillMember(m GroupMember) GroupMember {
	if m.Type == 0 {
		m.Type = 2
		if _, ok := s.staff[m.UserID]; ok {
			m.Type = 1
		}
	}
	if m.JoinTime.IsZero() {
		m.JoinTime = s.now()
	}
	if m.JoinScene == 0 {
		m.JoinScene = 1
	}
	if st, ok := s.staff[m.UserID]; ok && m.Name == "" {
		m.Name = st.Name
	}
	if c, ok := s.contacts[m.UserID]; ok {
		if m.Name == "" {
			m.Name = c.Name
		}
		if m.UnionID == "" {
			m.UnionID = c.UnionID
		}
	}
	return m
}

func copyChat(g *GroupChat) GroupChat {
	cp := *g
	cp.Members = slices.Clone(g.Members)
	cp.Admins = slices.Clone(g.Admins)
	return cp
}

// chatEvent renders the callback for a change of g at the simulator's now.
func (s *Simulator) chatEvent(changeType, chatID string, extra map[string]string) Msg {
	return ExternalChatEvent(changeType, chatID, s.now(), extra)
}

// memberChange adds to extra the fields of a member change: the count, the
// changed members (as <Item>s) and the member versions before and after.
func memberChange(extra map[string]string, ids []string, last, cur string) map[string]string {
	extra["MemChangeCnt"] = strconv.Itoa(len(ids))
	if len(ids) > 0 {
		extra["MemChangeList"] = strings.Join(ids, ",")
	}
	extra["LastMemVer"], extra["CurMemVer"] = last, cur
	return extra
}

// AddGroupChat creates a customer group and returns its chat id and the
// create event.
func (s *Simulator) AddGroupChat(g GroupChat) (string, Msg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chats.byID == nil {
		s.chats.byID = map[string]*GroupChat{}
	}
	cp := copyChat(&g)
	if cp.ChatID == "" {
		cp.ChatID = s.nextID("wrsim")
	}
	if _, ok := s.chats.byID[cp.ChatID]; ok {
		panic("wecomtest: customer group " + cp.ChatID + " exists")
	}
	if cp.CreateTime.IsZero() {
		cp.CreateTime = s.now()
	}
	if cp.Owner != "" && !slices.ContainsFunc(cp.Members, func(m GroupMember) bool { return m.UserID == cp.Owner }) {
		cp.Members = append([]GroupMember{{UserID: cp.Owner, JoinTime: cp.CreateTime}}, cp.Members...)
	}
	for i, m := range cp.Members {
		if m.JoinTime.IsZero() {
			m.JoinTime = cp.CreateTime
		}
		cp.Members[i] = s.fillMember(m)
	}
	cp.Version = randHex(16)
	s.chats.byID[cp.ChatID] = &cp
	s.chats.order = append(s.chats.order, cp.ChatID)
	return cp.ChatID, s.chatEvent("create", cp.ChatID, nil)
}

// JoinGroupChat adds members (those already in are skipped) and returns the
// add_member event. scene is the join scene of every new member: 1 invited,
// 2 invite link, 3 QR code; the callback's JoinScene says 3 for a QR code
// and 0 for the others.
func (s *Simulator) JoinGroupChat(chatID string, scene int, members ...GroupMember) Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.chatLocked(chatID)
	var ids []string
	for _, m := range members {
		if slices.ContainsFunc(g.Members, func(x GroupMember) bool { return x.UserID == m.UserID }) {
			continue
		}
		if m.JoinScene == 0 {
			m.JoinScene = scene
		}
		m = s.fillMember(m)
		g.Members = append(g.Members, m)
		ids = append(ids, m.UserID)
	}
	last := g.Version
	g.Version = randHex(16)
	join := "0"
	if scene == 3 {
		join = "3"
	}
	return s.chatEvent("update", chatID, memberChange(map[string]string{"UpdateDetail": "add_member", "JoinScene": join}, ids, last, g.Version))
}

// LeaveGroupChat removes members and returns the del_member event; removed
// says whether the owner or an admin removed them (QuitScene 1) or they
// left themselves (QuitScene 0).
func (s *Simulator) LeaveGroupChat(chatID string, removed bool, userIDs ...string) Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.chatLocked(chatID)
	var ids []string
	g.Members = slices.DeleteFunc(g.Members, func(m GroupMember) bool {
		if slices.Contains(userIDs, m.UserID) {
			ids = append(ids, m.UserID)
			return true
		}
		return false
	})
	last := g.Version
	g.Version = randHex(16)
	quit := "0"
	if removed {
		quit = "1"
	}
	return s.chatEvent("update", chatID, memberChange(map[string]string{"UpdateDetail": "del_member", "QuitScene": quit}, ids, last, g.Version))
}

// RenameGroupChat changes the group's name and returns the change_name event.
func (s *Simulator) RenameGroupChat(chatID, name string) Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chatLocked(chatID).Name = name
	return s.chatEvent("update", chatID, map[string]string{"UpdateDetail": "change_name"})
}

// SetGroupChatNotice changes the 群公告 and returns the change_notice event.
func (s *Simulator) SetGroupChatNotice(chatID, notice string) Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chatLocked(chatID).Notice = notice
	return s.chatEvent("update", chatID, map[string]string{"UpdateDetail": "change_notice"})
}

// SetGroupChatOwner hands the group to another staff member (who becomes a
// member if they were not) and returns the change_owner event.
func (s *Simulator) SetGroupChatOwner(chatID, owner string) Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.chatLocked(chatID)
	g.Owner = owner
	if !slices.ContainsFunc(g.Members, func(m GroupMember) bool { return m.UserID == owner }) {
		g.Members = append(g.Members, s.fillMember(GroupMember{UserID: owner}))
		g.Version = randHex(16)
	}
	return s.chatEvent("update", chatID, map[string]string{"UpdateDetail": "change_owner"})
}

// DismissGroupChat dismisses the group and returns the dismiss event. From
// then on groupchat/get answers 90501 for it and groupchat/list omits it.
func (s *Simulator) DismissGroupChat(chatID string) Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chatLocked(chatID).Dismissed = true
	return s.chatEvent("dismiss", chatID, nil)
}

// GroupChatByID returns a copy of a group, dismissed ones included.
func (s *Simulator) GroupChatByID(chatID string) (GroupChat, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.chats.byID[chatID]
	if !ok {
		return GroupChat{}, false
	}
	return copyChat(g), true
}

// ---- the APIs (run with s.mu held, from dispatch) ----

func (s *Simulator) groupChatGet(body []byte) simAnswer {
	var req struct {
		ChatID   string `json:"chat_id"`
		NeedName int    `json:"need_name"`
	}
	if json.Unmarshal(body, &req) != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	if req.ChatID == "" {
		return errAnswer(40058, "chat_id is required")
	}
	g, ok := s.chats.byID[req.ChatID]
	if !ok || g.Dismissed {
		return errAnswer(90501, "chat is not external group chat")
	}
	members := make([]simAnswer, 0, len(g.Members))
	for _, m := range g.Members {
		a := simAnswer{"userid": m.UserID, "type": m.Type, "join_time": m.JoinTime.Unix(), "join_scene": m.JoinScene,
			"group_nickname": m.Nickname}
		if m.Invitor != "" {
			a["invitor"] = simAnswer{"userid": m.Invitor}
		}
		if req.NeedName == 1 {
			a["name"] = m.Name
		}
		if m.Type == 2 && m.UnionID != "" {
			a["unionid"] = m.UnionID
		}
		members = append(members, a)
	}
	admins := make([]simAnswer, 0, len(g.Admins))
	for _, id := range g.Admins {
		admins = append(admins, simAnswer{"userid": id})
	}
	ans := okAnswer()
	ans["group_chat"] = simAnswer{"chat_id": g.ChatID, "name": g.Name, "owner": g.Owner, "create_time": g.CreateTime.Unix(),
		"notice": g.Notice, "member_list": members, "admin_list": admins, "member_version": g.Version}
	return ans
}

func (s *Simulator) groupChatList(body []byte) simAnswer {
	var req struct {
		StatusFilter int `json:"status_filter"`
		OwnerFilter  struct {
			UserIDList []string `json:"userid_list"`
		} `json:"owner_filter"`
		Cursor string `json:"cursor"`
		Limit  int    `json:"limit"`
	}
	if json.Unmarshal(body, &req) != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	if req.Limit < 1 || req.Limit > 1000 || len(req.OwnerFilter.UserIDList) > 100 || req.StatusFilter < 0 || req.StatusFilter > 3 {
		return errAnswer(40058, simErrMsg(40058))
	}
	if s.chats.largeRange && len(req.OwnerFilter.UserIDList) == 0 {
		return errAnswer(81017, "too many members in the app's visible range: filter by owner")
	}
	start := 0
	if req.Cursor != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(req.Cursor, "c"))
		if err != nil || !strings.HasPrefix(req.Cursor, "c") || n < 0 || n > len(s.chats.order) {
			return errAnswer(40058, "invalid cursor")
		}
		start = n
	}
	list := []simAnswer{}
	next := ""
	for i := start; i < len(s.chats.order); i++ {
		g := s.chats.byID[s.chats.order[i]]
		// Every simulated owner is in office: status 0, which filter 0
		// (all) and no other filter matches.
		if g.Dismissed || req.StatusFilter != 0 {
			continue
		}
		if len(req.OwnerFilter.UserIDList) > 0 && !slices.Contains(req.OwnerFilter.UserIDList, g.Owner) {
			continue
		}
		if len(list) == req.Limit {
			next = fmt.Sprintf("c%d", i)
			break
		}
		list = append(list, simAnswer{"chat_id": g.ChatID, "status": 0})
	}
	ans := okAnswer()
	ans["group_chat_list"] = list
	ans["next_cursor"] = next
	return ans
}
