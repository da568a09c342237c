// Package bot is scrm's application core. Its pipeline reads the durable event
// log the edge writes and runs every processor on each event: at least once,
// under a lease, so a crashed instance's events are picked up by another, and
// every processor is idempotent so a repeat changes nothing.
package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrmhq/scrm/store"
)

// Processor applies one stored event. It must be idempotent: the pipeline may
// run it again for the same event after a crash or a lost lease.
type Processor interface {
	Name() string
	Process(ctx context.Context, ev *store.Event) error
}

// EventQueue is the part of the event log the pipeline consumes.
type EventQueue interface {
	ClaimEvents(ctx context.Context, owner string, limit int, now time.Time, lease time.Duration) ([]*store.Event, error)
	CompleteEvent(ctx context.Context, id int64, owner string, now time.Time) error
	FailEvent(ctx context.Context, id int64, owner string, errText string, retryAt time.Time) error
	OldestUnprocessed(ctx context.Context) (time.Time, error)
}

// PipelineOptions tunes the pipeline; zero values take the defaults.
type PipelineOptions struct {
	Owner    string        // this instance's identity in leases
	Workers  int           // concurrent claimers (default 4)
	Batch    int           // events claimed at once (default 64)
	Lease    time.Duration // how long a claim lasts (default 1 min)
	Poll     time.Duration // fallback poll interval without wake-ups (default 1 s)
	Wake     <-chan struct{}
	Now      func() time.Time
	Logger   *slog.Logger
	Registry prometheus.Registerer
}

// Pipeline runs processors over the event log.
type Pipeline struct {
	q     EventQueue
	procs []Processor
	o     PipelineOptions
	wake  chan struct{}

	processed *prometheus.CounterVec
	lag       prometheus.Gauge
}

// NewPipeline returns a pipeline that runs procs, in order, on each event.
func NewPipeline(q EventQueue, o PipelineOptions, procs ...Processor) *Pipeline {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Batch <= 0 {
		o.Batch = 64
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	p := &Pipeline{q: q, procs: procs, o: o, wake: make(chan struct{}, o.Workers)}
	p.processed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scrm_events_processed_total",
		Help: "Events run through the pipeline, by result (ok, retry).",
	}, []string{"result"})
	p.lag = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "scrm_processing_lag_seconds",
		Help: "Age of the oldest stored event not yet processed (0 when caught up).",
	})
	o.Registry.MustRegister(p.processed, p.lag)
	return p
}

// Run processes events until ctx ends, then returns after in-flight batches
// finish (their leases would otherwise have to expire before a restart).
func (p *Pipeline) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range p.o.Workers {
		wg.Add(1)
		go func() { defer wg.Done(); p.work(ctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); p.fanWake(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); p.measureLag(ctx) }()
	wg.Wait()
}

// fanWake passes each external wake-up to every idle worker.
func (p *Pipeline) fanWake(ctx context.Context) {
	if p.o.Wake == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.o.Wake:
			for range p.o.Workers {
				select {
				case p.wake <- struct{}{}:
				default:
				}
			}
		}
	}
}

func (p *Pipeline) work(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-p.wake:
		}
		// Drain: keep claiming while there is work, then sleep until woken.
		for ctx.Err() == nil {
			n, err := p.RunOnce(ctx)
			if err != nil {
				p.o.Logger.Warn("claim events", "err", err)
				break
			}
			if n == 0 {
				break
			}
		}
		timer.Reset(p.o.Poll)
	}
}

// RunOnce claims one batch and processes it, reporting how many events it
// handled. Tests use it to drive the pipeline step by step.
func (p *Pipeline) RunOnce(ctx context.Context) (int, error) {
	evs, err := p.q.ClaimEvents(ctx, p.o.Owner, p.o.Batch, p.o.Now(), p.o.Lease)
	if err != nil {
		return 0, fmt.Errorf("pipeline: claim: %w", err)
	}
	for _, ev := range evs {
		p.process(ev)
	}
	return len(evs), nil
}

func (p *Pipeline) process(ev *store.Event) {
	// Processing runs to completion even while shutting down: the lease is
	// ours and finishing is cheaper than leaving it to expire.
	ctx, cancel := context.WithTimeout(context.Background(), p.o.Lease)
	defer cancel()
	for _, proc := range p.procs {
		if err := proc.Process(ctx, ev); err != nil {
			retry := p.o.Now().Add(backoff(ev.Attempts))
			p.o.Logger.Warn("process event", "processor", proc.Name(), "event_id", ev.ID, "kind", ev.Kind, "attempt", ev.Attempts+1, "err", err)
			if ferr := p.q.FailEvent(ctx, ev.ID, p.o.Owner, proc.Name()+": "+err.Error(), retry); ferr != nil {
				p.o.Logger.Warn("release event", "event_id", ev.ID, "err", ferr)
			}
			p.processed.WithLabelValues("retry").Inc()
			return
		}
	}
	if err := p.q.CompleteEvent(ctx, ev.ID, p.o.Owner, p.o.Now()); err != nil {
		if !errors.Is(err, store.ErrConflict) {
			p.o.Logger.Warn("complete event", "event_id", ev.ID, "err", err)
		}
		return
	}
	p.processed.WithLabelValues("ok").Inc()
}

// backoff grows with attempts up to ten minutes, so an outage of a
// dependency delays events without spinning on them.
func backoff(attempts int) time.Duration {
	d := time.Second << min(attempts, 10)
	return min(d, 10*time.Minute)
}

func (p *Pipeline) measureLag(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		oldest, err := p.q.OldestUnprocessed(ctx)
		switch {
		case errors.Is(err, store.ErrNotFound):
			p.lag.Set(0)
		case err == nil:
			p.lag.Set(max(0, p.o.Now().Sub(oldest).Seconds()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
