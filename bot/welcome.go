package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// The welcome, first and fast. WeCom takes a welcome for an add only within
// 20 s of its callback and only once per code (path/92599), so the welcome
// does not wait for the pipeline: the edge hands every stored
// add_external_contact with a WelcomeCode to the Welcomer's lane (Offer),
// whose workers send it at once, beside a pipeline that may be busy with
// thousands of messages. The pipeline's first processor (WelcomeFirst)
// sends it too, so a welcome the lane missed — an instance killed between
// storing the callback and sending, a full lane — goes out as long as its
// code is valid: the event is not completed before its welcome was tried.
//
// Exactly once. A marker (store.MarkWelcome, keyed by the code) records a
// welcome that is done. Sending comes before marking, so a crash between
// the two sends again after a restart, and WeCom answers that second send
// with 41051 — the code is used — which is recorded as done: no welcome is
// lost and none reaches a customer twice. Within one process, one code is
// sent by one goroutine at a time.

// WelcomeAPI is the part of WeCom welcomes use.
type WelcomeAPI interface {
	SendWelcomeMsg(ctx context.Context, m wecom.WelcomeMsg) error
	UploadMedia(ctx context.Context, kind, name string, data []byte) (string, time.Time, error)
	GetExternalContact(ctx context.Context, externalUserID string) (*wecom.ExternalContactInfo, error)
}

// WelcomeStore is what welcomes read and write.
type WelcomeStore interface {
	FindChannelByState(ctx context.Context, state string) (*store.Channel, error)
	FindChannels(ctx context.Context, f store.ChannelFilter) ([]*store.Channel, error)
	FindStaffByID(ctx context.Context, id string) (*store.Staff, error)
	FindEvents(ctx context.Context, f store.EventFilter) ([]*store.Event, error)
	GetCursor(ctx context.Context, name string) (string, error)
	SetCursor(ctx context.Context, name, value string) error
	markers
}

// WelcomeOptions configure a Welcomer.
type WelcomeOptions struct {
	// Default is the welcome of adds through no channel (SCRM_WELCOME_TEXT);
	// empty sends none.
	Default string
	// Workers send concurrently (default 16).
	Workers int
	// Validity is how long a code is good after its callback (WeCom: 20 s).
	Validity time.Duration
	// ProfileWait bounds the profile read that fills in #客户昵称# (default
	// 1.5 s); past it the welcome goes without the nickname.
	ProfileWait time.Duration
	Now         func() time.Time
	Logger      *slog.Logger
	// OnDone, when set, is told how each code ended (tests, benchmarks).
	OnDone func(code, outcome string)
}

// Welcome outcomes, the value of a welcome marker.
const (
	WelcomeSent    = "sent"
	WelcomeUsed    = "used"    // 41051: sent before (by us or another instance) or lapsed
	WelcomeExpired = "expired" // the code's 20 s passed before it could be sent
	WelcomeNone    = "none"    // no channel welcome and no default: nothing to send
	WelcomeFailed  = "failed"  // refused for good (e.g. a bad attachment)
)

// Welcomer sends welcomes.
type Welcomer struct {
	st  WelcomeStore
	api WelcomeAPI
	o   WelcomeOptions

	lane     chan *store.Event
	inflight sync.Map // code → chan struct{} closed when done
	chCache  sync.Map // state → cachedChannel
	media    sync.Mutex
}

type cachedChannel struct {
	ch *store.Channel // nil: no channel has the state
	at time.Time
}

// channelCacheTTL bounds how stale a channel's welcome may be after an edit.
const channelCacheTTL = 5 * time.Second

// NewWelcomer returns a Welcomer; Run starts its lane.
func NewWelcomer(st WelcomeStore, api WelcomeAPI, o WelcomeOptions) *Welcomer {
	o.Workers = positiveOr(o.Workers, 16)
	o.Validity = positiveOr(o.Validity, 20*time.Second)
	o.ProfileWait = positiveOr(o.ProfileWait, 1500*time.Millisecond)
	o.Now, o.Logger = clockOr(o.Now), loggerOr(o.Logger)
	return &Welcomer{st: st, api: api, o: o, lane: make(chan *store.Event, 8192)}
}

// WelcomeCode returns the welcome code of an add event, "" for any other.
func WelcomeCode(ev *store.Event) string {
	if ev.Kind != wecom.KindAddExternalContact {
		return ""
	}
	return ev.Attrs["WelcomeCode"]
}

// Offer hands a stored event to the lane without waiting; events without a
// welcome code are ignored. A full lane drops the event: the pipeline's
// WelcomeFirst sends it.
func (w *Welcomer) Offer(ev *store.Event) {
	if WelcomeCode(ev) == "" {
		return
	}
	select {
	case w.lane <- ev:
	default:
		w.o.Logger.Warn("welcome lane full, the pipeline sends it")
	}
}

// Run runs the lane's workers until ctx ends. It first offers the stored
// adds not yet processed whose codes are still valid: those an instance
// killed before it sent them (kill -9 safe).
func (w *Welcomer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range w.o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case ev := <-w.lane:
					if err := w.Send(ctx, ev); err != nil && ctx.Err() == nil {
						w.o.Logger.Warn("welcome not sent by the lane, the pipeline retries", "err", err)
					}
				}
			}
		}()
	}
	w.Recover(ctx)
	w.renewLoop(ctx)
	wg.Wait()
}

// Recover offers the unprocessed adds whose codes are still valid.
func (w *Welcomer) Recover(ctx context.Context) {
	f := false
	var after int64
	for {
		evs, err := w.st.FindEvents(ctx, store.EventFilter{Kind: wecom.KindAddExternalContact, Processed: &f, AfterID: after, Limit: 500})
		if err != nil {
			w.o.Logger.Warn("welcome recovery", "err", err)
			return
		}
		for _, ev := range evs {
			after = ev.ID
			if w.valid(ev) {
				w.Offer(ev)
			}
		}
		if len(evs) < 500 {
			return
		}
	}
}

func (w *Welcomer) deadline(ev *store.Event) time.Time {
	// The code lives 20 s from the callback. The receive time is ours and
	// the occurrence time WeCom's (seconds, maybe skewed): the earlier bounds it.
	start := ev.ReceivedAt
	if !ev.OccurredAt.IsZero() && ev.OccurredAt.Before(start) && start.Sub(ev.OccurredAt) < 5*time.Second {
		start = ev.OccurredAt
	}
	return start.Add(w.o.Validity)
}

func (w *Welcomer) valid(ev *store.Event) bool { return w.o.Now().Before(w.deadline(ev)) }

// Send sends the welcome of ev once. It returns nil when the welcome is
// done (sent, used, expired, none to send, refused for good) and an error
// when it may still be sent (the pipeline retries).
func (w *Welcomer) Send(ctx context.Context, ev *store.Event) error {
	code := WelcomeCode(ev)
	if code == "" {
		return nil
	}
	done := make(chan struct{})
	for {
		prev, busy := w.inflight.LoadOrStore(code, done)
		if !busy {
			break
		}
		// Another goroutine sends this code: wait for it, then look at
		// the marker it wrote.
		select {
		case <-prev.(chan struct{}):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() {
		w.inflight.Delete(code)
		close(done)
	}()
	if v, err := w.st.GetMarker(ctx, store.MarkWelcome, code); err != nil {
		return fmt.Errorf("welcome: marker: %w", err)
	} else if v != "" {
		return nil
	}
	outcome, err := w.send(ctx, ev, code)
	if err != nil {
		return err
	}
	if err := w.st.SetMarker(ctx, store.MarkWelcome, code, outcome, w.o.Now()); err != nil {
		return fmt.Errorf("welcome: mark: %w", err)
	}
	if w.o.OnDone != nil {
		w.o.OnDone(code, outcome)
	}
	return nil
}

func (w *Welcomer) send(ctx context.Context, ev *store.Event, code string) (string, error) {
	deadline := w.deadline(ev)
	if !w.o.Now().Before(deadline) {
		return WelcomeExpired, nil
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	welcome, err := w.welcomeOf(ctx, ev)
	if err != nil {
		return "", err
	}
	if welcome.Text == "" && len(welcome.Attachments) == 0 {
		return WelcomeNone, nil
	}
	text := welcome.Text
	if strings.Contains(text, "#客户昵称#") {
		text = strings.ReplaceAll(text, "#客户昵称#", w.nickname(ctx, ev.CustomerID))
	}
	if strings.Contains(text, "#员工姓名#") || strings.Contains(text, "#销售姓名#") {
		name := ev.StaffID
		if s, err := w.st.FindStaffByID(ctx, ev.StaffID); err == nil && s.Name != "" {
			name = s.Name
		}
		text = strings.NewReplacer("#员工姓名#", name, "#销售姓名#", name).Replace(text)
	}
	for attempt := 0; ; attempt++ {
		msg := wecom.WelcomeMsg{WelcomeCode: code}
		if text != "" {
			msg.Text = &wecom.WelcomeText{Content: text}
		}
		atts, err := w.attachments(ctx, welcome.Attachments, attempt > 0)
		if err == nil {
			msg.Attachments = atts
			err = w.api.SendWelcomeMsg(ctx, msg)
		}
		switch code := wecom.APIErrorCode(err); {
		case err == nil:
			return WelcomeSent, nil
		case code == wecom.ErrCodeWelcomeUsed:
			return WelcomeUsed, nil
		case code == 40007 && attempt == 0:
			continue // a media_id lapsed early: upload again and resend
		case code != 0 && code != -1 && code != wecom.ErrCodeWelcomeBusy && !errors.Is(err, wecom.ErrAPIRateLimited) &&
			!errors.Is(err, wecom.ErrAPITokenInvalid):
			w.o.Logger.Warn("welcome refused", "errcode", code)
			return WelcomeFailed, nil
		}
		if !w.o.Now().Before(deadline) || ctx.Err() != nil {
			return WelcomeExpired, nil
		}
		if attempt >= 3 {
			return "", fmt.Errorf("welcome: send: %w", err)
		}
		if err := sleepCtx(ctx, time.Duration(200*(attempt+1))*time.Millisecond); err != nil {
			return WelcomeExpired, nil
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// welcomeOf is the welcome of ev's channel, or the default one.
func (w *Welcomer) welcomeOf(ctx context.Context, ev *store.Event) (store.Welcome, error) {
	ch, err := w.channel(ctx, ev.Attrs["State"])
	if err != nil {
		return store.Welcome{}, err
	}
	if ch != nil && ch.DeletedAt == nil && (ch.Welcome.Text != "" || len(ch.Welcome.Attachments) > 0) {
		return ch.Welcome, nil
	}
	return store.Welcome{Text: w.o.Default}, nil
}

// channel finds a channel by state through a short cache: a burst of adds
// through one poster reads the channel once.
func (w *Welcomer) channel(ctx context.Context, state string) (*store.Channel, error) {
	if state == "" {
		return nil, nil
	}
	now := w.o.Now()
	if v, ok := w.chCache.Load(state); ok {
		if c := v.(cachedChannel); now.Sub(c.at) < channelCacheTTL {
			return c.ch, nil
		}
	}
	ch, err := channelByState(ctx, w.st, state)
	if err != nil {
		return nil, fmt.Errorf("welcome: %w", err)
	}
	w.chCache.Store(state, cachedChannel{ch: ch, at: now})
	return ch, nil
}

// nickname reads the customer's WeChat name, within ProfileWait: a welcome
// without the name beats a welcome that misses its window.
func (w *Welcomer) nickname(ctx context.Context, externalUserID string) string {
	ctx, cancel := context.WithTimeout(ctx, w.o.ProfileWait)
	defer cancel()
	info, err := w.api.GetExternalContact(ctx, externalUserID)
	if err != nil || info.Contact.Name == "" {
		return "您"
	}
	return info.Contact.Name
}

// ---- media ----

// mediaRenewBefore is how long before it lapses a media_id is replaced.
const mediaRenewBefore = 24 * time.Hour

func mediaCursor(data []byte) string {
	sum := sha256.Sum256(data)
	return "welcome-media:" + hex.EncodeToString(sum[:16])
}

// mediaID returns a media_id of data valid for a while yet, uploading it
// when it has none, or (force) when WeCom refused the one it had.
func (w *Welcomer) mediaID(ctx context.Context, kind, name string, data []byte, force bool) (string, error) {
	key := mediaCursor(data)
	if !force {
		if v, err := w.st.GetCursor(ctx, key); err == nil {
			if id, exp, ok := parseMediaCursor(v); ok && w.o.Now().Add(mediaRenewBefore/4).Before(exp) {
				return id, nil
			}
		}
	}
	w.media.Lock()
	defer w.media.Unlock()
	if !force {
		if v, err := w.st.GetCursor(ctx, key); err == nil {
			if id, exp, ok := parseMediaCursor(v); ok && w.o.Now().Add(mediaRenewBefore/4).Before(exp) {
				return id, nil
			}
		}
	}
	if name == "" {
		name = kind
	}
	id, exp, err := w.api.UploadMedia(ctx, kind, name, data)
	if err != nil {
		return "", fmt.Errorf("welcome: upload media: %w", err)
	}
	if err := w.st.SetCursor(ctx, key, id+" "+strconv.FormatInt(exp.Unix(), 10)); err != nil {
		return "", fmt.Errorf("welcome: keep media id: %w", err)
	}
	return id, nil
}

func parseMediaCursor(v string) (string, time.Time, bool) {
	id, exp, ok := strings.Cut(v, " ")
	if !ok {
		return "", time.Time{}, false
	}
	sec, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return "", time.Time{}, false
	}
	return id, time.Unix(sec, 0), true
}

func (w *Welcomer) attachments(ctx context.Context, atts []store.WelcomeAttachment, force bool) ([]wecom.WelcomeAttachment, error) {
	out := make([]wecom.WelcomeAttachment, 0, len(atts))
	for _, a := range atts {
		switch a.Type {
		case "image":
			img := &wecom.WelcomeImage{PicURL: a.PicURL}
			if len(a.Data) > 0 {
				id, err := w.mediaID(ctx, "image", a.Name, a.Data, force)
				if err != nil {
					return nil, err
				}
				img = &wecom.WelcomeImage{MediaID: id}
			}
			out = append(out, wecom.WelcomeAttachment{MsgType: "image", Image: img})
		case "link":
			out = append(out, wecom.WelcomeAttachment{MsgType: "link", Link: &wecom.WelcomeLink{Title: a.Title, PicURL: a.PicURL, Desc: a.Desc, URL: a.URL}})
		case "miniprogram":
			id, err := w.mediaID(ctx, "image", a.Name, a.Data, force)
			if err != nil {
				return nil, err
			}
			out = append(out, wecom.WelcomeAttachment{MsgType: "miniprogram", MiniProgram: &wecom.WelcomeMiniProgram{Title: a.Title, PicMediaID: id, AppID: a.AppID, Page: a.Page}})
		case "file", "video":
			id, err := w.mediaID(ctx, a.Type, a.Name, a.Data, force)
			if err != nil {
				return nil, err
			}
			m := &wecom.WelcomeMedia{MediaID: id}
			att := wecom.WelcomeAttachment{MsgType: a.Type}
			if a.Type == "file" {
				att.File = m
			} else {
				att.Video = m
			}
			out = append(out, att)
		}
	}
	return out, nil
}

// RenewMedia uploads, before the adds need them, the attachments of every
// channel whose media_id is missing or lapses within a day.
func (w *Welcomer) RenewMedia(ctx context.Context) error {
	chs, err := w.st.FindChannels(ctx, store.ChannelFilter{})
	if err != nil {
		return err
	}
	for _, ch := range chs {
		for _, a := range ch.Welcome.Attachments {
			if len(a.Data) == 0 {
				continue
			}
			kind := a.Type
			if kind == "miniprogram" {
				kind = "image"
			}
			key := mediaCursor(a.Data)
			if v, err := w.st.GetCursor(ctx, key); err == nil {
				if _, exp, ok := parseMediaCursor(v); ok && w.o.Now().Add(mediaRenewBefore).Before(exp) {
					continue
				}
			}
			if _, err := w.mediaID(ctx, kind, a.Name, a.Data, true); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *Welcomer) renewLoop(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if err := w.RenewMedia(ctx); err != nil && ctx.Err() == nil {
			w.o.Logger.Warn("renew welcome media", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ---- processors ----

// WelcomeFirst is the pipeline's first processor: it sends the welcome of
// an add the lane has not (Send finds the marker of one it has).
type WelcomeFirst struct{ W *Welcomer }

// Name implements Processor.
func (WelcomeFirst) Name() string { return "welcome" }

// Process implements Processor.
func (p WelcomeFirst) Process(ctx context.Context, ev *store.Event) error {
	return p.W.Send(ctx, ev)
}

// ProcessBatch implements BatchProcessor, doing nothing: a welcome goes out
// on a contact event only, which no batch takes, so the customers processor
// after it may still write a batch's messages before the batch's events run
// (see BatchProcessor: only leading processors get batches).
func (WelcomeFirst) ProcessBatch(context.Context, []*store.Event, []context.Context) {}
