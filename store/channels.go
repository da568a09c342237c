package store

import (
	"context"
	"fmt"
	"time"
)

// This file declares acquisition channels (渠道): the QR codes a customer
// scans to reach the company — a WeCom contact way (联系我), a group join
// code (加入群聊) or an Official Account parametric QR code — and the
// channel events that attribute customers to them. Statistics per channel
// are computed from those events, so they are written once per callback
// (keyed) and never rewritten.

// Channel kinds.
const (
	ChannelKindContactWay = "contact_way" // externalcontact/add_contact_way
	ChannelKindJoinWay    = "join_way"    // externalcontact/groupchat/add_join_way
	ChannelKindOAQRCode   = "oa_qrcode"   // OA qrcode/create, QR_LIMIT_STR_SCENE
)

// MaxStateLen is WeCom's limit on a contact way's state.
const MaxStateLen = 30

// MaxWelcomeAttachments is send_welcome_msg's attachment limit.
const MaxWelcomeAttachments = 9

// Channel is one acquisition channel.
type Channel struct {
	ID    string         `json:"id"`
	Name  string         `json:"name"`
	Kind  string         `json:"kind"`
	Staff []ChannelStaff `json:"staff"`
	// Backup takes the adds once every member of Staff reached DailyCap
	// adds today (0: no cap).
	Backup     []string `json:"backup,omitempty"`
	DailyCap   int      `json:"daily_cap,omitempty"`
	SkipVerify bool     `json:"skip_verify"`
	Tags       []string `json:"tags"`
	Welcome    Welcome  `json:"welcome"`
	// ChatIDs and AutoCreateRoom are a join way's groups (≤ 5).
	ChatIDs        []string `json:"chat_ids,omitempty"`
	AutoCreateRoom bool     `json:"auto_create_room,omitempty"`
	// ConfigID is WeCom's id of the contact or join way (the OA ticket for
	// an OA QR code); State identifies the channel in callbacks (the OA
	// scene string).
	ConfigID string `json:"config_id"`
	State    string `json:"state"`
	QRCode   string `json:"qr_code"`
	// ActiveStaff is the member list last applied to the contact way in
	// WeCom (by an edit or the rota, bot/channel_rota.go): the rota calls
	// update_contact_way only when who should take the adds differs.
	ActiveStaff []string   `json:"active_staff,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	DeletedAt   *time.Time `json:"deleted_at,omitempty"`
}

// ChannelStaff is a member who takes a channel's adds, on an optional
// schedule: no shifts means always.
type ChannelStaff struct {
	UserID   string  `json:"userid"`
	Schedule []Shift `json:"schedule,omitempty"`
}

// Shift is a period of a week: the weekdays (0 Sunday … 6 Saturday) and a
// time of day range "HH:MM"–"HH:MM" in the business time zone.
type Shift struct {
	Weekdays []int  `json:"weekdays"`
	Start    string `json:"start"`
	End      string `json:"end"`
}

// Welcome is the message sent through send_welcome_msg.
type Welcome struct {
	Text        string              `json:"text"`
	Attachments []WelcomeAttachment `json:"attachments,omitempty"`
}

// WelcomeAttachment is one attachment of a welcome. An image is sent by
// PicURL, or uploaded from Data (media/upload, renewed before its 3 days
// lapse); a file or video is uploaded from Data.
type WelcomeAttachment struct {
	Type    string `json:"type"` // image, link, miniprogram, file, video
	Title   string `json:"title,omitempty"`
	URL     string `json:"url,omitempty"`     // link
	PicURL  string `json:"pic_url,omitempty"` // image or link cover
	Desc    string `json:"desc,omitempty"`
	AppID   string `json:"appid,omitempty"` // miniprogram
	Page    string `json:"page,omitempty"`  // miniprogram
	Name    string `json:"name,omitempty"`  // file name of Data
	Data    []byte `json:"data,omitempty"`  // image, file or video content
	MediaID string `json:"media_id,omitempty"`
}

// ChannelFilter selects channels for FindChannels.
type ChannelFilter struct {
	Kind           string
	IncludeDeleted bool
}

// Channel event kinds.
const (
	ChannelEventAdd    = "add"    // a customer added a member (or joined a group, or followed the OA) through the channel
	ChannelEventDelete = "delete" // the customer deleted the member they added through the channel (del_follow_user)
)

// ChannelEvent attributes one add or deletion to a channel.
type ChannelEvent struct {
	Key        string    `json:"key"` // unique: recording the same key again changes nothing
	ChannelID  string    `json:"channel_id"`
	Kind       string    `json:"kind"`
	CustomerID string    `json:"customer_id"`
	StaffID    string    `json:"staff_id,omitempty"`
	At         time.Time `json:"at"`
}

// ChannelEventFilter selects channel events. Zero fields match everything;
// From is inclusive and To exclusive.
type ChannelEventFilter struct {
	ChannelID  string
	CustomerID string
	StaffID    string
	Kind       string
	From, To   time.Time
}

// ChannelStore keeps channels and their events.
type ChannelStore interface {
	// CreateChannel stores c. ErrInvalid without ID, Name, Kind or State,
	// or with a State longer than MaxStateLen; ErrConflict when the ID or
	// the State is taken (by a deleted channel too: states are never
	// reused, so an old callback never lands on a new channel).
	CreateChannel(ctx context.Context, c *Channel) error
	// UpdateChannel replaces the stored channel with c (its ID and State
	// cannot change). ErrNotFound if it does not exist or is deleted.
	UpdateChannel(ctx context.Context, c *Channel) error
	// DeleteChannel marks the channel deleted at at; its events stay.
	// ErrNotFound if it does not exist or is already deleted.
	DeleteChannel(ctx context.Context, id string, at time.Time) error
	// FindChannelByID returns a channel, deleted ones too; ErrNotFound.
	FindChannelByID(ctx context.Context, id string) (*Channel, error)
	// FindChannelByState returns the channel whose State is state, deleted
	// ones too; ErrNotFound.
	FindChannelByState(ctx context.Context, state string) (*Channel, error)
	// FindChannels returns channels by creation time, then ID.
	FindChannels(ctx context.Context, f ChannelFilter) ([]*Channel, error)
	// RecordChannelEvent stores e unless an event with its Key exists and
	// reports whether it was stored. ErrInvalid without Key, ChannelID,
	// Kind, CustomerID or At.
	RecordChannelEvent(ctx context.Context, e ChannelEvent) (bool, error)
	// FindChannelEvents returns the matching events by At, then Key.
	FindChannelEvents(ctx context.Context, f ChannelEventFilter) ([]ChannelEvent, error)
}

// ValidateChannel checks what CreateChannel requires.
func ValidateChannel(c *Channel) error {
	switch {
	case c == nil || c.ID == "" || c.Name == "" || c.State == "":
		return fmt.Errorf("channel needs an id, a name and a state: %w", ErrInvalid)
	case len([]rune(c.State)) > MaxStateLen:
		return fmt.Errorf("channel state longer than %d characters: %w", MaxStateLen, ErrInvalid)
	case c.Kind != ChannelKindContactWay && c.Kind != ChannelKindJoinWay && c.Kind != ChannelKindOAQRCode:
		return fmt.Errorf("channel kind %q: %w", c.Kind, ErrInvalid)
	case len(c.Welcome.Attachments) > MaxWelcomeAttachments:
		return fmt.Errorf("more than %d welcome attachments: %w", MaxWelcomeAttachments, ErrInvalid)
	}
	return nil
}

// ValidateChannelEvent checks what RecordChannelEvent requires.
func ValidateChannelEvent(e ChannelEvent) error {
	if e.Key == "" || e.ChannelID == "" || e.Kind == "" || e.CustomerID == "" || e.At.IsZero() {
		return fmt.Errorf("channel event needs a key, channel, kind, customer and time: %w", ErrInvalid)
	}
	return nil
}
