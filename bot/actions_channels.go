package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// Channels (渠道活码): the QR codes customers come through. Creating,
// editing and deleting one is an action of admins and managers that follows
// in WeCom (add/update/del_contact_way, add/del_join_way, OA qrcode/create);
// attributing an add to a channel (Attribute) is the core's own action.

// Audit actions of channels.
const (
	AuditChannelCreate = "channel_create"
	AuditChannelUpdate = "channel_update"
	AuditChannelDelete = "channel_delete"
	AuditChannelAdd    = "channel_add" // a customer attributed to a channel
)

// SourceChannel is the door of what a channel does on its own (its tags).
const SourceChannel = "channel"

// Channel bounds.
const (
	MaxChannelNameRunes  = 30
	MaxChannelStaff      = 100
	MaxChannelTags       = 20
	MaxWelcomeTextRunes  = 1500
	MaxJoinWayChats      = 5
	MaxAttachmentBytes   = 10 << 20
	MaxAttachmentsBytes  = 10 << 20 // all of a channel's uploads together
	channelStatePrefix   = "scrm-"
	channelIDRandomBytes = 6
)

// ChannelAPI is the part of WeCom (and the Official Account) a channel
// follows into.
type ChannelAPI interface {
	AddContactWay(ctx context.Context, w wecom.ContactWay) (configID, qrCode string, err error)
	UpdateContactWay(ctx context.Context, w wecom.ContactWay) error
	DelContactWay(ctx context.Context, configID string) error
	AddJoinWay(ctx context.Context, w wecom.JoinWay) (string, error)
	GetJoinWay(ctx context.Context, configID string) (*wecom.JoinWay, error)
	DelJoinWay(ctx context.Context, configID string) error
	CreateOAQRCode(ctx context.Context, scene string) (ticket, qrURL string, err error)
}

// SetChannelAPI gives the core the WeCom API that channels follow into;
// without it creating a channel is refused.
func (c *Core) SetChannelAPI(api ChannelAPI) { c.chAPI = api }

// ChannelRequest creates a channel or (with nil fields left alone) edits one.
type ChannelRequest struct {
	Name           *string               `json:"name"`
	Kind           string                `json:"kind"`
	Staff          *[]store.ChannelStaff `json:"-"`
	Backup         *[]string             `json:"backup"`
	DailyCap       *int                  `json:"daily_cap"`
	SkipVerify     *bool                 `json:"skip_verify"`
	Tags           *[]string             `json:"tags"`
	Welcome        *store.Welcome        `json:"welcome"`
	ChatIDs        *[]string             `json:"chat_ids"`
	AutoCreateRoom *bool                 `json:"auto_create_room"`
}

func mayManageChannels(a Actor) error {
	if a.Role == RoleAdmin || a.Role == RoleManager {
		return nil
	}
	return forbidden("only admins and managers manage channels", "只有管理员和主管可以管理渠道活码。")
}

// applyChannel applies req to ch and checks the result.
func applyChannel(ch *store.Channel, req ChannelRequest) error {
	if req.Name != nil {
		ch.Name = strings.TrimSpace(*req.Name)
	}
	if req.Staff != nil {
		ch.Staff = slices.Clone(*req.Staff)
	}
	if req.Backup != nil {
		ch.Backup = slices.Clone(*req.Backup)
	}
	if req.DailyCap != nil {
		ch.DailyCap = *req.DailyCap
	}
	if req.SkipVerify != nil {
		ch.SkipVerify = *req.SkipVerify
	}
	if req.Tags != nil {
		ch.Tags = slices.Clone(*req.Tags)
	}
	if req.Welcome != nil {
		ch.Welcome = *req.Welcome
	}
	if req.ChatIDs != nil {
		ch.ChatIDs = slices.Clone(*req.ChatIDs)
	}
	if req.AutoCreateRoom != nil {
		ch.AutoCreateRoom = *req.AutoCreateRoom
	}
	if ch.Tags == nil {
		ch.Tags = []string{}
	}
	if ch.Staff == nil {
		ch.Staff = []store.ChannelStaff{}
	}
	if n := utf8.RuneCountInString(ch.Name); n == 0 || n > MaxChannelNameRunes {
		t := fmt.Sprintf("渠道名称需为 1 到 %d 个字", MaxChannelNameRunes)
		return invalid(fmt.Sprintf("name must be 1..%d characters", MaxChannelNameRunes), t+"。")
	}
	switch ch.Kind {
	case store.ChannelKindContactWay:
		if len(ch.Staff) == 0 || len(ch.Staff) > MaxChannelStaff {
			t := fmt.Sprintf("联系我渠道需要 1 到 %d 位员工", MaxChannelStaff)
			return invalid(fmt.Sprintf("a contact way needs 1..%d staff", MaxChannelStaff), t+"。")
		}
	case store.ChannelKindJoinWay:
		if len(ch.ChatIDs) == 0 || len(ch.ChatIDs) > MaxJoinWayChats {
			t := fmt.Sprintf("加入群聊渠道需要 1 到 %d 个群", MaxJoinWayChats)
			return invalid(fmt.Sprintf("a join way needs 1..%d groups", MaxJoinWayChats), t+"。")
		}
	case store.ChannelKindOAQRCode:
	default:
		return invalid("kind must be contact_way, join_way or oa_qrcode", "渠道类型需为 contact_way、join_way 或 oa_qrcode。")
	}
	seen := map[string]bool{}
	for _, s := range slices.Concat(ch.Staff, toChannelStaff(ch.Backup)) {
		if s.UserID == "" || seen[s.UserID] || ReservedStaffID(s.UserID) {
			return invalid("staff must be distinct user ids", "员工不能为空或重复："+s.UserID)
		}
		seen[s.UserID] = true
		for _, sh := range s.Schedule {
			if err := checkShift(sh); err != nil {
				return err
			}
		}
	}
	if ch.DailyCap < 0 || ch.DailyCap > 100000 {
		return invalid("daily_cap must be 0..100000", "每日上限需为 0 到 100000。")
	}
	if len(ch.Tags) > MaxChannelTags {
		return invalid(fmt.Sprintf("at most %d tags", MaxChannelTags), fmt.Sprintf("一个渠道最多 %d 个标签。", MaxChannelTags))
	}
	if err := validateTags(ch.Tags, nil); err != nil {
		return err
	}
	return checkWelcome(ch.Welcome)
}

func toChannelStaff(ids []string) []store.ChannelStaff {
	out := make([]store.ChannelStaff, len(ids))
	for i, id := range ids {
		out[i] = store.ChannelStaff{UserID: id}
	}
	return out
}

func checkShift(sh store.Shift) error {
	bad := invalid("a shift needs weekdays 0..6 and start < end as HH:MM", "排班需填写星期（0–6）和开始、结束时间（HH:MM，开始早于结束）。")
	if len(sh.Weekdays) == 0 {
		return bad
	}
	for _, d := range sh.Weekdays {
		if d < 0 || d > 6 {
			return bad
		}
	}
	s, err1 := time.Parse("15:04", sh.Start)
	e, err2 := time.Parse("15:04", sh.End)
	if err1 != nil || err2 != nil || !s.Before(e) {
		return bad
	}
	return nil
}

func checkWelcome(w store.Welcome) error {
	if utf8.RuneCountInString(w.Text) > MaxWelcomeTextRunes {
		return invalid(fmt.Sprintf("welcome text at most %d characters", MaxWelcomeTextRunes), fmt.Sprintf("欢迎语最多 %d 个字。", MaxWelcomeTextRunes))
	}
	if len(w.Attachments) > store.MaxWelcomeAttachments {
		return invalid("at most 9 welcome attachments", "欢迎语最多 9 个附件。")
	}
	total := 0
	for _, at := range w.Attachments {
		total += len(at.Data)
		bad := func(what string) error { return invalid("attachment: "+what, "附件有误："+what+"。") }
		switch at.Type {
		case "image":
			if at.PicURL == "" && len(at.Data) == 0 {
				return bad("image needs pic_url or data")
			}
		case "link":
			if at.Title == "" || at.URL == "" {
				return bad("link needs title and url")
			}
		case "miniprogram":
			if at.Title == "" || at.AppID == "" || at.Page == "" || len(at.Data) == 0 {
				return bad("miniprogram needs title, appid, page and a cover image (data)")
			}
		case "file", "video":
			if len(at.Data) == 0 || at.Name == "" {
				return bad(at.Type + " needs name and data")
			}
		default:
			return bad("type must be image, link, miniprogram, file or video")
		}
		if len(at.Data) > MaxAttachmentBytes {
			return bad("larger than 10 MB")
		}
	}
	if total > MaxAttachmentsBytes {
		return invalid("attachments larger than 10 MB together", "附件合计不能超过 10 MB。")
	}
	return nil
}

func newChannelID() string { return "ch" + randomHex(channelIDRandomBytes) }

// CreateChannel creates a channel and follows it into WeCom: the channel is
// stored once WeCom answered with its config_id and QR code.
func (c *Core) CreateChannel(ctx context.Context, a Actor, req ChannelRequest) (*store.Channel, error) {
	if err := mayManageChannels(a); err != nil {
		return nil, err
	}
	if c.chAPI == nil {
		return nil, &ActionError{Err: store.ErrInvalid, Reason: "the WeCom API is not configured", Text: "未配置企业微信接口，无法创建渠道活码。"}
	}
	now := c.Now()
	id := newChannelID()
	ch := &store.Channel{ID: id, Kind: req.Kind, State: channelStatePrefix + id, CreatedAt: now, UpdatedAt: now}
	if ch.Kind == "" {
		ch.Kind = store.ChannelKindContactWay
	}
	if err := applyChannel(ch, req); err != nil {
		return nil, err
	}
	if err := c.audit(ctx, a, AuditChannelCreate, id, "name="+ch.Name+" kind="+ch.Kind, now); err != nil {
		return nil, err
	}
	var err error
	switch ch.Kind {
	case store.ChannelKindContactWay:
		w := contactWayOf(ch, now)
		ch.ConfigID, ch.QRCode, err = c.chAPI.AddContactWay(ctx, w)
		ch.ActiveStaff = w.User
	case store.ChannelKindJoinWay:
		ch.ConfigID, err = c.chAPI.AddJoinWay(ctx, joinWayOf(ch))
		if err == nil {
			var jw *wecom.JoinWay
			if jw, err = c.chAPI.GetJoinWay(ctx, ch.ConfigID); err == nil {
				ch.QRCode = jw.QRCode
			}
		}
	case store.ChannelKindOAQRCode:
		var ticket string
		ticket, _, err = c.chAPI.CreateOAQRCode(ctx, ch.State)
		ch.ConfigID, ch.QRCode = ticket, wecom.OAQRCodeImageBase+ticket
	}
	if err != nil {
		return nil, channelAPIError(err)
	}
	if err := c.st.CreateChannel(ctx, ch); err != nil {
		return nil, fmt.Errorf("actions: create channel: %w", err)
	}
	return ch, nil
}

// channelAPIError turns WeCom's refusals into a refusal of the action.
func channelAPIError(err error) error {
	if code := wecom.APIErrorCode(err); code != 0 && !errors.Is(err, wecom.ErrAPIBusy) && !errors.Is(err, wecom.ErrAPIRateLimited) {
		return &ActionError{Err: store.ErrInvalid, Reason: err.Error(),
			Text: fmt.Sprintf("企业微信拒绝了该操作（错误码 %d）：请检查员工是否在应用可见范围内、群是否存在。", code)}
	}
	return fmt.Errorf("actions: channel in wecom: %w", err)
}

func contactWayOf(ch *store.Channel, now time.Time) wecom.ContactWay {
	users := activeStaff(ch, now, time.UTC, nil)
	// A single-member way (type 1) refuses a list of several (40058), so
	// it is single only when the rota can never put two members on it.
	typ := 2
	if len(users) == 1 && len(ch.Staff) == 1 && len(ch.Backup) <= 1 {
		typ = 1
	}
	return wecom.ContactWay{Type: typ, Scene: 2, Remark: truncRunes(ch.Name, 30), SkipVerify: ch.SkipVerify, State: ch.State, User: users, ConfigID: ch.ConfigID}
}

func joinWayOf(ch *store.Channel) wecom.JoinWay {
	auto := 0
	if ch.AutoCreateRoom {
		auto = 1
	}
	w := wecom.JoinWay{Scene: 2, Remark: truncRunes(ch.Name, 30), AutoCreateRoom: auto, ChatIDList: ch.ChatIDs, State: ch.State}
	if auto == 1 {
		w.RoomBaseName, w.RoomBaseID = truncRunes(ch.Name, 40), 1
	}
	return w
}

func truncRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// activeStaff is who takes a channel's adds at now: the members on shift
// (a member without a schedule is always on) under the daily cap, else the
// backup staff, else everyone (a code must always reach someone).
// addsToday counts today's adds per member.
func activeStaff(ch *store.Channel, now time.Time, loc *time.Location, addsToday map[string]int) []string {
	local := now.In(loc)
	wd, hm := int(local.Weekday()), local.Format("15:04")
	var on []string
	for _, s := range ch.Staff {
		if !onShift(s.Schedule, wd, hm) {
			continue
		}
		if ch.DailyCap > 0 && addsToday[s.UserID] >= ch.DailyCap {
			continue
		}
		on = append(on, s.UserID)
	}
	if len(on) > 0 {
		return on
	}
	if len(ch.Backup) > 0 {
		return slices.Clone(ch.Backup)
	}
	all := make([]string, len(ch.Staff))
	for i, s := range ch.Staff {
		all[i] = s.UserID
	}
	return all
}

func onShift(shifts []store.Shift, wd int, hm string) bool {
	if len(shifts) == 0 {
		return true
	}
	for _, sh := range shifts {
		if slices.Contains(sh.Weekdays, wd) && hm >= sh.Start && hm < sh.End {
			return true
		}
	}
	return false
}

// UpdateChannel edits a channel and follows the edit into WeCom.
func (c *Core) UpdateChannel(ctx context.Context, a Actor, id string, req ChannelRequest) (*store.Channel, error) {
	if err := mayManageChannels(a); err != nil {
		return nil, err
	}
	ch, err := c.liveChannel(ctx, id)
	if err != nil {
		return nil, err
	}
	req.Kind = ""
	if req.ChatIDs != nil && ch.Kind == store.ChannelKindJoinWay {
		return nil, invalid("a join way's groups cannot change; create another channel", "加入群聊渠道的群不能修改，请新建渠道。")
	}
	if err := applyChannel(ch, req); err != nil {
		return nil, err
	}
	now := c.Now()
	ch.UpdatedAt = now
	if err := c.audit(ctx, a, AuditChannelUpdate, id, "name="+ch.Name, now); err != nil {
		return nil, err
	}
	if ch.Kind == store.ChannelKindContactWay && c.chAPI != nil {
		w := contactWayOf(ch, now)
		if err := c.chAPI.UpdateContactWay(ctx, w); err != nil {
			return nil, channelAPIError(err)
		}
		ch.ActiveStaff = w.User
	}
	if err := c.st.UpdateChannel(ctx, ch); err != nil {
		return nil, fmt.Errorf("actions: update channel: %w", err)
	}
	return ch, nil
}

func (c *Core) liveChannel(ctx context.Context, id string) (*store.Channel, error) {
	ch, err := c.st.FindChannelByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && ch.DeletedAt != nil) {
		return nil, &ActionError{Err: store.ErrNotFound, Reason: "channel not found", Text: "没有找到这个渠道。"}
	}
	if err != nil {
		return nil, fmt.Errorf("actions: find channel: %w", err)
	}
	return ch, nil
}

// DeleteChannel deletes a channel in WeCom (its code stops working) and
// marks it deleted: its customers keep their attribution.
func (c *Core) DeleteChannel(ctx context.Context, a Actor, id string) error {
	if err := mayManageChannels(a); err != nil {
		return err
	}
	ch, err := c.liveChannel(ctx, id)
	if err != nil {
		return err
	}
	now := c.Now()
	if err := c.audit(ctx, a, AuditChannelDelete, id, "name="+ch.Name, now); err != nil {
		return err
	}
	if c.chAPI != nil && ch.ConfigID != "" {
		var err error
		switch ch.Kind {
		case store.ChannelKindContactWay:
			err = c.chAPI.DelContactWay(ctx, ch.ConfigID)
		case store.ChannelKindJoinWay:
			err = c.chAPI.DelJoinWay(ctx, ch.ConfigID)
		}
		// 41044: already gone in WeCom (a retried delete).
		if err != nil && wecom.APIErrorCode(err) != 41044 {
			return channelAPIError(err)
		}
	}
	if err := c.st.DeleteChannel(ctx, id, now); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("actions: delete channel: %w", err)
	}
	return nil
}

// Channels lists the channels (admins and managers).
func (c *Core) Channels(ctx context.Context, a Actor) ([]*store.Channel, error) {
	if err := mayManageChannels(a); err != nil {
		return nil, err
	}
	return c.st.FindChannels(ctx, store.ChannelFilter{})
}

// Channel returns one channel (admins and managers).
func (c *Core) Channel(ctx context.Context, a Actor, id string) (*store.Channel, error) {
	if err := mayManageChannels(a); err != nil {
		return nil, err
	}
	return c.liveChannel(ctx, id)
}

// CustomerChannel is a customer's first channel, as the API shows it.
type CustomerChannel struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// CustomerChannels returns the channels a customer came through, the
// first first (nil when none).
func (c *Core) CustomerChannels(ctx context.Context, customerID string) ([]CustomerChannel, error) {
	evs, err := c.st.FindChannelEvents(ctx, store.ChannelEventFilter{CustomerID: customerID, Kind: store.ChannelEventAdd})
	if err != nil {
		return nil, fmt.Errorf("actions: channels of %s: %w", customerID, err)
	}
	var out []CustomerChannel
	for _, e := range evs {
		if slices.ContainsFunc(out, func(x CustomerChannel) bool { return x.ID == e.ChannelID }) {
			continue
		}
		name := e.ChannelID
		if ch, err := c.st.FindChannelByID(ctx, e.ChannelID); err == nil {
			name = ch.Name
		}
		out = append(out, CustomerChannel{ID: e.ChannelID, Name: name})
	}
	return out, nil
}

// ChannelCustomerIDs returns the IDs of the customers attributed to a
// channel, sorted.
func (c *Core) ChannelCustomerIDs(ctx context.Context, channelID string) ([]string, error) {
	evs, err := c.st.FindChannelEvents(ctx, store.ChannelEventFilter{ChannelID: channelID, Kind: store.ChannelEventAdd})
	if err != nil {
		return nil, fmt.Errorf("actions: customers of channel %s: %w", channelID, err)
	}
	ids := make([]string, 0, len(evs))
	for _, e := range evs {
		ids = append(ids, e.CustomerID)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// AttributeRequest attributes an add (or a deletion) to a channel.
type AttributeRequest struct {
	Channel    *store.Channel
	CustomerID string
	StaffID    string
	Kind       string // store.ChannelEventAdd or store.ChannelEventDelete
	Key        string // the callback's dedup key
	At         time.Time
}

// Attribute records that a customer came through (or, for a deletion, left
// a member they had added through) a channel: the audit entry, a timeline
// entry, the channel event the statistics count, then on an add the
// channel's tags through EditTags (written back to WeCom by its jobs). A
// retry with the same Key repeats nothing that was done.
func (c *Core) Attribute(ctx context.Context, a Actor, req AttributeRequest) error {
	ch := req.Channel
	at := c.at(req.At)
	if err := c.audit(ctx, a, AuditChannelAdd, req.CustomerID, "channel="+ch.ID+" kind="+req.Kind+" key="+req.Key, at); err != nil {
		return err
	}
	text := "通过渠道「" + ch.Name + "」添加"
	if req.Kind == store.ChannelEventDelete {
		text = "删除了通过渠道「" + ch.Name + "」添加的员工"
	}
	if _, err := c.st.AppendTimeline(ctx, &store.TimelineEntry{
		CustomerID: req.CustomerID, SourceKey: "channel:" + req.Kind + ":" + req.Key, Kind: store.EntryEvent, StaffID: req.StaffID,
		Text: text, Attrs: map[string]string{"change": "channel", "channel_id": ch.ID, "channel": ch.Name, "channel_event": req.Kind, "source": a.Source},
		At: at,
	}); err != nil {
		return fmt.Errorf("actions: channel entry of %s: %w", req.CustomerID, err)
	}
	if _, err := c.st.RecordChannelEvent(ctx, store.ChannelEvent{Key: req.Kind + ":" + req.Key, ChannelID: ch.ID, Kind: req.Kind,
		CustomerID: req.CustomerID, StaffID: req.StaffID, At: at}); err != nil {
		return fmt.Errorf("actions: channel event of %s: %w", req.CustomerID, err)
	}
	if req.Kind != store.ChannelEventAdd || len(ch.Tags) == 0 {
		return nil
	}
	cu, err := c.st.FindCustomerByID(ctx, req.CustomerID)
	if err != nil {
		return fmt.Errorf("actions: channel tags of %s: %w", req.CustomerID, err)
	}
	var add []string
	for _, t := range ch.Tags {
		if !slices.Contains(cu.Tags, t) {
			add = append(add, t)
		}
	}
	if len(add) == 0 {
		return nil
	}
	_, err = c.EditTags(ctx, a, TagsRequest{CustomerID: req.CustomerID, Add: add, Key: "channel:" + req.Key, At: at, LocalGroup: "渠道"})
	return err
}
