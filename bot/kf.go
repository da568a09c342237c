package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// KFPage is one page of 微信客服 kf/sync_msg.
type KFPage struct {
	NextCursor string
	HasMore    bool
	Messages   []KFMessage
}

// KFMessage is one message or event of a KFPage.
type KFMessage struct {
	MsgID          string
	OpenKfID       string
	ExternalUserID string
	SendTime       time.Time
	Origin         int    // 3 customer, 4 system event, 5 servicer writing in the WeCom client
	MsgType        string // text, image, voice, video, file, location, link, event, ...
	Text           string // the text of a text message
	MenuID         string // set when the customer tapped a menu item
	Raw            []byte // the message JSON as the API returned it
}

// KFOriginCustomer is the origin of messages written by the customer.
const KFOriginCustomer = 3

// KFSource pulls kf messages. token is the kf_msg_or_event callback's Token.
// An expired or unknown token must yield an error matching
// ErrKFTokenInvalid.
type KFSource interface {
	KFSyncMsg(ctx context.Context, cursor, token string, limit int, openKfID string) (*KFPage, error)
}

// Leaser hands out named, expiring leases shared by all instances
// (coord.Local or coord.Redis).
type Leaser interface {
	Acquire(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	Release(ctx context.Context, name, owner string) error
}

// KFStore is what the kf processor reads and writes.
type KFStore interface {
	AppendEvents(ctx context.Context, evs []*store.Event) ([]bool, error)
	FindCustomerByIdentity(ctx context.Context, id store.Identity) (*store.Customer, error)
	UpsertCustomer(ctx context.Context, u store.CustomerUpsert) (*store.Customer, error)
	cursors                                                                  // each account's sync cursor
	SetKFAccount(ctx context.Context, externalUserID, openKfID string) error // replies go through it
}

// KFOptions tunes the kf processor; zero values take the defaults.
type KFOptions struct {
	Owner    string        // this instance's identity in leases
	Lease    time.Duration // how long one pull may hold an account (default 2 min, renewed per page)
	PageSize int           // messages per sync_msg call (default 1000, the API's maximum)
	MaxPages int           // pages per pull before yielding (default 200)
	Now      func() time.Time
	Logger   *slog.Logger
}

// KFSync is the processor that turns a kf_msg_or_event callback into stored
// customer messages. The callback carries only a Token, so the processor
// pulls kf/sync_msg from the account's cursor and appends every customer
// message to the log as its own event (channel kf, dedup key
// "kf:msg:<msgid>"); the rest of the pipeline then treats them like any
// other message. The cursor is saved only after the page's events are
// stored, so a crash repeats a page and the dedup keys absorb the repeat.
//
// One instance pulls an account at a time (lease "kf:<open_kfid>"):
// concurrent pulls would be harmless thanks to the dedup keys, but they
// waste sync_msg calls, which the platform limits (45033 above five
// concurrent calls). A callback that finds the lease taken is retried by the
// pipeline, so its messages are pulled by whichever pull runs next.
//
// The kf external_userid is the same id WeCom's 客户联系 uses for that person
// in this corp, so each kf user is linked to the external_userid identity:
// a customer who writes to 微信客服 and is also a salesperson's WeCom
// contact is one customer with one timeline.
type KFSync struct {
	st  KFStore
	src KFSource
	lk  Leaser
	o   KFOptions
}

// ErrKFTokenInvalid means sync_msg rejected the callback's token (it lives
// 10 minutes, so a callback processed late has a dead one). The pull then
// goes on without a token, which the API allows at a low rate.
var ErrKFTokenInvalid = errors.New("bot: kf sync token expired or invalid")

// ErrKFBusy is returned when another pull holds the account's lease; the
// pipeline retries the callback later.
var ErrKFBusy = errors.New("bot: kf account is being pulled by another worker")

// NewKFSync returns the kf sync processor.
func NewKFSync(st KFStore, src KFSource, lk Leaser, o KFOptions) *KFSync {
	o.Lease = positiveOr(o.Lease, 2*time.Minute)
	if o.PageSize <= 0 || o.PageSize > 1000 {
		o.PageSize = 1000
	}
	o.MaxPages = positiveOr(o.MaxPages, 200)
	o.Now, o.Logger = clockOr(o.Now), loggerOr(o.Logger)
	return &KFSync{st: st, src: src, lk: lk, o: o}
}

// Name implements Processor.
func (*KFSync) Name() string { return "kf" }

// kfCursorKey names the stored sync cursor of an account.
func kfCursorKey(openKfID string) string { return "kf:" + openKfID }

// Process implements Processor.
func (p *KFSync) Process(ctx context.Context, ev *store.Event) error {
	if ev.Kind != wecom.KindKFMsgOrEvent {
		return nil
	}
	openKfID := ev.Attrs["OpenKfId"]
	if openKfID == "" {
		return nil // nothing to pull; a malformed callback is not worth retrying
	}
	_, err := p.Pull(ctx, openKfID, ev.Attrs["Token"], ev.DedupKey)
	return err
}

// Pull fetches every page of one account from its stored cursor and stores
// the customer messages, reporting how many were new. owner distinguishes
// concurrent pulls in the lease.
func (p *KFSync) Pull(ctx context.Context, openKfID, token, owner string) (int, error) {
	lease, holder := "kf:"+openKfID, p.o.Owner+"/"+owner
	if p.lk != nil {
		ok, err := p.lk.Acquire(ctx, lease, holder, p.o.Lease)
		if err != nil {
			return 0, fmt.Errorf("kf: lease %s: %w", openKfID, err)
		}
		if !ok {
			return 0, ErrKFBusy
		}
		defer func() {
			if err := p.lk.Release(context.WithoutCancel(ctx), lease, holder); err != nil {
				p.o.Logger.Warn("kf: release lease", "open_kfid", openKfID, "err", err)
			}
		}()
	}
	cursor, err := p.st.GetCursor(ctx, kfCursorKey(openKfID))
	if err != nil {
		return 0, fmt.Errorf("kf: cursor %s: %w", openKfID, err)
	}
	added := 0
	for page := 0; ; page++ {
		if page == p.o.MaxPages {
			// Leave the rest to the retry rather than hold the worker
			// forever on an account that never says it is done.
			return added, fmt.Errorf("kf: %s still has more after %d pages", openKfID, page)
		}
		if page > 0 && p.lk != nil {
			if ok, err := p.lk.Acquire(ctx, lease, holder, p.o.Lease); err != nil || !ok {
				return added, fmt.Errorf("kf: lost lease on %s (err %v)", openKfID, err)
			}
		}
		res, err := p.src.KFSyncMsg(ctx, cursor, token, p.o.PageSize, openKfID)
		if errors.Is(err, ErrKFTokenInvalid) && token != "" {
			token = ""
			res, err = p.src.KFSyncMsg(ctx, cursor, token, p.o.PageSize, openKfID)
		}
		if err != nil {
			return added, fmt.Errorf("kf: sync_msg %s: %w", openKfID, err)
		}
		n, err := p.store(ctx, openKfID, res.Messages)
		if err != nil {
			return added, err
		}
		added += n
		if res.NextCursor != "" && res.NextCursor != cursor {
			if err := p.st.SetCursor(ctx, kfCursorKey(openKfID), res.NextCursor); err != nil {
				return added, fmt.Errorf("kf: save cursor %s: %w", openKfID, err)
			}
			cursor = res.NextCursor
		}
		// has_more may come with an empty page: keep pulling until the API
		// says it is done.
		if !res.HasMore {
			return added, nil
		}
	}
}

// store links the page's customers and appends their messages as events.
func (p *KFSync) store(ctx context.Context, openKfID string, msgs []KFMessage) (int, error) {
	now := p.o.Now().UTC()
	var evs []*store.Event
	seen := map[string]bool{}
	for _, m := range msgs {
		if m.Origin != KFOriginCustomer || m.MsgID == "" || m.ExternalUserID == "" {
			// System events (enter_session, ...) and what servicers wrote in
			// the WeCom client are not customer messages.
			continue
		}
		account := m.OpenKfID
		if account == "" {
			account = openKfID
		}
		if !seen[m.ExternalUserID] {
			seen[m.ExternalUserID] = true
			if err := p.link(ctx, m.ExternalUserID, account, now); err != nil {
				return 0, err
			}
		}
		at := m.SendTime
		if at.IsZero() {
			at = now
		}
		attrs := map[string]string{"OpenKfId": account, "MsgType": m.MsgType}
		if m.MenuID != "" {
			attrs["MenuID"] = m.MenuID
		}
		evs = append(evs, &store.Event{
			DedupKey:   "kf:msg:" + m.MsgID,
			Channel:    store.ChannelKF,
			Kind:       kfKind(m.MsgType),
			FromID:     m.ExternalUserID,
			CustomerID: m.ExternalUserID,
			Text:       kfText(m),
			MsgID:      m.MsgID,
			Attrs:      attrs,
			Raw:        m.Raw,
			OccurredAt: at.UTC(),
			ReceivedAt: now,
		})
	}
	if len(evs) == 0 {
		return 0, nil
	}
	inserted, err := p.st.AppendEvents(ctx, evs)
	if err != nil {
		return 0, fmt.Errorf("kf: store %d messages: %w", len(evs), err)
	}
	n := 0
	for _, ok := range inserted {
		if ok {
			n++
		}
	}
	return n, nil
}

// link makes sure the kf user's customer carries the external_userid
// identity too (see KFSync) and remembers the account they wrote to.
func (p *KFSync) link(ctx context.Context, externalUserID, openKfID string, now time.Time) error {
	kfID := store.Identity{Kind: store.IdentityKFUserID, Value: externalUserID}
	ext := store.Identity{Kind: store.IdentityExternalUserID, Value: externalUserID}
	c, err := p.st.FindCustomerByIdentity(ctx, kfID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("kf: find customer: %w", err)
	}
	if c == nil || !hasIdentity(c, ext) {
		if _, err := p.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: kfID, Link: []store.Identity{ext}, Now: now}); err != nil {
			return fmt.Errorf("kf: link customer: %w", err)
		}
	}
	if err := p.st.SetKFAccount(ctx, externalUserID, openKfID); err != nil {
		return fmt.Errorf("kf: remember account: %w", err)
	}
	return nil
}

func hasIdentity(c *store.Customer, id store.Identity) bool {
	for _, x := range c.Identities {
		if x == id {
			return true
		}
	}
	return false
}

// kfKind maps a kf msgtype to an event kind like the callbacks' ones.
func kfKind(msgType string) string {
	switch msgType {
	case "", "text":
		return "text"
	case "image", "voice", "video", "file", "location", "link":
		return msgType
	}
	return "kf." + msgType // e.g. kf.business_card, kf.miniprogram
}

// kfText is the text a message shows on the timeline.
func kfText(m KFMessage) string {
	switch m.MsgType {
	case "", "text":
		return m.Text
	case "image":
		return "[图片]"
	case "voice":
		return "[语音]"
	case "video":
		return "[视频]"
	case "file":
		return "[文件]"
	case "location":
		return "[位置]"
	case "link":
		return "[链接]"
	}
	return "[" + m.MsgType + "]"
}
