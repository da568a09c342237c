package bot

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/scrmhq/scrm/store"
)

// markers is the store's markers (store.MarkerStore): the records that
// something was done once, which the bot keeps per family for
// MarkerRetention and MarkerSweep deletes after.
type markers interface {
	GetMarker(ctx context.Context, kind, key string) (string, error)
	SetMarker(ctx context.Context, kind, key, value string, at time.Time) error
}

// once runs fn unless marker (kind, key) records that it ran, then records
// it, made at at. A crash between fn and the record runs fn again, so fn
// must bear that (a send WeCom's duplicate check drops, a reply seen twice
// at worst).
func once(ctx context.Context, st markers, kind, key string, at time.Time, fn func() error) error {
	done, err := st.GetMarker(ctx, kind, key)
	if err != nil {
		return fmt.Errorf("marker %s: %w", kind, err)
	}
	if done != "" {
		return nil
	}
	if err := fn(); err != nil {
		return err
	}
	if err := st.SetMarker(ctx, kind, key, "1", at); err != nil {
		return fmt.Errorf("marker %s: %w", kind, err)
	}
	return nil
}

// markDone is the last value of a marker whose family records progress
// first (a press's plan, a scan's position): the work it guards is done.
const markDone = "done"

// progress returns the progress marker (kind, key) records, and whether
// the work it guards is done.
func progress(ctx context.Context, st markers, kind, key string) (string, bool, error) {
	v, err := st.GetMarker(ctx, kind, key)
	if err != nil {
		return "", false, fmt.Errorf("marker %s: %w", kind, err)
	}
	return v, v == markDone, nil
}

// MarkerRetention is how long each family of markers is kept. A marker
// must outlive every repeat of what it guards: a redelivered callback (the
// event log stores it once, so only a reprocessing repeats it, within a
// retry's backoff), a job that runs again (within its day or week), a
// reminder taken over after its lease. A month covers each with a wide
// margin; the digests' markers guard a day or a week.
var MarkerRetention = map[string]time.Duration{
	store.MarkBotReply:      30 * 24 * time.Hour,
	store.MarkBotNotice:     30 * 24 * time.Hour,
	store.MarkInboxForward:  30 * 24 * time.Hour,
	store.MarkInboxPress:    30 * 24 * time.Hour,
	store.MarkInboxReply:    30 * 24 * time.Hour,
	store.MarkInboxAuto:     30 * 24 * time.Hour,
	store.MarkInboxOffHours: 30 * 24 * time.Hour,
	store.MarkCardPress:     30 * 24 * time.Hour,
	store.MarkDailyScan:     30 * 24 * time.Hour,
	store.MarkPlan:          30 * 24 * time.Hour,
	store.MarkPlanDigest:    30 * 24 * time.Hour,
	store.MarkDigestSent:    30 * 24 * time.Hour,
	store.MarkWeeklySent:    60 * 24 * time.Hour,
	store.MarkReminderList:  30 * 24 * time.Hour,
	store.MarkListReady:     30 * 24 * time.Hour,
	// A welcome code lives 20 s; a day outlives every redelivery.
	store.MarkWelcome: 24 * time.Hour,
	// An OA follow is redelivered for minutes at most; a month is ample.
	store.MarkOAWelcome: 30 * 24 * time.Hour,
	// A campaign is synced and nudged for a week after it is sent.
	store.MarkCampaignNudge: 30 * 24 * time.Hour,
}

// SweepStore is what the marker sweep deletes from.
type SweepStore interface {
	DeleteMarkers(ctx context.Context, kind string, before time.Time) (int64, error)
	// PruneDone deletes the bookkeeping of work finished before before:
	// on MongoDB the done records and lease generations of processed
	// events and the superseded lease generations of reminders; SQLite
	// keeps that bookkeeping in the rows themselves and has none.
	PruneDone(ctx context.Context, before time.Time) (int64, error)
}

// MarkerSweepOptions tunes the sweep; zero values take the defaults.
type MarkerSweepOptions struct {
	Now    func() time.Time
	Logger *slog.Logger
	// Every is how often the sweep runs (default 6 h). Every instance
	// sweeps; deleting what another instance deleted is harmless.
	Every time.Duration
	// DoneAfter is how long finished work's bookkeeping is kept (default
	// 7 days): far beyond any lease, so no live claim can still need it.
	DoneAfter time.Duration
}

// MarkerSweep deletes markers older than their family's retention and the
// bookkeeping of long finished work, which would otherwise grow forever.
// FerretDB v1 has no TTL indexes, so it is an explicit periodic delete.
type MarkerSweep struct {
	st SweepStore
	o  MarkerSweepOptions
}

// NewMarkerSweep returns the sweep over st.
func NewMarkerSweep(st SweepStore, o MarkerSweepOptions) *MarkerSweep {
	o.Now, o.Logger = clockOr(o.Now), loggerOr(o.Logger)
	o.Every = positiveOr(o.Every, 6*time.Hour)
	o.DoneAfter = positiveOr(o.DoneAfter, 7*24*time.Hour)
	return &MarkerSweep{st: st, o: o}
}

// Run sweeps at once and then every Every until ctx ends.
func (m *MarkerSweep) Run(ctx context.Context) {
	pollLoop(ctx, m.o.Every, nil, func() {
		if n, err := m.SweepOnce(ctx); err != nil && ctx.Err() == nil {
			m.o.Logger.Warn("sweep markers", "err", err)
		} else if n > 0 {
			m.o.Logger.Info("swept markers", "deleted", n)
		}
	})
}

// SweepOnce deletes, for every family in MarkerRetention, the markers made
// before its retention, then the bookkeeping of work finished DoneAfter
// ago, and reports how many records it deleted. It goes on past a failing
// family and returns the first error.
func (m *MarkerSweep) SweepOnce(ctx context.Context) (int64, error) {
	now := m.o.Now()
	var total int64
	var first error
	for _, kind := range store.MarkerKinds {
		keep, ok := MarkerRetention[kind]
		if !ok {
			continue // a family kept for good
		}
		n, err := m.st.DeleteMarkers(ctx, kind, now.Add(-keep))
		total += n
		if err != nil && first == nil {
			first = fmt.Errorf("sweep: %w", err)
		}
	}
	n, err := m.st.PruneDone(ctx, now.Add(-m.o.DoneAfter))
	total += n
	if err != nil && first == nil {
		first = fmt.Errorf("sweep: %w", err)
	}
	return total, first
}
