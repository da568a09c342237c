package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// Durable job kinds and keys of the tag sync.
const (
	// JobTagSync is a full sync of the corp tag catalogue from WeCom.
	JobTagSync = "tag_sync"
	// TagSyncJobKey is the one key of the full sync: asking again while one
	// is pending re-arms it instead of queueing a second.
	TagSyncJobKey = "tags:sync"
	// JobMarkTag writes one tag of one customer back to WeCom.
	JobMarkTag = "mark_tag"
)

// MarkTagJob returns the key and payload of the job that writes tag of
// customerID back to WeCom. One job per customer and tag: edits of the same
// tag coalesce, edits of different tags never overwrite each other's job,
// and the job reads whether the customer has the tag when it runs, so the
// order in which jobs run does not matter. The key carries the customer ID
// as a component, so erasing the customer deletes the job.
func MarkTagJob(customerID, tag string) (key, payload string) {
	h := sha256.Sum256([]byte(tag))
	b, _ := json.Marshal(markTagPayload{CustomerID: customerID, Tag: tag})
	return "marktag:" + customerID + ":" + hex.EncodeToString(h[:8]), string(b)
}

type markTagPayload struct {
	CustomerID string `json:"customer_id"`
	Tag        string `json:"tag"`
}

// WeComTags is the part of *wecom.APIClient the tag sync uses (with the
// 客户联系 secret).
type WeComTags interface {
	GetCorpTagList(ctx context.Context, tagIDs, groupIDs []string) ([]wecom.TagGroup, error)
	GetExternalContact(ctx context.Context, externalUserID string) (*wecom.ExternalContactInfo, error)
	MarkTag(ctx context.Context, userID, externalUserID string, add, remove []string) error
}

// TagSyncStore is what the tag sync reads and writes.
type TagSyncStore interface {
	UpsertTags(ctx context.Context, tags []store.Tag) error
	DeleteTags(ctx context.Context, ids []string) error
	FindTags(ctx context.Context) ([]store.Tag, error)
	FindCustomerByID(ctx context.Context, id string) (*store.Customer, error)
	FindCustomerByIdentity(ctx context.Context, id store.Identity) (*store.Customer, error)
	UpdateCustomer(ctx context.Context, id string, upd store.CustomerUpdate) (*store.Customer, error)
	cursors
	ScheduleJob(ctx context.Context, key, kind, payload string, dueAt time.Time) error
	journeyRuns // a tag added in WeCom starts journeys too
	FindJourneys(ctx context.Context) ([]*store.Journey, error)
}

// TagSyncOptions tune a TagSync; zero values take the defaults.
type TagSyncOptions struct {
	Now    func() time.Time
	Logger *slog.Logger
	// Debounce delays the full sync a change_external_tag event asks for, so
	// a burst of tag edits in WeCom costs one sync (default 2 s).
	Debounce time.Duration
}

// TagSync keeps scrm's tags in step with WeCom's corp tags, both ways:
//
//   - the catalogue: a full sync (at start, on demand through the API, and
//     after every change_external_tag event) replaces the corp tags and
//     marks the ones WeCom no longer has deleted; local tags are untouched;
//   - WeCom → scrm: on add_external_contact and edit_external_contact the
//     contact is fetched again and the changes of its corp tags since the
//     last fetch (a snapshot kept in a cursor) are applied to the customer.
//     Applying changes rather than the whole set is what keeps an edit made
//     in scrm, and not yet written back, from being undone by an unrelated
//     edit event;
//   - scrm → WeCom: tags added or removed in scrm are written back with
//     mark_tag by durable jobs (see MarkTagJob), so a WeCom outage delays
//     the write and loses nothing. The client holds mark_tag to its limit of
//     5 concurrent calls.
//
// A customer's tags are the union over the staff following them: a tag
// written back is marked for every active follow, and a tag removed in WeCom
// by one staff member stays while another still has it.
type TagSync struct {
	follower[TagSyncStore, WeComTags, TagSyncOptions]
}

// NewTagSync returns the tag sync; it is a Processor and runs two job kinds
// (JobTagSync, JobMarkTag) through Runners.
func NewTagSync(st TagSyncStore, api WeComTags, o TagSyncOptions) *TagSync {
	o.Now, o.Logger = clockOr(o.Now), loggerOr(o.Logger)
	o.Debounce = positiveOr(o.Debounce, 2*time.Second)
	return &TagSync{follower[TagSyncStore, WeComTags, TagSyncOptions]{st, api, o}}
}

// Name implements Processor.
func (*TagSync) Name() string { return "tags" }

// Start schedules the full sync scrm runs at start.
func (t *TagSync) Start(ctx context.Context) error {
	return scheduleSync(ctx, t.st, TagSyncJobKey, JobTagSync, "start-up", t.o.Now())
}

// Runners returns the runners of the tag sync's two job kinds.
func (t *TagSync) Runners(q JobQueue, o RunnerOptions) []*JobRunner {
	return []*JobRunner{
		NewJobRunner(q, JobTagSync, func(ctx context.Context, _ *store.Job) error { return t.SyncCorpTags(ctx) }, o.forKind(JobTagSync, 0)),
		NewJobRunner(q, JobMarkTag, t.WriteBack, o.forKind(JobMarkTag, 0)),
	}
}

// Process implements Processor.
func (t *TagSync) Process(ctx context.Context, ev *store.Event) error {
	switch {
	case strings.HasPrefix(ev.Kind, wecom.KindTagPrefix):
		// One sync covers create, update, delete and shuffle of tags and
		// groups alike, and is idempotent.
		if err := t.st.ScheduleJob(ctx, TagSyncJobKey, JobTagSync, "", t.o.Now().Add(t.o.Debounce)); err != nil {
			return fmt.Errorf("tags: schedule sync: %w", err)
		}
	case ev.Channel == store.ChannelWeCom && ev.CustomerID != "" &&
		(ev.Kind == wecom.KindEditExternalContact || ev.Kind == wecom.KindAddExternalContact):
		return t.PullContactTags(ctx, ev.CustomerID)
	}
	return nil
}

// SyncCorpTags replaces the corp tag catalogue with WeCom's and marks the
// corp tags WeCom no longer has deleted.
func (t *TagSync) SyncCorpTags(ctx context.Context) error {
	groups, err := t.api.GetCorpTagList(ctx, nil, nil)
	if err != nil {
		return fmt.Errorf("tags: get corp tag list: %w", err)
	}
	var tags []store.Tag
	seen := map[string]bool{}
	for _, g := range groups {
		if g.Deleted {
			continue
		}
		for _, tg := range g.Tag {
			if tg.Deleted || tg.ID == "" || tg.Name == "" {
				continue
			}
			seen[tg.ID] = true
			tags = append(tags, store.Tag{ID: tg.ID, Name: tg.Name, GroupID: g.GroupID, GroupName: g.GroupName, Order: int64(tg.Order)})
		}
	}
	if len(tags) > 0 {
		if err := t.st.UpsertTags(ctx, tags); err != nil {
			return fmt.Errorf("tags: upsert: %w", err)
		}
	}
	existing, err := t.st.FindTags(ctx)
	if err != nil {
		return fmt.Errorf("tags: find: %w", err)
	}
	var gone []string
	for _, tg := range existing {
		if !tg.Local && !seen[tg.ID] {
			gone = append(gone, tg.ID)
		}
	}
	if len(gone) > 0 {
		if err := t.st.DeleteTags(ctx, gone); err != nil {
			return fmt.Errorf("tags: delete: %w", err)
		}
	}
	t.o.Logger.Info("corp tags synced", "tags", len(tags), "deleted", len(gone))
	return nil
}

func snapshotKey(customerID string) string { return "wecomtags:" + customerID }

// tagSnapshot is, per staff member following a customer, the corp tag names
// last seen on their follow in WeCom.
type tagSnapshot map[string]map[string]bool

// snapshot reads the customer's last tag snapshot. A snapshot written before
// tags were kept per follow (a list of names) stands for every follow.
func (t *TagSync) snapshot(ctx context.Context, customerID string, staff []string) (tagSnapshot, error) {
	raw, err := t.st.GetCursor(ctx, snapshotKey(customerID))
	if err != nil {
		return nil, fmt.Errorf("tags: read snapshot: %w", err)
	}
	snap := tagSnapshot{}
	if raw == "" {
		return snap, nil
	}
	var per map[string][]string
	if err := json.Unmarshal([]byte(raw), &per); err != nil {
		var names []string
		if json.Unmarshal([]byte(raw), &names) != nil {
			return nil, fmt.Errorf("tags: decode snapshot of %s: %w", customerID, err)
		}
		per = map[string][]string{}
		for _, s := range staff {
			per[s] = names
		}
	}
	for s, names := range per {
		snap[s] = map[string]bool{}
		for _, n := range names {
			snap[s][n] = true
		}
	}
	return snap, nil
}

// encode is the snapshot as it is stored: one sorted list per staff member.
func (snap tagSnapshot) encode() []byte {
	per := map[string][]string{}
	for s, set := range snap {
		per[s] = slices.Sorted(maps.Keys(set))
	}
	b, _ := json.Marshal(per) // map keys are written sorted
	return b
}

func (t *TagSync) saveSnapshot(ctx context.Context, customerID string, snap tagSnapshot) error {
	if err := t.st.SetCursor(ctx, snapshotKey(customerID), string(snap.encode())); err != nil {
		return fmt.Errorf("tags: save snapshot: %w", err)
	}
	return nil
}

// PullContactTags fetches a WeCom contact and applies the changes of their
// corp tags since the last fetch to the customer. Changes are read per
// follow: a tag someone added or removed on their follow is a change, while a
// follow that ended (the customer deleted a salesperson, or was handed over)
// takes no tags away — the customer is still who they were.
func (t *TagSync) PullContactTags(ctx context.Context, externalUserID string) error {
	c, err := t.st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: externalUserID})
	if errors.Is(err, store.ErrNotFound) {
		return nil // erased, or never a customer
	}
	if err != nil {
		return fmt.Errorf("tags: find customer: %w", err)
	}
	info, err := t.api.GetExternalContact(ctx, externalUserID)
	if err != nil {
		if permanentAPIError(err) {
			return nil // no longer a contact: nothing to read
		}
		return fmt.Errorf("tags: get contact: %w", err)
	}
	now := tagSnapshot{}
	union := map[string]bool{}
	for _, f := range info.FollowUsers {
		set := map[string]bool{}
		for _, tg := range f.Tags {
			if tg.Type == 1 && tg.TagName != "" { // 1: corp tag; personal and rule tags stay in WeCom
				set[tg.TagName], union[tg.TagName] = true, true
			}
		}
		now[f.UserID] = set
	}
	before, err := t.snapshot(ctx, c.ID, slices.Collect(maps.Keys(now)))
	if err != nil {
		return err
	}
	added, removed := map[string]bool{}, map[string]bool{}
	for staff, set := range now {
		was := before[staff] // nil for a new follow: all its tags are new
		for n := range set {
			if !was[n] {
				added[n] = true
			}
		}
		for n := range was {
			if !set[n] {
				removed[n] = true
			}
		}
	}
	var upd store.CustomerUpdate
	for n := range added {
		if !slices.Contains(c.Tags, n) {
			upd.AddTags = append(upd.AddTags, n)
		}
	}
	for n := range removed {
		// Another follow still carrying it keeps it.
		if !union[n] && slices.Contains(c.Tags, n) {
			upd.RemoveTags = append(upd.RemoveTags, n)
		}
	}
	if len(upd.AddTags)+len(upd.RemoveTags) > 0 {
		slices.Sort(upd.AddTags)
		slices.Sort(upd.RemoveTags)
		upd.Now = t.o.Now()
		if err := t.enterJourneys(ctx, c, upd.AddTags, before); err != nil {
			return err
		}
		if _, err := t.st.UpdateCustomer(ctx, c.ID, upd); err != nil {
			return fmt.Errorf("tags: update customer %s: %w", c.ID, err)
		}
	}
	return t.saveSnapshot(ctx, c.ID, now)
}

// enterJourneys starts the journeys of the tags added in WeCom, before
// they are written: the occurrence is the snapshot the change was read
// against, so a retry after a crash enters nothing twice.
func (t *TagSync) enterJourneys(ctx context.Context, c *store.Customer, added []string, before tagSnapshot) error {
	if len(added) == 0 {
		return nil
	}
	js, err := t.st.FindJourneys(ctx)
	if err != nil {
		return fmt.Errorf("tags: journeys: %w", err)
	}
	sum := sha256.Sum256(before.encode())
	now := t.o.Now()
	return enterOnTags(ctx, t.st, js, c, added, "wecom:"+hex.EncodeToString(sum[:8]), now, now)
}

// WriteBack runs a JobMarkTag job: it marks or unmarks the tag on the
// customer for every active follow, as the customer has it in scrm now.
// Local tags and tags WeCom does not know are not written. A WeCom outage
// fails the job, which is retried; a follow WeCom rejects (the staff member
// no longer has the contact) is skipped.
func (t *TagSync) WriteBack(ctx context.Context, job *store.Job) error {
	var p markTagPayload
	if err := json.Unmarshal([]byte(job.Payload), &p); err != nil || p.CustomerID == "" || p.Tag == "" {
		t.o.Logger.Error("dropping a malformed mark_tag job", "key", job.Key)
		return nil
	}
	c, err := t.st.FindCustomerByID(ctx, p.CustomerID)
	if err != nil {
		return skipIfGone(err, "tags: find customer "+p.CustomerID)
	}
	catalogue, err := t.st.FindTags(ctx)
	if err != nil {
		return fmt.Errorf("tags: find tags: %w", err)
	}
	var ids []string
	for _, tg := range catalogue {
		if !tg.Local && tg.Name == p.Tag {
			ids = append(ids, tg.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	want := slices.Contains(c.Tags, p.Tag)
	var add, remove []string
	if want {
		add = ids[:1] // one tag of that name is enough; several groups may share a name
	} else {
		remove = ids
	}
	var marked []string // the staff whose follow now has the tag as scrm does
	for _, id := range c.Identities {
		if id.Kind != store.IdentityExternalUserID {
			continue
		}
		for _, f := range c.Follows {
			if f.Deleted {
				continue
			}
			if err := t.api.MarkTag(ctx, f.StaffID, id.Value, add, remove); err != nil {
				if permanentAPIError(err) {
					t.o.Logger.Warn("mark_tag rejected", "customer", c.ID, "staff", f.StaffID, "code", wecom.APIErrorCode(err))
					continue
				}
				return fmt.Errorf("tags: mark_tag %s for %s: %w", c.ID, f.StaffID, err)
			}
			marked = append(marked, f.StaffID)
		}
	}
	// Record our own write in the snapshot of every follow written, so the
	// next edit event does not read it as a change made in WeCom.
	snap, err := t.snapshot(ctx, c.ID, marked)
	if err != nil {
		return err
	}
	changed := false
	for _, staff := range marked {
		set := snap[staff]
		if set == nil {
			set = map[string]bool{}
			snap[staff] = set
		}
		if set[p.Tag] != want {
			changed = true
			if want {
				set[p.Tag] = true
			} else {
				delete(set, p.Tag)
			}
		}
	}
	if !changed {
		return nil
	}
	return t.saveSnapshot(ctx, c.ID, snap)
}

// permanentAPIError reports whether WeCom answered with an error code that
// retrying cannot change (an unknown contact, a deleted tag), as opposed to
// an outage, a busy system (-1) or a rate limit (45009, 45033).
func permanentAPIError(err error) bool {
	code := wecom.APIErrorCode(err)
	return code != 0 && code != -1 && code != 45009 && code != 45033
}
