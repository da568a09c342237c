package wecom

import "strings"

// Event kinds as Event.Kind spells them. ParseWeCom and ParseOA build kinds
// from the callback's MsgType, Event and ChangeType (see cbParse); the
// processors match them through these names, so a kind is spelled in one
// place and a reader can find every handler of it with one search.
const (
	// KindUnknown is any callback scrm has no name for. It is stored and
	// acknowledged like any other, never an error.
	KindUnknown = "unknown"

	// Messages.
	KindText     = "text"
	KindImage    = "image"
	KindVoice    = "voice"
	KindVideo    = "video"
	KindLocation = "location"
	KindLink     = "link"

	// KindEventPrefix starts every event kind: "event.<event>[.<changetype>]".
	KindEventPrefix = "event."

	// Official Account follower events.
	KindSubscribe   = KindEventPrefix + "subscribe"
	KindUnsubscribe = KindEventPrefix + "unsubscribe"
	KindScan        = KindEventPrefix + "scan"

	// WeCom app events.
	KindTemplateCardEvent = KindEventPrefix + "template_card_event" // a button pressed on a template card
	KindChangeContact     = KindEventPrefix + "change_contact"      // the address book (通讯录) changed
	KindKFMsgOrEvent      = KindEventPrefix + "kf_msg_or_event"     // 微信客服 has messages to pull

	// Customer contact (客户联系) events: change_external_contact.<ChangeType>.
	KindContactPrefix          = KindEventPrefix + "change_external_contact."
	KindAddExternalContact     = KindContactPrefix + "add_external_contact"
	KindEditExternalContact    = KindContactPrefix + "edit_external_contact"
	KindAddHalfExternalContact = KindContactPrefix + "add_half_external_contact"
	KindDelExternalContact     = KindContactPrefix + "del_external_contact"
	KindDelFollowUser          = KindContactPrefix + "del_follow_user"
	KindTransferFail           = KindContactPrefix + "transfer_fail"

	// Customer group (客户群) events: change_external_chat.<ChangeType>.
	KindChatPrefix = KindEventPrefix + "change_external_chat."

	// Corp tag events: change_external_tag.<ChangeType>.
	KindTagPrefix = KindEventPrefix + "change_external_tag."
)

// IsEventKind reports whether kind names an event rather than a message.
func IsEventKind(kind string) bool { return strings.HasPrefix(kind, KindEventPrefix) }

// IsMessageKind reports whether kind names a message a person wrote or sent
// (text, image, …): neither an event nor unknown.
func IsMessageKind(kind string) bool { return !IsEventKind(kind) && kind != KindUnknown }
