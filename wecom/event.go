package wecom

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Channels an Event can come from. They equal the store's channel names.
const (
	EventChannelWeCom = "wecom" // WeCom app callbacks, including kf_msg_or_event
	EventChannelOA    = "oa"    // WeChat Official Account
)

// Event is a callback normalized into what scrm needs. Parse it with
// ParseWeCom or ParseOA; the zero-valued fields are the ones the callback did
// not carry.
type Event struct {
	Channel string // EventChannelWeCom or EventChannelOA
	// Kind is "text", "image", "voice", "video", "location" or "link" for
	// messages; "event.<event>" for events, lowercased (OA "CLICK" becomes
	// "event.click"), with ".<ChangeType>" added for change_external_contact,
	// change_external_chat and change_external_tag; "unknown" for anything
	// else. An unknown kind is never an error.
	Kind       string
	FromID     string            // FromUserName: a staff UserID, an OA openid, or "sys"
	ToID       string            // ToUserName: the corpid or the OA's original id
	StaffID    string            // WeCom UserID involved: UserID of contact events, else FromUserName unless "sys"
	CustomerID string            // ExternalUserID for WeCom contact events; the openid (FromUserName) for OA
	Text       string            // Content of a text message; a short rendering for other messages
	MsgID      string            // MsgId of a message
	Attrs      map[string]string // the other fields under their XML names, only non-empty ones
	CreateTime time.Time         // CreateTime in UTC; zero if absent or not a number
	Raw        []byte            // the plaintext XML, copied
}

// Kinds of messages, as they appear in Event.Kind.
var cbMessageKinds = map[string]string{
	"text":       KindText,
	"image":      KindImage,
	"voice":      KindVoice,
	"video":      KindVideo,
	"shortvideo": KindVideo, // OA short video: a video; Attrs["MsgType"] keeps the original
	"location":   KindLocation,
	"link":       KindLink,
}

// Events whose ChangeType is part of the kind.
var cbChangeEvents = map[string]bool{
	"change_external_contact": true,
	"change_external_chat":    true,
	"change_external_tag":     true,
}

// cbCallbackXML holds every field of every callback scrm reads, so one
// encoding/xml pass decodes any of them.
type cbCallbackXML struct {
	ToUserName   string `xml:"ToUserName"`
	FromUserName string `xml:"FromUserName"`
	CreateTime   string `xml:"CreateTime"`
	MsgType      string `xml:"MsgType"`
	Content      string `xml:"Content"`
	MsgId        string `xml:"MsgId"`
	MsgID        string `xml:"MsgID"` // OA TEMPLATESENDJOBFINISH spells it this way
	AgentID      string `xml:"AgentID"`

	PicUrl       string `xml:"PicUrl"`
	MediaId      string `xml:"MediaId"`
	Format       string `xml:"Format"`
	Recognition  string `xml:"Recognition"`
	ThumbMediaId string `xml:"ThumbMediaId"`
	LocationX    string `xml:"Location_X"`
	LocationY    string `xml:"Location_Y"`
	Scale        string `xml:"Scale"`
	Label        string `xml:"Label"`
	Title        string `xml:"Title"`
	Description  string `xml:"Description"`
	Url          string `xml:"Url"`

	Event     string `xml:"Event"`
	EventKey  string `xml:"EventKey"`
	Ticket    string `xml:"Ticket"`
	Latitude  string `xml:"Latitude"`
	Longitude string `xml:"Longitude"`
	Precision string `xml:"Precision"`
	MenuId    string `xml:"MenuId"`
	Status    string `xml:"Status"`

	ChangeType     string `xml:"ChangeType"`
	UserID         string `xml:"UserID"`
	ExternalUserID string `xml:"ExternalUserID"`
	State          string `xml:"State"`
	WelcomeCode    string `xml:"WelcomeCode"`
	Source         string `xml:"Source"`
	FailReason     string `xml:"FailReason"`

	ChatId        string          `xml:"ChatId"`
	UpdateDetail  string          `xml:"UpdateDetail"`
	JoinScene     string          `xml:"JoinScene"`
	QuitScene     string          `xml:"QuitScene"`
	MemChangeCnt  string          `xml:"MemChangeCnt"`
	MemChangeList cbMemChangeList `xml:"MemChangeList"`
	LastMemVer    string          `xml:"LastMemVer"`
	CurMemVer     string          `xml:"CurMemVer"`

	Id         string `xml:"Id"`
	TagType    string `xml:"TagType"`
	StrategyId string `xml:"StrategyId"`

	Token    string `xml:"Token"`
	OpenKfId string `xml:"OpenKfId"`

	TaskId        string           `xml:"TaskId"`
	CardType      string           `xml:"CardType"`
	ResponseCode  string           `xml:"ResponseCode"`
	SelectedItems []cbSelectedItem `xml:"SelectedItems>SelectedItem"`

	ScanType   string `xml:"ScanCodeInfo>ScanType"`
	ScanResult string `xml:"ScanCodeInfo>ScanResult"`
}

// cbMemChangeList reads both forms WeCom has used: the current
// <Item>id</Item> list and the older comma-separated text.
type cbMemChangeList struct {
	Items []string `xml:"Item"`
	Text  string   `xml:",chardata"`
}

func (l cbMemChangeList) String() string {
	if len(l.Items) > 0 {
		return strings.Join(l.Items, ",")
	}
	return strings.TrimSpace(l.Text)
}

// cbSelectedItem is one answer of a template card (vote or multiple choice).
type cbSelectedItem struct {
	QuestionKey string   `xml:"QuestionKey"`
	OptionIds   []string `xml:"OptionIds>OptionId"`
}

// ParseWeCom normalizes a decrypted WeCom callback: app messages and events,
// customer-contact, customer-group and tag changes, and kf_msg_or_event. It
// returns ErrMalformed only when the input is not XML.
func ParseWeCom(plainXML []byte) (*Event, error) {
	return cbParse(EventChannelWeCom, plainXML)
}

// ParseOA normalizes an Official Account callback, plaintext or decrypted
// from safe mode. It returns ErrMalformed only when the input is not XML.
func ParseOA(plainXML []byte) (*Event, error) {
	return cbParse(EventChannelOA, plainXML)
}

func cbParse(channel string, plainXML []byte) (*Event, error) {
	var x cbCallbackXML
	if err := xml.Unmarshal(plainXML, &x); err != nil {
		return nil, fmt.Errorf("wecom: parse %s callback: %w: %w", channel, ErrMalformed, err)
	}
	e := &Event{
		Channel: channel,
		FromID:  x.FromUserName,
		ToID:    x.ToUserName,
		Attrs:   make(map[string]string, 8),
		// Copy: callers may hand in a buffer their HTTP server reuses.
		Raw: bytes.Clone(plainXML),
	}
	if sec, err := strconv.ParseInt(strings.TrimSpace(x.CreateTime), 10, 64); err == nil && sec > 0 {
		e.CreateTime = time.Unix(sec, 0).UTC()
	}

	msgType := strings.ToLower(strings.TrimSpace(x.MsgType))
	switch {
	case msgType == "event":
		ev := strings.ToLower(strings.TrimSpace(x.Event))
		switch {
		case ev == "":
			e.Kind = KindUnknown
		case cbChangeEvents[ev] && x.ChangeType != "":
			e.Kind = KindEventPrefix + ev + "." + strings.ToLower(x.ChangeType)
		default:
			e.Kind = KindEventPrefix + ev
		}
	case cbMessageKinds[msgType] != "":
		e.Kind = cbMessageKinds[msgType]
		e.MsgID = x.MsgId
	default:
		e.Kind = KindUnknown
		e.MsgID = x.MsgId
	}

	switch channel {
	case EventChannelOA:
		e.CustomerID = x.FromUserName
	default:
		switch {
		case x.UserID != "":
			e.StaffID = x.UserID
		case x.FromUserName != "sys":
			e.StaffID = x.FromUserName
		}
		e.CustomerID = x.ExternalUserID
	}

	e.Text = cbRenderText(e.Kind, &x)
	cbFillAttrs(e.Attrs, &x)
	return e, nil
}

// cbRenderText is the Text of an event: the message itself for text, a short
// readable stand-in for other messages, nothing for events.
func cbRenderText(kind string, x *cbCallbackXML) string {
	switch kind {
	case "text":
		return x.Content
	case "image":
		return "[图片]"
	case "voice":
		if x.Recognition != "" {
			return "[语音] " + x.Recognition
		}
		return "[语音]"
	case "video":
		return "[视频]"
	case "location":
		label := x.Label
		if label == "" && (x.LocationX != "" || x.LocationY != "") {
			label = x.LocationX + "," + x.LocationY
		}
		return strings.TrimSpace("[位置] " + label)
	case "link":
		return strings.TrimSpace(strings.TrimSpace("[链接] "+x.Title) + " " + x.Url)
	}
	return ""
}

func cbFillAttrs(m map[string]string, x *cbCallbackXML) {
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("MsgType", x.MsgType)
	set("Event", x.Event)
	set("AgentID", x.AgentID)
	set("MsgID", x.MsgID)

	set("PicUrl", x.PicUrl)
	set("MediaId", x.MediaId)
	set("Format", x.Format)
	set("Recognition", x.Recognition)
	set("ThumbMediaId", x.ThumbMediaId)
	set("Location_X", x.LocationX)
	set("Location_Y", x.LocationY)
	set("Scale", x.Scale)
	set("Label", x.Label)
	set("Title", x.Title)
	set("Description", x.Description)
	set("Url", x.Url)

	set("EventKey", x.EventKey)
	set("Ticket", x.Ticket)
	set("Latitude", x.Latitude)
	set("Longitude", x.Longitude)
	set("Precision", x.Precision)
	set("MenuId", x.MenuId)
	set("Status", x.Status)

	set("ChangeType", x.ChangeType)
	set("UserID", x.UserID)
	set("ExternalUserID", x.ExternalUserID)
	set("State", x.State)
	set("WelcomeCode", x.WelcomeCode)
	set("Source", x.Source)
	set("FailReason", x.FailReason)

	set("ChatId", x.ChatId)
	set("UpdateDetail", x.UpdateDetail)
	set("JoinScene", x.JoinScene)
	set("QuitScene", x.QuitScene)
	set("MemChangeCnt", x.MemChangeCnt)
	set("MemChangeList", x.MemChangeList.String())
	set("LastMemVer", x.LastMemVer)
	set("CurMemVer", x.CurMemVer)

	set("Id", x.Id)
	set("TagType", x.TagType)
	set("StrategyId", x.StrategyId)

	set("Token", x.Token)
	set("OpenKfId", x.OpenKfId)

	set("TaskId", x.TaskId)
	set("CardType", x.CardType)
	set("ResponseCode", x.ResponseCode)
	if len(x.SelectedItems) > 0 {
		// "question:option,option;question:option"
		var b strings.Builder
		for i, it := range x.SelectedItems {
			if i > 0 {
				b.WriteByte(';')
			}
			b.WriteString(it.QuestionKey)
			b.WriteByte(':')
			b.WriteString(strings.Join(it.OptionIds, ","))
		}
		set("SelectedItems", b.String())
	}
	set("ScanType", x.ScanType)
	set("ScanResult", x.ScanResult)
}

// cbDedupExtras are the fields, besides the documented FromUserName,
// CreateTime, Event, ChangeType, UserID and ExternalUserID, that tell apart
// events of the same second: two apps, two customer groups or two changes of
// one group, two tags, two template cards or menu keys. All of them are
// stable across platform retries; volatile ones (WelcomeCode, ResponseCode)
// are deliberately left out.
var cbDedupExtras = [...]string{
	"AgentID", "ChatId", "UpdateDetail", "MemChangeList", "CurMemVer",
	"Id", "TagType", "StrategyId", "TaskId", "EventKey",
}

// DedupKey returns the key under which the event is stored once: a platform
// retry of the same callback gets the same key, and distinct callbacks get
// distinct keys.
//
//	messages:        msg:<channel>:<MsgId>
//	kf_msg_or_event: kf:<Token>
//	events:          <channel>:evt:<FromUserName>:<CreateTime>:<Event>:<ChangeType>:<UserID>:<ExternalUserID>[:<Name>=<value>...]
//
// The optional name=value parts come from cbDedupExtras, in that order, when
// present. Components are escaped so a ':' inside a value cannot make two
// keys equal. A message without MsgId uses the event form plus its MsgType
// and a digest of its XML.
func (e *Event) DedupKey() string {
	attr := func(k string) string { return e.Attrs[k] }
	if e.Kind == KindKFMsgOrEvent && attr("Token") != "" {
		return "kf:" + cbDedupEscape(attr("Token"))
	}
	isEvent := IsEventKind(e.Kind) || strings.EqualFold(attr("MsgType"), "event")
	if !isEvent && e.MsgID != "" {
		return "msg:" + e.Channel + ":" + cbDedupEscape(e.MsgID)
	}

	var created string
	if !e.CreateTime.IsZero() {
		created = strconv.FormatInt(e.CreateTime.Unix(), 10)
	}
	var b strings.Builder
	b.Grow(96)
	b.WriteString(e.Channel)
	b.WriteString(":evt")
	for _, v := range [...]string{e.FromID, created, attr("Event"), attr("ChangeType"), attr("UserID"), attr("ExternalUserID")} {
		b.WriteByte(':')
		b.WriteString(cbDedupEscape(v))
	}
	for _, k := range cbDedupExtras {
		if v := attr(k); v != "" {
			b.WriteByte(':')
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(cbDedupEscape(v))
		}
	}
	if !isEvent {
		b.WriteString(":MsgType=")
		b.WriteString(cbDedupEscape(attr("MsgType")))
		if len(e.Raw) > 0 {
			sum := sha1.Sum(e.Raw)
			b.WriteString(":Raw=")
			b.WriteString(hex.EncodeToString(sum[:10]))
		}
	}
	return b.String()
}

// cbDedupEscape percent-escapes the separator ':' and the escape '%' itself.
func cbDedupEscape(s string) string {
	if !strings.ContainsAny(s, ":%") {
		return s
	}
	return strings.NewReplacer("%", "%25", ":", "%3A").Replace(s)
}
