package wecomtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Acquisition in the simulated corp: contact ways (联系我), the welcome
// codes their adds carry and send_welcome_msg, temporary media, group join
// codes and Official Account parametric QR codes, with WeCom's limits
// (docs/wecom-protocol.md section 6).

// WelcomeCodeTTL is how long a welcome code is valid.
const WelcomeCodeTTL = 20 * time.Second

// MediaTTL is how long a temporary media_id is valid.
const MediaTTL = 72 * time.Hour

// maxWays is the limit of contact ways and join ways together per corp.
const maxWays = 500000

// SentWelcome is a welcome message WeCom accepted.
type SentWelcome struct {
	Code           string
	UserID         string
	ExternalUserID string
	Text           string
	Attachments    []json.RawMessage
	At             time.Time
	// Issued is when the code was issued (the add callback's time).
	Issued time.Time
}

// SimContactWay is a contact way as the simulator keeps it.
type SimContactWay struct {
	ConfigID   string
	Type       int
	Scene      int
	Remark     string
	SkipVerify bool
	State      string
	User       []string
	QRCode     string
}

// SimJoinWay is a group join code as the simulator keeps it.
type SimJoinWay struct {
	ConfigID       string
	Scene          int
	Remark         string
	AutoCreateRoom int
	RoomBaseName   string
	RoomBaseID     int
	ChatIDs        []string
	State          string
	QRCode         string
}

type simWelcomeCode struct {
	userID, externalUserID string
	issued                 time.Time
	used                   bool
}

type simMedia struct {
	kind    string
	created time.Time
}

type simAcquisition struct {
	ways      map[string]*SimContactWay
	joinWays  map[string]*SimJoinWay
	codes     map[string]*simWelcomeCode
	welcomes  []SentWelcome
	onWelcome func(SentWelcome)
	media     map[string]simMedia
	qrcodes   map[string]string // ticket → scene_str
	seq       int
}

func (a *simAcquisition) init() {
	if a.ways == nil {
		a.ways, a.joinWays = map[string]*SimContactWay{}, map[string]*SimJoinWay{}
		a.codes, a.media, a.qrcodes = map[string]*simWelcomeCode{}, map[string]simMedia{}, map[string]string{}
	}
}

func (a *simAcquisition) next(prefix string) string {
	a.seq++
	return fmt.Sprintf("%s%06d%s", prefix, a.seq, randHex(4))
}

// ContactWays returns the contact ways that exist.
func (s *Simulator) ContactWays() []SimContactWay {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acq.init()
	out := []SimContactWay{}
	for _, k := range sortedKeys(s.acq.ways) {
		out = append(out, *s.acq.ways[k])
	}
	return out
}

// JoinWays returns the group join codes that exist.
func (s *Simulator) JoinWays() []SimJoinWay {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acq.init()
	out := []SimJoinWay{}
	for _, k := range sortedKeys(s.acq.joinWays) {
		out = append(out, *s.acq.joinWays[k])
	}
	return out
}

// Welcomes returns the welcome messages accepted so far.
func (s *Simulator) Welcomes() []SentWelcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentWelcome(nil), s.acq.welcomes...)
}

// OnWelcome calls fn (outside the simulator's lock) for every accepted
// welcome, as it is accepted.
func (s *Simulator) OnWelcome(fn func(SentWelcome)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acq.onWelcome = fn
}

// IssueWelcomeCode issues a welcome code for an add of externalUserID by
// userID, valid WelcomeCodeTTL from the simulator's now.
func (s *Simulator) IssueWelcomeCode(userID, externalUserID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acq.init()
	code := s.acq.next("wc")
	s.acq.codes[code] = &simWelcomeCode{userID: userID, externalUserID: externalUserID, issued: s.now()}
	return code
}

// ScanContactWay is a customer adding a member through a contact way: the
// contact is stored (created when new) with a follow carrying the way's
// state, and the add_external_contact callback WeCom sends is returned,
// with a fresh WelcomeCode unless noWelcome. The member is the way's first
// user, or userID when given (it must be one of the way's users).
func (s *Simulator) ScanContactWay(configID, userID string, c Contact, noWelcome bool) Msg {
	s.mu.Lock()
	s.acq.init()
	w := s.acq.ways[configID]
	if w == nil {
		s.mu.Unlock()
		panic("wecomtest: no contact way " + configID)
	}
	if userID == "" {
		userID = w.User[0]
	}
	state := w.State
	s.mu.Unlock()
	now := s.now()
	existing, ok := s.ExternalContact(c.ExternalUserID)
	if ok {
		c = existing
	}
	c.Follow = append(c.Follow, Follow{UserID: userID, State: state, CreateTime: now, AddWay: 1})
	s.AddExternalContact(c)
	extra := map[string]string{"State": state}
	if !noWelcome {
		extra["WelcomeCode"] = s.IssueWelcomeCode(userID, c.ExternalUserID)
	}
	return ContactEvent("add_external_contact", userID, c.ExternalUserID, now, extra)
}

// AddContactWithState is an add_external_contact callback with the State
// and WelcomeCode WeCom sends (either may be empty).
func AddContactWithState(userID, externalUserID, state, welcomeCode string, t time.Time) Msg {
	extra := map[string]string{}
	if state != "" {
		extra["State"] = state
	}
	if welcomeCode != "" {
		extra["WelcomeCode"] = welcomeCode
	}
	return ContactEvent("add_external_contact", userID, externalUserID, t, extra)
}

// JoinViaJoinWay is a customer joining a group through a join code: the
// member joins the code's first group (scene 3, QR code) and the
// change_external_chat callback is returned with the code's State.
func (s *Simulator) JoinViaJoinWay(configID string, m GroupMember) Msg {
	s.mu.Lock()
	s.acq.init()
	w := s.acq.joinWays[configID]
	if w == nil {
		s.mu.Unlock()
		panic("wecomtest: no join way " + configID)
	}
	chatID, state := w.ChatIDs[0], w.State
	s.mu.Unlock()
	m.JoinScene = 3
	return s.JoinGroupChat(chatID, 3, m).With("State", state)
}

func (s *Simulator) serveQRImage(w http.ResponseWriter, r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, "/simqr/") {
		return false
	}
	id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/simqr/"), ".png")
	s.mu.Lock()
	s.acq.init()
	_, way := s.acq.ways[id]
	_, join := s.acq.joinWays[id]
	s.mu.Unlock()
	if !way && !join {
		http.NotFound(w, r)
		return true
	}
	w.Header().Set("Content-Type", "image/png")
	_ = png.Encode(w, fakeQR(id))
	return true
}

// fakeQR draws a QR-like pattern from id: not a decodable code, but a real
// PNG a page can show and a person can print.
func fakeQR(id string) image.Image {
	const cells, px = 25, 8
	img := image.NewGray(image.Rect(0, 0, cells*px, cells*px))
	h := uint32(2166136261)
	for _, b := range []byte(id) {
		h = (h ^ uint32(b)) * 16777619
	}
	for y := range cells {
		for x := range cells {
			h ^= h << 13
			h ^= h >> 17
			h ^= h << 5
			finder := (x < 7 && y < 7) || (x >= cells-7 && y < 7) || (x < 7 && y >= cells-7)
			dark := h&1 == 1
			if finder {
				fx, fy := x%(cells-7), y%(cells-7)
				if x >= cells-7 {
					fx = x - (cells - 7)
				}
				if y >= cells-7 {
					fy = y - (cells - 7)
				}
				dark = fx == 0 || fy == 0 || fx == 6 || fy == 6 || (fx >= 2 && fx <= 4 && fy >= 2 && fy <= 4)
			}
			c := color.Gray{Y: 255}
			if dark {
				c = color.Gray{Y: 0}
			}
			for dy := range px {
				for dx := range px {
					img.SetGray(x*px+dx, y*px+dy, c)
				}
			}
		}
	}
	return img
}

func qrURL(r *http.Request, id string) string {
	return "http://" + r.Host + "/simqr/" + id + ".png"
}

// dispatchAcquisition answers the acquisition APIs; it runs under s.mu.
func (s *Simulator) dispatchAcquisition(api string, r *http.Request, body []byte) (simAnswer, bool) {
	s.acq.init()
	switch api {
	case "externalcontact/add_contact_way":
		return s.addContactWay(r, body), true
	case "externalcontact/get_contact_way":
		return s.getContactWay(body), true
	case "externalcontact/update_contact_way":
		return s.updateContactWay(body), true
	case "externalcontact/del_contact_way":
		return s.delWay(body, false), true
	case "externalcontact/send_welcome_msg":
		return s.sendWelcome(body), true
	case "media/upload":
		return s.mediaUpload(r, body), true
	case "externalcontact/groupchat/add_join_way":
		return s.addJoinWay(r, body), true
	case "externalcontact/groupchat/get_join_way":
		return s.getJoinWay(body), true
	case "externalcontact/groupchat/del_join_way":
		return s.delWay(body, true), true
	case "qrcode/create":
		return s.qrcodeCreate(body), true
	}
	return nil, false
}

type contactWayBody struct {
	ConfigID   string   `json:"config_id"`
	Type       int      `json:"type"`
	Scene      int      `json:"scene"`
	Remark     string   `json:"remark"`
	SkipVerify *bool    `json:"skip_verify"`
	State      *string  `json:"state"`
	User       []string `json:"user"`
	Party      []int    `json:"party"`
}

func (s *Simulator) checkWayUsers(users []string) simAnswer {
	for _, u := range users {
		if _, ok := s.staff[u]; !ok {
			return errAnswer(60111, simErrMsg(60111))
		}
	}
	return nil
}

func (s *Simulator) addContactWay(r *http.Request, body []byte) simAnswer {
	var b contactWayBody
	if err := json.Unmarshal(body, &b); err != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	if (b.Type != 1 && b.Type != 2) || (b.Scene != 1 && b.Scene != 2) || len(b.User)+len(b.Party) == 0 ||
		(b.Type == 1 && len(b.User)+len(b.Party) != 1) || (b.State != nil && len([]rune(*b.State)) > 30) ||
		len([]rune(b.Remark)) > 30 {
		return errAnswer(40058, simErrMsg(40058))
	}
	if ans := s.checkWayUsers(b.User); ans != nil {
		return ans
	}
	if len(s.acq.ways)+len(s.acq.joinWays) >= maxWays {
		return errAnswer(41054, "contact way count out of limit")
	}
	w := &SimContactWay{ConfigID: s.acq.next("cw"), Type: b.Type, Scene: b.Scene, Remark: b.Remark, User: b.User}
	if b.SkipVerify != nil {
		w.SkipVerify = *b.SkipVerify
	}
	if b.State != nil {
		w.State = *b.State
	}
	ans := okAnswer()
	ans["config_id"] = w.ConfigID
	if b.Scene == 2 {
		w.QRCode = qrURL(r, w.ConfigID)
		ans["qr_code"] = w.QRCode
	}
	s.acq.ways[w.ConfigID] = w
	return ans
}

func (s *Simulator) getContactWay(body []byte) simAnswer {
	var b contactWayBody
	if err := json.Unmarshal(body, &b); err != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	w := s.acq.ways[b.ConfigID]
	if w == nil {
		return errAnswer(41044, "invalid config_id")
	}
	ans := okAnswer()
	ans["contact_way"] = simAnswer{"config_id": w.ConfigID, "type": w.Type, "scene": w.Scene, "remark": w.Remark,
		"skip_verify": w.SkipVerify, "state": w.State, "user": w.User, "party": []int{}, "qr_code": w.QRCode}
	return ans
}

func (s *Simulator) updateContactWay(body []byte) simAnswer {
	var b contactWayBody
	if err := json.Unmarshal(body, &b); err != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	w := s.acq.ways[b.ConfigID]
	if w == nil {
		return errAnswer(41044, "invalid config_id")
	}
	if (b.State != nil && len([]rune(*b.State)) > 30) || (w.Type == 1 && len(b.User) > 1) {
		return errAnswer(40058, simErrMsg(40058))
	}
	if ans := s.checkWayUsers(b.User); ans != nil {
		return ans
	}
	if b.Remark != "" {
		w.Remark = b.Remark
	}
	if b.SkipVerify != nil {
		w.SkipVerify = *b.SkipVerify
	}
	if b.State != nil {
		w.State = *b.State
	}
	if len(b.User) > 0 {
		w.User = b.User
	}
	return okAnswer()
}

func (s *Simulator) delWay(body []byte, join bool) simAnswer {
	var b struct {
		ConfigID string `json:"config_id"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	if join {
		if s.acq.joinWays[b.ConfigID] == nil {
			return errAnswer(41044, "invalid config_id")
		}
		delete(s.acq.joinWays, b.ConfigID)
		return okAnswer()
	}
	if s.acq.ways[b.ConfigID] == nil {
		return errAnswer(41044, "invalid config_id")
	}
	delete(s.acq.ways, b.ConfigID)
	return okAnswer()
}

type welcomeBody struct {
	WelcomeCode string `json:"welcome_code"`
	Text        *struct {
		Content string `json:"content"`
	} `json:"text"`
	Attachments []json.RawMessage `json:"attachments"`
}

func (s *Simulator) sendWelcome(body []byte) simAnswer {
	var b welcomeBody
	if err := json.Unmarshal(body, &b); err != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	text := ""
	if b.Text != nil {
		text = b.Text.Content
	}
	if len(b.Attachments) > 9 || (text == "" && len(b.Attachments) == 0) || len(text) > 4000 {
		return errAnswer(40058, simErrMsg(40058))
	}
	for _, raw := range b.Attachments {
		if ans := s.checkAttachment(raw); ans != nil {
			return ans
		}
	}
	c := s.acq.codes[b.WelcomeCode]
	now := s.now()
	if c == nil || c.used || now.Sub(c.issued) > WelcomeCodeTTL {
		return errAnswer(41051, simErrMsg(41051))
	}
	c.used = true
	sw := SentWelcome{Code: b.WelcomeCode, UserID: c.userID, ExternalUserID: c.externalUserID, Text: text,
		Attachments: b.Attachments, At: now, Issued: c.issued}
	s.acq.welcomes = append(s.acq.welcomes, sw)
	if fn := s.acq.onWelcome; fn != nil {
		// Called under the lock would deadlock a callback that reads the
		// simulator; the answer waits for it instead.
		s.mu.Unlock()
		fn(sw)
		s.mu.Lock()
	}
	return okAnswer()
}

// checkAttachment checks one attachment's msgtype and that its media_id
// was uploaded and has not lapsed.
func (s *Simulator) checkAttachment(raw json.RawMessage) simAnswer {
	var a struct {
		MsgType string `json:"msgtype"`
		Image   *struct {
			MediaID string `json:"media_id"`
			PicURL  string `json:"pic_url"`
		} `json:"image"`
		Link *struct {
			Title string `json:"title"`
			URL   string `json:"url"`
		} `json:"link"`
		MiniProgram *struct {
			Title      string `json:"title"`
			PicMediaID string `json:"pic_media_id"`
			AppID      string `json:"appid"`
			Page       string `json:"page"`
		} `json:"miniprogram"`
		Video *struct {
			MediaID string `json:"media_id"`
		} `json:"video"`
		File *struct {
			MediaID string `json:"media_id"`
		} `json:"file"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	media := func(id string) simAnswer {
		m, ok := s.acq.media[id]
		if !ok || s.now().Sub(m.created) > MediaTTL {
			return errAnswer(40007, simErrMsg(40007))
		}
		return nil
	}
	switch {
	case a.MsgType == "image" && a.Image != nil:
		if a.Image.MediaID == "" && a.Image.PicURL == "" {
			return errAnswer(40058, simErrMsg(40058))
		}
		if a.Image.MediaID != "" {
			return media(a.Image.MediaID)
		}
	case a.MsgType == "link" && a.Link != nil:
		if a.Link.Title == "" || a.Link.URL == "" {
			return errAnswer(40058, simErrMsg(40058))
		}
	case a.MsgType == "miniprogram" && a.MiniProgram != nil:
		if a.MiniProgram.Title == "" || a.MiniProgram.AppID == "" || a.MiniProgram.Page == "" {
			return errAnswer(40058, simErrMsg(40058))
		}
		return media(a.MiniProgram.PicMediaID)
	case a.MsgType == "video" && a.Video != nil:
		return media(a.Video.MediaID)
	case a.MsgType == "file" && a.File != nil:
		return media(a.File.MediaID)
	default:
		return errAnswer(40058, simErrMsg(40058))
	}
	return nil
}

// mediaLimits are media/upload's size limits by type.
var mediaLimits = map[string]int{"image": 10 << 20, "voice": 2 << 20, "video": 10 << 20, "file": 20 << 20}

func (s *Simulator) mediaUpload(r *http.Request, body []byte) simAnswer {
	kind := r.URL.Query().Get("type")
	limit, ok := mediaLimits[kind]
	if !ok {
		return errAnswer(40004, simErrMsg(40004))
	}
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return errAnswer(44001, simErrMsg(44001))
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	size := -1
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if p.FormName() == "media" {
			var buf bytes.Buffer
			n, _ := buf.ReadFrom(p)
			size = int(n)
		}
	}
	switch {
	case size <= 5: // WeCom refuses files of 5 bytes or less
		return errAnswer(44001, simErrMsg(44001))
	case size > limit:
		return errAnswer(40006, simErrMsg(40006))
	}
	id := s.acq.next("media")
	now := s.now()
	s.acq.media[id] = simMedia{kind: kind, created: now}
	ans := okAnswer()
	ans["type"], ans["media_id"], ans["created_at"] = kind, id, strconv.FormatInt(now.Unix(), 10)
	return ans
}

type joinWayBody struct {
	ConfigID       string   `json:"config_id"`
	Scene          int      `json:"scene"`
	Remark         string   `json:"remark"`
	AutoCreateRoom int      `json:"auto_create_room"`
	RoomBaseName   string   `json:"room_base_name"`
	RoomBaseID     int      `json:"room_base_id"`
	ChatIDList     []string `json:"chat_id_list"`
	State          string   `json:"state"`
}

func (s *Simulator) addJoinWay(r *http.Request, body []byte) simAnswer {
	var b joinWayBody
	if err := json.Unmarshal(body, &b); err != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	if (b.Scene != 1 && b.Scene != 2) || len(b.ChatIDList) < 1 || len(b.ChatIDList) > 5 || len([]rune(b.State)) > 30 ||
		len([]rune(b.RoomBaseName)) > 40 || len([]rune(b.Remark)) > 30 {
		return errAnswer(40058, simErrMsg(40058))
	}
	for _, id := range b.ChatIDList {
		if g := s.chats.byID[id]; g == nil || g.Dismissed {
			return errAnswer(40050, simErrMsg(40050))
		}
	}
	if len(s.acq.ways)+len(s.acq.joinWays) >= maxWays {
		return errAnswer(41054, "contact way count out of limit")
	}
	w := &SimJoinWay{ConfigID: s.acq.next("jw"), Scene: b.Scene, Remark: b.Remark, AutoCreateRoom: b.AutoCreateRoom,
		RoomBaseName: b.RoomBaseName, RoomBaseID: b.RoomBaseID, ChatIDs: b.ChatIDList, State: b.State}
	if b.Scene == 2 {
		w.QRCode = qrURL(r, w.ConfigID)
	}
	s.acq.joinWays[w.ConfigID] = w
	ans := okAnswer()
	ans["config_id"] = w.ConfigID
	return ans
}

func (s *Simulator) getJoinWay(body []byte) simAnswer {
	var b joinWayBody
	if err := json.Unmarshal(body, &b); err != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	w := s.acq.joinWays[b.ConfigID]
	if w == nil {
		return errAnswer(41044, "invalid config_id")
	}
	ans := okAnswer()
	ans["join_way"] = simAnswer{"config_id": w.ConfigID, "scene": w.Scene, "remark": w.Remark, "auto_create_room": w.AutoCreateRoom,
		"room_base_name": w.RoomBaseName, "room_base_id": w.RoomBaseID, "chat_id_list": w.ChatIDs, "qr_code": w.QRCode, "state": w.State}
	return ans
}

func (s *Simulator) qrcodeCreate(body []byte) simAnswer {
	var b struct {
		ActionName string `json:"action_name"`
		ActionInfo struct {
			Scene struct {
				SceneStr string `json:"scene_str"`
			} `json:"scene"`
		} `json:"action_info"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return errAnswer(47001, simErrMsg(47001))
	}
	scene := b.ActionInfo.Scene.SceneStr
	if b.ActionName != "QR_LIMIT_STR_SCENE" && b.ActionName != "QR_STR_SCENE" {
		return errAnswer(40058, simErrMsg(40058))
	}
	if n := len([]rune(scene)); n < 1 || n > 64 {
		return errAnswer(40058, simErrMsg(40058))
	}
	ticket := s.acq.next("gQ")
	s.acq.qrcodes[ticket] = scene
	ans := okAnswer()
	ans["ticket"], ans["url"] = ticket, "http://weixin.qq.com/q/"+ticket
	return ans
}

// OAQRScene returns the scene of an OA QR code by its ticket.
func (s *Simulator) OAQRScene(ticket string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acq.init()
	scene, ok := s.acq.qrcodes[ticket]
	return scene, ok
}
