package wecomtest

import (
	"bytes"
	"encoding/xml"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Msg is the plain XML of one callback, as an ordered list of elements. The
// builders below produce one for each kind the platforms send; the Driver
// fills ToUserName (CorpID, or the OA's original id gh_…) and AgentID when
// it delivers the message.
type Msg struct {
	elems []xmlElem
}

type xmlElem struct {
	name  string
	val   string
	cdata bool // strings are CDATA; numbers are bare, as on the platform
	kids  []xmlElem
}

// Field returns the text of a top-level element ("" when absent).
func (m Msg) Field(name string) string {
	for _, e := range m.elems {
		if e.name == name {
			return e.val
		}
	}
	return ""
}

// With returns a copy of m with a top-level element set (appended when
// absent, as CDATA). Use it for fields a builder does not take.
func (m Msg) With(name, value string) Msg {
	out := Msg{elems: append([]xmlElem(nil), m.elems...)}
	for i, e := range out.elems {
		if e.name == name {
			out.elems[i].val = value
			return out
		}
	}
	out.elems = append(out.elems, xmlElem{name: name, val: value, cdata: true})
	return out
}

// WithSelectedItems returns a copy of a template_card_event with one more
// <SelectedItem> (a vote or multiple-choice answer).
func (m Msg) WithSelectedItems(questionKey string, optionIDs ...string) Msg {
	out := Msg{elems: append([]xmlElem(nil), m.elems...)}
	item := xmlElem{name: "SelectedItem", kids: []xmlElem{str("QuestionKey", questionKey)}}
	opts := xmlElem{name: "OptionIds"}
	for _, id := range optionIDs {
		opts.kids = append(opts.kids, str("OptionId", id))
	}
	item.kids = append(item.kids, opts)
	for i, e := range out.elems {
		if e.name == "SelectedItems" {
			out.elems[i].kids = append(append([]xmlElem(nil), e.kids...), item)
			return out
		}
	}
	out.elems = append(out.elems, xmlElem{name: "SelectedItems", kids: []xmlElem{item}})
	return out
}

// XML renders the message. toUserName replaces an empty ToUserName and
// agentID an empty AgentID element.
func (m Msg) XML(toUserName, agentID string) []byte {
	var b bytes.Buffer
	b.WriteString("<xml>")
	for _, e := range m.elems {
		switch {
		case e.name == "ToUserName" && e.val == "":
			e.val = toUserName
		case e.name == "AgentID" && e.val == "":
			e.val = agentID
		}
		writeElem(&b, e)
	}
	b.WriteString("</xml>")
	return b.Bytes()
}

func writeElem(b *bytes.Buffer, e xmlElem) {
	b.WriteString("<" + e.name + ">")
	switch {
	case len(e.kids) > 0:
		for _, k := range e.kids {
			writeElem(b, k)
		}
	case e.cdata:
		writeCDATA(b, e.val)
	default:
		_ = xml.EscapeText(b, []byte(e.val))
	}
	b.WriteString("</" + e.name + ">")
}

// writeCDATA splits "]]>" the way XML requires.
func writeCDATA(b *bytes.Buffer, s string) {
	b.WriteString("<![CDATA[")
	for {
		i := bytes.Index([]byte(s), []byte("]]>"))
		if i < 0 {
			break
		}
		b.WriteString(s[:i+2])
		b.WriteString("]]><![CDATA[")
		s = s[i+2:]
	}
	b.WriteString(s)
	b.WriteString("]]>")
}

func str(name, v string) xmlElem { return xmlElem{name: name, val: v, cdata: true} }
func num(name string, v int64) xmlElem {
	return xmlElem{name: name, val: strconv.FormatInt(v, 10)}
}
func flt(name string, v float64) xmlElem {
	return xmlElem{name: name, val: strconv.FormatFloat(v, 'f', -1, 64)}
}

// head is the common start of every callback; AgentID is filled at delivery.
func appHead(from string, t time.Time, msgType string) []xmlElem {
	return []xmlElem{str("ToUserName", ""), str("FromUserName", from), num("CreateTime", t.Unix()), str("MsgType", msgType)}
}

func appMsg(from string, t time.Time, msgType string, msgID int64, body ...xmlElem) Msg {
	e := appHead(from, t, msgType)
	e = append(e, body...)
	e = append(e, num("MsgId", msgID), xmlElem{name: "AgentID"})
	return Msg{elems: e}
}

// ---- WeCom app messages and events (sent by staff to the self-built app) ----

// AppText is a text message a staff member sends to the app.
func AppText(from, content string, msgID int64, t time.Time) Msg {
	return appMsg(from, t, "text", msgID, str("Content", content))
}

// AppImage is an image message.
func AppImage(from, picURL, mediaID string, msgID int64, t time.Time) Msg {
	return appMsg(from, t, "image", msgID, str("PicUrl", picURL), str("MediaId", mediaID))
}

// AppVoice is a voice message (format amr or speex).
func AppVoice(from, mediaID, format string, msgID int64, t time.Time) Msg {
	return appMsg(from, t, "voice", msgID, str("MediaId", mediaID), str("Format", format))
}

// AppLocation is a location message.
func AppLocation(from string, lat, lng float64, scale int, label string, msgID int64, t time.Time) Msg {
	return appMsg(from, t, "location", msgID, flt("Location_X", lat), flt("Location_Y", lng),
		num("Scale", int64(scale)), str("Label", label))
}

// AppLink is a link message.
func AppLink(from, title, description, url, picURL string, msgID int64, t time.Time) Msg {
	return appMsg(from, t, "link", msgID, str("Title", title), str("Description", description),
		str("Url", url), str("PicUrl", picURL))
}

// AppEvent is an app event (enter_agent, click, view, subscribe, ...).
func AppEvent(from, event, eventKey string, t time.Time) Msg {
	e := appHead(from, t, "event")
	e = append(e, str("Event", event), str("EventKey", eventKey), xmlElem{name: "AgentID"})
	return Msg{elems: e}
}

// AppEnterAgent is sent when a staff member opens the app.
func AppEnterAgent(from string, t time.Time) Msg { return AppEvent(from, "enter_agent", "", t) }

// AppClick is a click on a menu item with a key.
func AppClick(from, key string, t time.Time) Msg { return AppEvent(from, "click", key, t) }

// AppView is a click on a menu link.
func AppView(from, url string, t time.Time) Msg { return AppEvent(from, "view", url, t) }

// TemplateCardEvent is a button press on a template card.
func TemplateCardEvent(from, taskID, cardType, eventKey, responseCode string, t time.Time) Msg {
	e := appHead(from, t, "event")
	e = append(e, str("Event", "template_card_event"), str("EventKey", eventKey), str("TaskId", taskID),
		str("CardType", cardType), str("ResponseCode", responseCode), xmlElem{name: "AgentID"})
	return Msg{elems: e}
}

// extras renders extra fields in a stable (sorted) order.
func extras(extra map[string]string) []xmlElem {
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]xmlElem, 0, len(keys))
	for _, k := range keys {
		if k == "MemChangeList" {
			// WeCom lists members as <Item> children; pass them comma-separated.
			e := xmlElem{name: k}
			for _, id := range strings.Split(extra[k], ",") {
				e.kids = append(e.kids, str("Item", id))
			}
			out = append(out, e)
			continue
		}
		if k == "MemChangeCnt" || k == "JoinScene" || k == "QuitScene" {
			n, err := strconv.ParseInt(extra[k], 10, 64)
			if err == nil {
				out = append(out, num(k, n))
				continue
			}
		}
		out = append(out, str(k, extra[k]))
	}
	return out
}

func sysEvent(event string, t time.Time, body ...xmlElem) Msg {
	e := []xmlElem{str("ToUserName", ""), str("FromUserName", "sys"), num("CreateTime", t.Unix()),
		str("MsgType", "event"), str("Event", event)}
	return Msg{elems: append(e, body...)}
}

// ContactEvent is a change_external_contact event. changeType is one of
// add_external_contact, edit_external_contact, add_half_external_contact,
// del_external_contact, del_follow_user, transfer_fail. extra adds fields
// such as State, WelcomeCode, Source (DELETE_BY_TRANSFER), FailReason.
func ContactEvent(changeType, userID, externalUserID string, t time.Time, extra map[string]string) Msg {
	body := []xmlElem{str("ChangeType", changeType), str("UserID", userID), str("ExternalUserID", externalUserID)}
	return sysEvent("change_external_contact", t, append(body, extras(extra)...)...)
}

// ExternalChatEvent is a change_external_chat event (create, update,
// dismiss). extra adds UpdateDetail, JoinScene, QuitScene, MemChangeCnt.
func ExternalChatEvent(changeType, chatID string, t time.Time, extra map[string]string) Msg {
	body := []xmlElem{str("ChatId", chatID), str("ChangeType", changeType)}
	return sysEvent("change_external_chat", t, append(body, extras(extra)...)...)
}

// ExternalTagEvent is a change_external_tag event: tagType is tag or
// tag_group, changeType create, update, delete or shuffle.
func ExternalTagEvent(changeType, id, tagType string, t time.Time, extra map[string]string) Msg {
	body := []xmlElem{str("Id", id), str("TagType", tagType), str("ChangeType", changeType)}
	return sysEvent("change_external_tag", t, append(body, extras(extra)...)...)
}

// KFEvent is the kf_msg_or_event callback: it carries only a Token (valid 10
// minutes) and the account; the server pulls messages with kf/sync_msg.
func KFEvent(token, openKfID string, t time.Time) Msg {
	return Msg{elems: []xmlElem{str("ToUserName", ""), num("CreateTime", t.Unix()), str("MsgType", "event"),
		str("Event", "kf_msg_or_event"), str("Token", token), str("OpenKfId", openKfID)}}
}

// ---- Official Account messages and events (sent by followers) ----

func oaMsg(openID string, t time.Time, msgType string, msgID int64, body ...xmlElem) Msg {
	e := []xmlElem{str("ToUserName", ""), str("FromUserName", openID), num("CreateTime", t.Unix()), str("MsgType", msgType)}
	e = append(e, body...)
	return Msg{elems: append(e, num("MsgId", msgID))}
}

func oaEvent(openID string, t time.Time, event string, body ...xmlElem) Msg {
	e := []xmlElem{str("ToUserName", ""), str("FromUserName", openID), num("CreateTime", t.Unix()),
		str("MsgType", "event"), str("Event", event)}
	return Msg{elems: append(e, body...)}
}

// OAText is a text message from a follower.
func OAText(openID, content string, msgID int64, t time.Time) Msg {
	return oaMsg(openID, t, "text", msgID, str("Content", content))
}

// OAImage is an image message.
func OAImage(openID, picURL, mediaID string, msgID int64, t time.Time) Msg {
	return oaMsg(openID, t, "image", msgID, str("PicUrl", picURL), str("MediaId", mediaID))
}

// OAVoice is a voice message; recognition is the speech-to-text result
// (empty when the account has it off).
func OAVoice(openID, mediaID, format, recognition string, msgID int64, t time.Time) Msg {
	body := []xmlElem{str("MediaId", mediaID), str("Format", format)}
	if recognition != "" {
		body = append(body, str("Recognition", recognition))
	}
	return oaMsg(openID, t, "voice", msgID, body...)
}

// OALocation is a location message.
func OALocation(openID string, lat, lng float64, scale int, label string, msgID int64, t time.Time) Msg {
	return oaMsg(openID, t, "location", msgID, flt("Location_X", lat), flt("Location_Y", lng),
		num("Scale", int64(scale)), str("Label", label))
}

// OALink is a link message.
func OALink(openID, title, description, url string, msgID int64, t time.Time) Msg {
	return oaMsg(openID, t, "link", msgID, str("Title", title), str("Description", description), str("Url", url))
}

// OASubscribe is a plain follow.
func OASubscribe(openID string, t time.Time) Msg {
	return oaEvent(openID, t, "subscribe", str("EventKey", ""))
}

// OASubscribeQR is a follow through a parametric QR code.
func OASubscribeQR(openID, scene, ticket string, t time.Time) Msg {
	return oaEvent(openID, t, "subscribe", str("EventKey", "qrscene_"+scene), str("Ticket", ticket))
}

// OAUnsubscribe is an unfollow.
func OAUnsubscribe(openID string, t time.Time) Msg {
	return oaEvent(openID, t, "unsubscribe", str("EventKey", ""))
}

// OAScan is a parametric QR scan by an existing follower.
func OAScan(openID, scene, ticket string, t time.Time) Msg {
	return oaEvent(openID, t, "SCAN", str("EventKey", scene), str("Ticket", ticket))
}

// OAClick is a click on a menu item with a key.
func OAClick(openID, key string, t time.Time) Msg {
	return oaEvent(openID, t, "CLICK", str("EventKey", key))
}

// OAView is a click on a menu link.
func OAView(openID, url string, t time.Time) Msg {
	return oaEvent(openID, t, "VIEW", str("EventKey", url))
}
