package wecomtest

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/scrmhq/scrm/wecom"
)

// The WeCom client's JS-SDK, simulated. Inside WeCom a page beside a chat
// (聊天工具栏) calls ww.register with signatures its server made, and the
// client then answers getContext, getCurExternalContact, getCurExternalChat
// and sendChatMessage from the chat the member has open. There is no WeCom
// client in the demo or the browser tests, so the simulator serves a
// stand-in script at JSSDKPath that defines the same ww (and wx) globals
// and asks the simulator over HTTP:
//
//   - the "client" (a test, the demo) opens a chat with OpenChatTools, which
//     returns a token; it opens the sidebar page with ?wwsim=TOKEN appended,
//     as WeCom opens the configured page URL in that chat's toolbar;
//   - ww.register sends both signatures, over the page URL cut at '#', to
//     POST /jssdk/register; the simulator checks corpId and agentId and
//     verifies each signature against the live tickets it issued
//     (VerifyJSSignature), so a page signed with the wrong ticket, the wrong
//     URL or the wrong algorithm is refused like WeCom refuses it;
//   - every later call goes to POST /jssdk/invoke with the session that
//     registration returned; without one it fails with "no permission".
//
// sendChatMessage puts the text into the chat's input box in WeCom (the
// member still presses send); here it is recorded (ChatToolMessages).

// JSSDKPath is where the simulator serves its stand-in of WeCom's JS-SDK.
const JSSDKPath = "/jssdk/ww.js"

// Entries of the page inside WeCom (getContext's entry).
const (
	EntrySingleChat = "single_chat_tools"
	EntryGroupChat  = "group_chat_tools"
	EntryProfile    = "contact_profile"
	EntrySingleKF   = "single_kf_tools"
)

//go:embed jssdk/ww.js
var jssdkScript []byte

// ChatTools is the chat a member has open when the page beside it loads.
type ChatTools struct {
	UserID         string // the member
	Entry          string // one of the Entry constants
	ExternalUserID string // single chat, profile, kf: the customer
	ChatID         string // group chat
}

// ChatToolMessage is what a page put into a chat with sendChatMessage.
type ChatToolMessage struct {
	ChatTools
	Token   string
	MsgType string
	Text    string
	At      time.Time
}

type simJSSDK struct {
	chats    map[string]ChatTools // token → chat
	sessions map[string]string    // registered session → token
	sent     []ChatToolMessage
	register map[string]int // "ok" / "fail" → count
}

// OpenChatTools opens the page beside a chat: it returns the token the page
// URL carries as ?wwsim= so the stand-in script knows which chat it is in.
func (s *Simulator) OpenChatTools(c ChatTools) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jssdk.chats == nil {
		s.jssdk.chats, s.jssdk.sessions, s.jssdk.register = map[string]ChatTools{}, map[string]string{}, map[string]int{}
	}
	tok := "wwsim_" + randHex(12)
	s.jssdk.chats[tok] = c
	return tok
}

// ChatToolMessages returns what pages sent into chats, oldest first.
func (s *Simulator) ChatToolMessages() []ChatToolMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ChatToolMessage(nil), s.jssdk.sent...)
}

// JSSDKRegistrations counts ww.register calls the simulator accepted (ok)
// and refused (fail).
func (s *Simulator) JSSDKRegistrations() (ok, fail int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jssdk.register["ok"], s.jssdk.register["fail"]
}

// serveJSSDK answers the stand-in script and its calls; false for other
// paths. Pages load it from their own origin, so the answers allow any
// origin (no credentials are involved).
func (s *Simulator) serveJSSDK(w http.ResponseWriter, r *http.Request) bool {
	i := strings.Index(r.URL.Path, "/jssdk/")
	if i < 0 {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	switch r.URL.Path[i:] {
	case JSSDKPath:
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		_, _ = w.Write(jssdkScript)
	case "/jssdk/register":
		s.jssdkRegister(w, r)
	case "/jssdk/invoke":
		s.jssdkInvoke(w, r)
	default:
		http.NotFound(w, r)
	}
	return true
}

type jssdkSig struct {
	Timestamp json.Number `json:"timestamp"`
	NonceStr  string      `json:"nonceStr"`
	Signature string      `json:"signature"`
}

// jssdkAnswer writes a JS-SDK result: errMsg "<api>:ok" or "<api>:fail …",
// as the client's callbacks receive.
func jssdkAnswer(w http.ResponseWriter, api string, fields map[string]any, fail string) {
	out := map[string]any{"errMsg": api + ":ok", "errCode": 0}
	if fail != "" {
		out = map[string]any{"errMsg": api + ":fail " + fail, "errCode": -1}
	}
	for k, v := range fields {
		out[k] = v
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(out)
}

func (s *Simulator) jssdkRegister(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token   string    `json:"wwsim"`
		URL     string    `json:"url"`
		CorpID  string    `json:"corpId"`
		AgentID string    `json:"agentId"`
		Config  *jssdkSig `json:"config"`
		Agent   *jssdkSig `json:"agentConfig"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&req); err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	fail := func(why string) {
		s.mu.Lock()
		s.jssdk.register["fail"]++
		s.mu.Unlock()
		jssdkAnswer(w, "register", nil, why)
	}
	s.mu.Lock()
	if s.jssdk.chats == nil {
		s.jssdk.chats, s.jssdk.sessions, s.jssdk.register = map[string]ChatTools{}, map[string]string{}, map[string]int{}
	}
	_, known := s.jssdk.chats[req.Token]
	corp, agent := s.cfg.CorpID, s.cfg.AgentID
	s.mu.Unlock()
	switch {
	case !known:
		fail("not in a chat (open the page through OpenChatTools)")
		return
	case req.CorpID != corp:
		fail("invalid corpId")
		return
	case req.AgentID != agent:
		fail("invalid agentId")
		return
	case req.Config == nil || req.Agent == nil:
		fail("both config and agentConfig signatures are required")
		return
	}
	page, _, _ := strings.Cut(req.URL, "#")
	for _, c := range []struct {
		kind string
		sig  *jssdkSig
	}{{wecom.TicketCorp, req.Config}, {wecom.TicketAgent, req.Agent}} {
		ts, err := c.sig.Timestamp.Int64()
		if err != nil || !s.VerifyJSSignature(c.kind, page, c.sig.NonceStr, ts, c.sig.Signature) {
			fail("invalid signature")
			return
		}
	}
	s.mu.Lock()
	sess := "wwsess_" + randHex(16)
	s.jssdk.sessions[sess] = req.Token
	s.jssdk.register["ok"]++
	s.mu.Unlock()
	jssdkAnswer(w, "register", map[string]any{"session": sess}, "")
}

func (s *Simulator) jssdkInvoke(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Session string          `json:"session"`
		API     string          `json:"api"`
		Args    json.RawMessage `json:"args"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.jssdk.sessions[req.Session]
	chat := s.jssdk.chats[tok]
	if !ok {
		jssdkAnswer(w, req.API, nil, "no permission")
		return
	}
	single := chat.Entry == EntrySingleChat || chat.Entry == EntryProfile || chat.Entry == EntrySingleKF
	switch req.API {
	case "getContext":
		jssdkAnswer(w, req.API, map[string]any{"entry": chat.Entry, "shareTicket": ""}, "")
	case "getCurExternalContact":
		if !single {
			jssdkAnswer(w, req.API, nil, "not supported in entry "+chat.Entry)
			return
		}
		jssdkAnswer(w, req.API, map[string]any{"userId": chat.ExternalUserID}, "")
	case "getCurExternalChat":
		if chat.Entry != EntryGroupChat {
			jssdkAnswer(w, req.API, nil, "not supported in entry "+chat.Entry)
			return
		}
		jssdkAnswer(w, req.API, map[string]any{"chatId": chat.ChatID}, "")
	case "sendChatMessage":
		if !single && chat.Entry != EntryGroupChat {
			jssdkAnswer(w, req.API, nil, "not supported in entry "+chat.Entry)
			return
		}
		var a struct {
			MsgType string `json:"msgtype"`
			Text    struct {
				Content string `json:"content"`
			} `json:"text"`
		}
		if json.Unmarshal(req.Args, &a) != nil || a.MsgType != "text" || a.Text.Content == "" {
			jssdkAnswer(w, req.API, nil, "invalid args (msgtype text with text.content)")
			return
		}
		s.jssdk.sent = append(s.jssdk.sent, ChatToolMessage{ChatTools: chat, Token: tok, MsgType: a.MsgType, Text: a.Text.Content, At: s.now()})
		jssdkAnswer(w, req.API, nil, "")
	default:
		jssdkAnswer(w, req.API, nil, "not supported by the simulator")
	}
}
