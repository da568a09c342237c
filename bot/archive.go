package bot

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/scrmhq/scrm/nlp"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// ArchiveCursor is the store cursor holding the last stored archive seq.
const ArchiveCursor = "archive:seq"

// ArchiveLease is the coord lease that lets one instance pull the archive.
const ArchiveLease = "archive"

// ChannelArchive is the timeline channel of 会话内容存档 messages.
const ChannelArchive = "archive"

// ArchiveStore is what the archive worker reads and writes.
type ArchiveStore interface {
	UpsertCustomer(ctx context.Context, u store.CustomerUpsert) (*store.Customer, error)
	AppendTimeline(ctx context.Context, e *store.TimelineEntry) (bool, error)
	cursors
}

// ArchiveOptions tunes the archive worker; zero values take the defaults.
type ArchiveOptions struct {
	Owner      string        // this instance's identity in the lease
	Lease      time.Duration // lease TTL, renewed per batch (default 2 min)
	Batch      int           // messages per fetch (default and maximum 1000, the SDK's limit)
	Poll       time.Duration // wait when caught up or another instance pulls (default 30 s)
	MinBackoff time.Duration // first wait after a failure (default 1 s), doubled per failure
	MaxBackoff time.Duration // longest wait after failures (default 5 min)
	// MaxGroupFanout: a staff message in a group chat goes to at most this
	// many external members' timelines (default 20); in bigger groups it is
	// a broadcast, not a conversation, and is skipped.
	MaxGroupFanout int
	// Core, when set, turns the promises in a staff member's one-to-one
	// message into reminders as the message is stored (see
	// Core.remindPromises); Location is the business time zone they are
	// read in (default Asia/Shanghai). Without it the analysis finds them
	// when the conversation goes quiet.
	Core     *Core
	Location *time.Location
	Now      func() time.Time
	Logger   *slog.Logger
}

// Archive pulls the WeCom chat archive (会话内容存档) into customers'
// timelines. Messages are fetched by increasing seq from the stored cursor;
// a batch is stored completely before the cursor moves past it, and every
// entry has a SourceKey derived from the msgid, so a crash or an outage
// repeats work but never loses or doubles a message.
//
// Attribution: ids starting with "wo" or "wm" are external users (the
// customer); other ids are staff userids.
//   - One-to-one chat: the external party is the customer and the internal
//     one the staff member; the direction follows the sender. Chats between
//     staff only are skipped.
//   - Group chat (roomid set): a customer's message goes to that customer's
//     timeline only (other customers' timelines would fill with strangers'
//     words); a staff member's message goes to every external member's
//     timeline, up to MaxGroupFanout, beyond which it is skipped.
type Archive struct {
	st  ArchiveStore
	src wecom.ArchiveSource
	lk  Leaser
	o   ArchiveOptions
}

// NewArchive returns the archive worker. lk may be nil when only one
// instance runs (tests).
func NewArchive(st ArchiveStore, src wecom.ArchiveSource, lk Leaser, o ArchiveOptions) *Archive {
	o.Lease = positiveOr(o.Lease, 2*time.Minute)
	if o.Batch <= 0 || o.Batch > 1000 {
		o.Batch = 1000
	}
	o.Poll = positiveOr(o.Poll, 30*time.Second)
	o.MinBackoff = positiveOr(o.MinBackoff, time.Second)
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Minute, o.MinBackoff)
	}
	o.MaxGroupFanout = positiveOr(o.MaxGroupFanout, 20)
	if o.Location == nil {
		o.Location = nlp.BusinessLocation("")
	}
	o.Now, o.Logger = clockOr(o.Now), loggerOr(o.Logger)
	return &Archive{st: st, src: src, lk: lk, o: o}
}

// Run pulls until ctx ends: it drains the archive while holding the lease,
// then polls; failures (an outage of WeCom or the store) back off
// exponentially and retry from the stored cursor.
func (a *Archive) Run(ctx context.Context) {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		wait := a.o.Poll
		if err := a.drain(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, a.o.MinBackoff), a.o.MaxBackoff)
			wait = backoff
			a.o.Logger.Warn("archive: pull failed, retrying", "retry_in", wait, "err", err)
		} else {
			backoff = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// drain takes the lease and stores batches until the archive is caught up.
// It returns nil without pulling when another instance holds the lease.
func (a *Archive) drain(ctx context.Context) error {
	if a.lk != nil {
		ok, err := a.lk.Acquire(ctx, ArchiveLease, a.o.Owner, a.o.Lease)
		if err != nil {
			return fmt.Errorf("archive: lease: %w", err)
		}
		if !ok {
			return nil
		}
		defer func() {
			if err := a.lk.Release(context.WithoutCancel(ctx), ArchiveLease, a.o.Owner); err != nil {
				a.o.Logger.Warn("archive: release lease", "err", err)
			}
		}()
	}
	for first := true; ; first = false {
		if !first && a.lk != nil {
			// Renew per batch; losing the lease means another instance
			// took over, so stop rather than pull the same seqs twice.
			if ok, err := a.lk.Acquire(ctx, ArchiveLease, a.o.Owner, a.o.Lease); err != nil || !ok {
				return fmt.Errorf("archive: lost lease (err %v)", err)
			}
		}
		n, err := a.RunOnce(ctx)
		if err != nil {
			return err
		}
		if n < a.o.Batch {
			return nil
		}
	}
}

// RunOnce fetches one batch after the stored cursor, appends it to the
// timelines and then advances the cursor. It reports how many messages the
// batch held (0: caught up). It does not take the lease.
func (a *Archive) RunOnce(ctx context.Context) (int, error) {
	raw, err := a.st.GetCursor(ctx, ArchiveCursor)
	if err != nil {
		return 0, fmt.Errorf("archive: read cursor: %w", err)
	}
	var seq uint64
	if raw != "" {
		if seq, err = strconv.ParseUint(raw, 10, 64); err != nil {
			return 0, fmt.Errorf("archive: cursor %q is not a seq: %w", raw, err)
		}
	}
	msgs, err := a.src.FetchArchive(ctx, seq, a.o.Batch)
	if err != nil {
		return 0, fmt.Errorf("archive: fetch after seq %d: %w", seq, err)
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	last := seq
	var entries []archiveEntry
	for _, m := range msgs {
		last = max(last, m.Seq)
		entries = append(entries, planArchive(m, a.o.MaxGroupFanout)...)
	}
	if err := a.store(ctx, entries); err != nil {
		return 0, err
	}
	if last > seq {
		if err := a.st.SetCursor(ctx, ArchiveCursor, strconv.FormatUint(last, 10)); err != nil {
			return 0, fmt.Errorf("archive: save cursor %d: %w", last, err)
		}
	}
	a.o.Logger.Debug("archive: batch stored", "messages", len(msgs), "entries", len(entries), "seq", last)
	return len(msgs), nil
}

// archiveEntry is one timeline entry of an archive message, keyed by the
// customer's external_userid until the customer is resolved.
type archiveEntry struct {
	external string
	e        store.TimelineEntry
}

// store resolves each customer of the batch, appends the entries in seq
// order and only then raises the customers' last-contact times to the
// batch's latest. The order matters: AppendTimeline starts a customer's wait
// only for a message later than the last staff touch and stamps the answer
// with it, so times raised before the appends would make every message of
// the batch look older than its answer, and the waits (the reports' first
// response) would be lost.
func (a *Archive) store(ctx context.Context, entries []archiveEntry) error {
	type touch struct{ customer, staff time.Time }
	touches := map[string]*touch{}
	var order []string
	for _, x := range entries {
		t := touches[x.external]
		if t == nil {
			t = &touch{}
			touches[x.external] = t
			order = append(order, x.external)
		}
		if x.e.Direction == store.DirectionIn {
			t.customer = laterOf(t.customer, x.e.At)
		} else {
			t.staff = laterOf(t.staff, x.e.At)
		}
	}
	now := a.o.Now().UTC()
	ids := make(map[string]*store.Customer, len(order))
	for _, ext := range order {
		c, err := a.st.UpsertCustomer(ctx, store.CustomerUpsert{
			Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: ext}, Now: now,
		})
		if err != nil {
			return fmt.Errorf("archive: upsert customer: %w", err)
		}
		ids[ext] = c
	}
	sys := SystemActor(SourceArchive)
	for _, x := range entries {
		e := x.e
		c := ids[x.external]
		e.CustomerID = c.ID
		// A staff member's words to one customer are read for promises
		// now; a group message, said to many, is left to each customer's
		// analysis.
		promises := a.o.Core != nil && e.Direction == store.DirectionOut && e.StaffID != "" && e.Attrs["RoomID"] == ""
		if promises {
			e.Attrs[AttrPromisesRead] = "true"
		}
		if _, err := a.st.AppendTimeline(ctx, &e); err != nil {
			return fmt.Errorf("archive: append %s: %w", e.SourceKey, err)
		}
		if promises {
			if _, err := a.o.Core.remindPromises(ctx, sys, c, &e, a.o.Location); err != nil {
				return fmt.Errorf("archive: %w", err)
			}
		}
		// A customer asking, in their chat with sales, to stop mass
		// messages is opted out as if they had written to the 公众号.
		if a.o.Core != nil && e.Direction == store.DirectionIn && e.Attrs["MsgType"] == "text" {
			after, err := a.o.Core.optOutIfAsked(ctx, c, e.Text, e.SourceKey)
			if err != nil {
				return fmt.Errorf("archive: %w", err)
			}
			ids[x.external] = after
		}
	}
	for _, ext := range order {
		t := touches[ext]
		if _, err := a.st.UpsertCustomer(ctx, store.CustomerUpsert{
			Identity:   store.Identity{Kind: store.IdentityExternalUserID, Value: ext},
			CustomerAt: t.customer, StaffAt: t.staff, Now: now,
		}); err != nil {
			return fmt.Errorf("archive: contact times: %w", err)
		}
	}
	return nil
}

// IsExternalUserID reports whether a WeCom id is an external user's
// (external_userid starts with "wo" or "wm"); other ids are staff userids.
func IsExternalUserID(id string) bool {
	return strings.HasPrefix(id, "wo") || strings.HasPrefix(id, "wm")
}

// planArchive decides which customers' timelines a message belongs on (see
// Archive for the rules).
func planArchive(m wecom.ArchiveMessage, maxFanout int) []archiveEntry {
	if m.MsgID == "" || (m.Action != wecom.ArchiveActionSend && m.Action != wecom.ArchiveActionRecall && m.Action != "") {
		return nil // switch (corp log-in change) carries no conversation
	}
	var externals, staff []string
	for _, id := range m.ToList {
		if id == m.From || id == "" {
			continue
		}
		if IsExternalUserID(id) {
			externals = append(externals, id)
		} else {
			staff = append(staff, id)
		}
	}
	entry := func(external, staffID, dir, key string) archiveEntry {
		attrs := map[string]string{"MsgID": m.MsgID, "MsgType": m.MsgType}
		if m.RoomID != "" {
			attrs["RoomID"] = m.RoomID
		}
		return archiveEntry{external: external, e: store.TimelineEntry{
			SourceKey: key, Kind: store.EntryMessage, Channel: ChannelArchive, Direction: dir,
			StaffID: staffID, Text: archiveText(m), Attrs: attrs, At: m.At.UTC(),
		}}
	}
	key := "archive:" + m.MsgID
	fromExternal := IsExternalUserID(m.From)
	switch {
	case m.From == "":
		return nil
	case m.RoomID == "" && fromExternal:
		if len(staff) == 0 {
			return nil // customer to customer: not a conversation with the company
		}
		return []archiveEntry{entry(m.From, staff[0], store.DirectionIn, key)}
	case m.RoomID == "":
		if len(externals) == 0 {
			return nil // staff among themselves
		}
		return []archiveEntry{entry(externals[0], m.From, store.DirectionOut, key)}
	case fromExternal:
		return []archiveEntry{entry(m.From, "", store.DirectionIn, key)}
	default:
		if len(externals) == 0 || len(externals) > maxFanout {
			return nil
		}
		out := make([]archiveEntry, 0, len(externals))
		for _, ext := range externals {
			// One entry per member: the key names the member so each
			// timeline gets its own idempotent copy.
			out = append(out, entry(ext, m.From, store.DirectionOut, key+":"+ext))
		}
		return out
	}
}

// archiveLabels render non-text messages on the timeline.
var archiveLabels = map[string]string{
	"image": "[图片]", "voice": "[语音]", "video": "[视频]", "file": "[文件]", "emotion": "[表情]",
	"link": "[链接]", "location": "[位置]", "card": "[名片]", "weapp": "[小程序]", "chatrecord": "[聊天记录]",
	"todo": "[待办]", "vote": "[投票]", "collect": "[填表]", "redpacket": "[红包]", "external_redpacket": "[红包]",
	"meeting": "[会议邀请]", "docmsg": "[在线文档]", "markdown": "[Markdown 消息]", "news": "[图文]",
	"calendar": "[日程]", "mixed": "[图文混合消息]", "meeting_voice_call": "[语音会议]",
	"voip_doc_share": "[共享文档]", "sphfeed": "[视频号]", "agree": "[同意会话存档]", "disagree": "[拒绝会话存档]",
}

// archiveText is the text an archive message shows on the timeline.
func archiveText(m wecom.ArchiveMessage) string {
	if m.Action == wecom.ArchiveActionRecall || m.MsgType == "revoke" {
		return "[撤回了一条消息]"
	}
	if m.MsgType == "text" || (m.MsgType == "" && m.Text != "") {
		return m.Text
	}
	if l, ok := archiveLabels[m.MsgType]; ok {
		return l
	}
	return "[消息]"
}
