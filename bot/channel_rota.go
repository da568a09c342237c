package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
)

// The channel rota keeps each contact way's member list in WeCom on the
// staff who should take its adds now: members on shift and under the
// daily cap, else the backups (activeStaff). Edits set the list once; the
// rota follows the clock and the day's adds. It is one re-arming job, so
// the runner's lease keeps it on one instance at a time.

// ChannelRotaJobKind is the job kind of the rota; channelRotaJobKey its
// only job.
const (
	ChannelRotaJobKind = "channel_rota"
	channelRotaJobKey  = "channel-rota"
	AuditChannelRota   = "channel_rota" // the rota changed a contact way's members
)

// ChannelRotaOptions tune the rota; zero values take the defaults.
type ChannelRotaOptions struct {
	Every    time.Duration  // between rounds (default 5 min)
	Location *time.Location // the business time zone of shifts and "today" (default UTC)
	Logger   *slog.Logger
}

// ChannelRota applies channels' schedules and daily caps in WeCom.
type ChannelRota struct {
	core *Core
	o    ChannelRotaOptions
}

// NewChannelRota returns the rota over core, whose channel API it calls.
func NewChannelRota(core *Core, o ChannelRotaOptions) *ChannelRota {
	o.Every = positiveOr(o.Every, 5*time.Minute)
	if o.Location == nil {
		o.Location = time.UTC
	}
	o.Logger = loggerOr(o.Logger)
	return &ChannelRota{core: core, o: o}
}

// Start arms the rota's job now (every instance may: arming it again only
// moves its due time).
func (r *ChannelRota) Start(ctx context.Context) error {
	return scheduleSync(ctx, r.core.st, channelRotaJobKey, ChannelRotaJobKind, "rota", r.core.Now())
}

// Runner returns the runner of the rota's job.
func (r *ChannelRota) Runner(q JobQueue, o RunnerOptions) *JobRunner {
	return NewJobRunner(q, ChannelRotaJobKind, r.runJob, o.forKind(ChannelRotaJobKind, 2*time.Minute))
}

func (r *ChannelRota) runJob(ctx context.Context, job *store.Job) error {
	n, err := r.RotateOnce(ctx)
	if n > 0 {
		r.o.Logger.Info("channel rota", "changed", n)
	}
	if err != nil {
		return err // retried with backoff; the job stays
	}
	return scheduleSync(ctx, r.core.st, channelRotaJobKey, ChannelRotaJobKind, "rota", r.core.Now().Add(r.o.Every))
}

// RotateOnce brings every live contact way with schedules or a daily cap
// onto its active staff and reports how many it changed. It goes on past
// a failing channel and returns the first error.
func (r *ChannelRota) RotateOnce(ctx context.Context) (int, error) {
	c := r.core
	if c.chAPI == nil {
		return 0, errors.New("channel rota: no WeCom API")
	}
	chs, err := c.st.FindChannels(ctx, store.ChannelFilter{Kind: store.ChannelKindContactWay})
	if err != nil {
		return 0, fmt.Errorf("channel rota: %w", err)
	}
	now := c.Now()
	local := now.In(r.o.Location)
	dayStart := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, r.o.Location)
	var first error
	changed := 0
	for _, ch := range chs {
		if ch.DeletedAt != nil || ch.ConfigID == "" || !rotates(ch) {
			continue
		}
		ok, err := r.rotate(ctx, ch, now, dayStart)
		if err != nil {
			r.o.Logger.Warn("channel rota", "channel", ch.ID, "err", err)
			if first == nil {
				first = err
			}
		}
		if ok {
			changed++
		}
	}
	return changed, first
}

// rotates reports whether who takes ch's adds can change with the clock
// or the day's adds.
func rotates(ch *store.Channel) bool {
	if ch.DailyCap > 0 {
		return true
	}
	return slices.ContainsFunc(ch.Staff, func(s store.ChannelStaff) bool { return len(s.Schedule) > 0 })
}

func (r *ChannelRota) rotate(ctx context.Context, ch *store.Channel, now, dayStart time.Time) (bool, error) {
	c := r.core
	adds := map[string]int{}
	if ch.DailyCap > 0 {
		evs, err := c.st.FindChannelEvents(ctx, store.ChannelEventFilter{ChannelID: ch.ID, Kind: store.ChannelEventAdd, From: dayStart})
		if err != nil {
			return false, fmt.Errorf("channel rota: adds of %s: %w", ch.ID, err)
		}
		for _, ev := range evs {
			if ev.StaffID != "" {
				adds[ev.StaffID]++
			}
		}
	}
	want := activeStaff(ch, now, r.o.Location, adds)
	// A channel stored before ActiveStaff existed is pushed once: what
	// WeCom has is unknown.
	if ch.ActiveStaff != nil && sameMembers(want, ch.ActiveStaff) {
		return false, nil
	}
	counts := make([]string, 0, len(adds))
	for _, id := range slices.Sorted(maps.Keys(adds)) {
		counts = append(counts, fmt.Sprintf("%s:%d", id, adds[id]))
	}
	detail := "staff=" + strings.Join(want, ",") + " was=" + strings.Join(ch.ActiveStaff, ",") + " adds=" + strings.Join(counts, ",")
	if err := c.audit(ctx, SystemActor(SourceChannel), AuditChannelRota, ch.ID, detail, now); err != nil {
		return false, err
	}
	w := contactWayOf(ch, now)
	w.User = want
	if err := c.chAPI.UpdateContactWay(ctx, w); err != nil {
		return false, fmt.Errorf("channel rota: update_contact_way %s: %w", ch.ID, err)
	}
	// Re-read so an edit made meanwhile is not overwritten: the edit set
	// its own list, and the next round corrects it if need be.
	fresh, err := c.st.FindChannelByID(ctx, ch.ID)
	if err != nil {
		return true, fmt.Errorf("channel rota: %s: %w", ch.ID, err)
	}
	if fresh.DeletedAt != nil || !fresh.UpdatedAt.Equal(ch.UpdatedAt) {
		return true, nil
	}
	fresh.ActiveStaff = want
	if err := c.st.UpdateChannel(ctx, fresh); err != nil && !errors.Is(err, store.ErrNotFound) {
		return true, fmt.Errorf("channel rota: store %s: %w", ch.ID, err)
	}
	return true, nil
}

func sameMembers(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}
