// Package bot is scrm's application core. Its pipeline reads the durable event
// log the edge writes and runs every processor on each event: at least once,
// under a lease, so a crashed instance's events are picked up by another, and
// every processor is idempotent so a repeat changes nothing.
package bot

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
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
	CompleteEvents(ctx context.Context, ids []int64, owner string, now time.Time) (lost []int64, err error)
	FailEvent(ctx context.Context, id int64, owner string, errText string, retryAt time.Time) error
	OldestUnprocessed(ctx context.Context) (time.Time, error)
}

// PipelineOptions tunes the pipeline; zero values take the defaults.
type PipelineOptions struct {
	Owner string // this instance's identity in leases
	// Workers is how many events of one batch run at once (default 8),
	// each worker taking the events of the customers hashed to it in
	// order, so one customer's events never run concurrently or out of
	// order within an instance.
	Workers int
	Batch   int           // events claimed at once (default 256)
	Lease   time.Duration // how long a claim lasts (default 1 min)
	Poll    time.Duration // fallback poll interval without wake-ups (default 1 s)
	// Grace is how long events already running may go on after shutdown
	// begins (default 3 s); then their context ends. Events of the batch
	// not yet started are released at once, for the next start.
	Grace    time.Duration
	Wake     <-chan struct{}
	Now      func() time.Time
	Logger   *slog.Logger
	Registry prometheus.Registerer
}

// Pipeline runs processors over the event log: it claims a batch, runs it
// on Workers workers partitioned by customer, and completes the batch's
// processed events in one store call. The next batch is claimed only when
// the last one is done, which keeps each customer's events in order.
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
	o.Workers = positiveOr(o.Workers, 8)
	o.Batch = positiveOr(o.Batch, 256)
	o.Lease = positiveOr(o.Lease, time.Minute)
	o.Poll = positiveOr(o.Poll, time.Second)
	o.Grace = positiveOr(o.Grace, 3*time.Second)
	o.Now, o.Logger = clockOr(o.Now), loggerOr(o.Logger)
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	p := &Pipeline{q: q, procs: procs, o: o, wake: make(chan struct{}, 1)}
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

// Run processes events until ctx ends. The batch in flight then gets Grace
// to finish; what finished is completed, what did not start is released,
// and what is still running when Grace ends keeps its lease.
func (p *Pipeline) Run(ctx context.Context) {
	runAll(ctx, p.work, p.fanWake, p.measureLag)
}

// fanWake passes external wake-ups to the claim loop.
func (p *Pipeline) fanWake(ctx context.Context) {
	if p.o.Wake == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.o.Wake:
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
	}
}

func (p *Pipeline) work(ctx context.Context) {
	pollLoop(ctx, p.o.Poll, p.wake, func() {
		if err := drainWhile(ctx, p.RunOnce, some); err != nil && ctx.Err() == nil {
			p.o.Logger.Warn("claim events", "err", err)
		}
	})
}

// storeWait bounds the store calls that record a batch's outcome, so that
// an unreachable store cannot hold shutdown up.
const storeWait = 5 * time.Second

// RunOnce claims one batch and processes it, reporting how many events it
// claimed. Tests use it to drive the pipeline step by step.
func (p *Pipeline) RunOnce(ctx context.Context) (int, error) {
	// Everything the pipeline writes is background work: see
	// store.WithDeferredSync.
	bg := store.WithDeferredSync(context.WithoutCancel(ctx))
	cctx, cancel := context.WithTimeout(store.WithDeferredSync(ctx), p.o.Lease)
	evs, err := p.q.ClaimEvents(cctx, p.o.Owner, p.o.Batch, p.o.Now(), p.o.Lease)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("pipeline: claim: %w", err)
	}
	if len(evs) == 0 {
		return 0, nil
	}
	// Processing outlives ctx by Grace: the lease is ours and finishing an
	// event is cheaper than leaving it to expire, but shutdown must end.
	pctx, pcancel := context.WithTimeout(bg, p.o.Lease)
	defer pcancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(p.o.Grace, pcancel)
		context.AfterFunc(pctx, func() { t.Stop() })
	})
	defer stop()

	lanes := make([][]*store.Event, min(p.o.Workers, len(evs)))
	for _, ev := range evs {
		k := laneOf(ev, len(lanes))
		lanes[k] = append(lanes[k], ev)
	}
	var (
		mu        sync.Mutex
		done      []int64
		unstarted []int64 // not started before shutdown
		wg        sync.WaitGroup
	)
	for _, lane := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, ev := range lane {
				if ctx.Err() != nil {
					mu.Lock()
					for _, e := range lane[i:] {
						unstarted = append(unstarted, e.ID)
					}
					mu.Unlock()
					return
				}
				if p.process(pctx, ev) {
					mu.Lock()
					done = append(done, ev.ID)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	p.complete(bg, done)
	p.release(bg, unstarted)
	return len(evs), nil
}

// laneOf picks the worker of an event: a customer's events share a lane, so
// they apply in order. Events without a customer — staff commands, card
// presses, directory changes — all take lane 0, in the order they were
// stored: any of them may act on any customer (a claim, a reply, a note),
// and of two presses of 接待 on one customer the first stored must win.
func laneOf(ev *store.Event, n int) int {
	if n <= 1 || ev.CustomerID == "" {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(ev.CustomerID))
	return int(h.Sum32() % uint32(n))
}

// process runs every processor on ev, reporting whether all succeeded. A
// failure releases the event for a retry with backoff.
func (p *Pipeline) process(ctx context.Context, ev *store.Event) bool {
	ctx = withCustomerMemo(ctx) // see ShareEventCustomers
	for _, proc := range p.procs {
		if err := proc.Process(ctx, ev); err != nil {
			retry := p.o.Now().Add(backoff(ev.Attempts))
			p.o.Logger.Warn("process event", "processor", proc.Name(), "event_id", ev.ID, "kind", ev.Kind, "attempt", ev.Attempts+1, "err", err)
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeWait)
			if ferr := p.q.FailEvent(fctx, ev.ID, p.o.Owner, proc.Name()+": "+err.Error(), retry); ferr != nil {
				p.o.Logger.Warn("release event", "event_id", ev.ID, "err", ferr)
			}
			cancel()
			p.processed.WithLabelValues("retry").Inc()
			return false
		}
	}
	return true
}

// complete marks the processed events of a batch done in one store call.
// Should it fail, their leases expire and they run again: every processor
// is idempotent.
func (p *Pipeline) complete(ctx context.Context, ids []int64) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, storeWait)
	defer cancel()
	lost, err := p.q.CompleteEvents(ctx, ids, p.o.Owner, p.o.Now())
	if err != nil {
		p.o.Logger.Warn("complete events", "events", len(ids), "err", err)
		return
	}
	// A lost event's lease expired and another instance took it over; it
	// completes it.
	p.processed.WithLabelValues("ok").Add(float64(len(ids) - len(lost)))
}

// release hands back the events a shutdown kept from starting, so that the
// next start takes them at once instead of after their lease. What the
// deadline leaves unreleased waits for its lease to expire.
func (p *Pipeline) release(ctx context.Context, ids []int64) {
	ctx, cancel := context.WithTimeout(ctx, storeWait)
	defer cancel()
	now := p.o.Now()
	for _, id := range ids {
		if err := p.q.FailEvent(ctx, id, p.o.Owner, "released at shutdown", now); err != nil {
			if ctx.Err() == nil && !errors.Is(err, store.ErrConflict) {
				p.o.Logger.Warn("release event", "event_id", id, "err", err)
			}
			if ctx.Err() != nil {
				return
			}
		}
	}
}

// firstRun reports whether this is the first time any instance runs the
// event: claiming counts attempts, so at 1 no earlier run can have left a
// marker keyed by the event, and reading for one can be skipped. An event
// handed to a processor outside the pipeline (attempts 0) is not known to be
// a first run.
func firstRun(ev *store.Event) bool { return ev.Attempts == 1 }

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
