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
	"slices"
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

// BatchProcessor is a processor that does its part of a whole claimed batch
// in one go — one store call instead of one or more per event — before the
// batch's events run one by one. The pipeline calls ProcessBatch of the
// leading processors that implement it (those before the first that does
// not), so no earlier processor has run on the events yet. evs[i] runs with
// ectxs[i], the event's own context, later handed to Process; an event whose
// part ProcessBatch did is marked with MarkBatched(ectxs[i], name), and
// Process, seeing Batched, skips it. An event it could not do is left
// unmarked, for Process to do as it would without the batch. ProcessBatch
// must keep Process's guarantees: idempotent writes, per-customer order.
type BatchProcessor interface {
	Processor
	ProcessBatch(ctx context.Context, evs []*store.Event, ectxs []context.Context)
}

// batched is the set of processors whose part of one event its batch did.
type batched struct {
	mu    sync.Mutex
	procs map[string]bool
}

// MarkBatched records in an event's context that processor name's part of
// the event was done by its ProcessBatch.
func MarkBatched(ctx context.Context, name string) {
	b := slotOf[batched](ctx)
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.procs == nil {
		b.procs = map[string]bool{}
	}
	b.procs[name] = true
}

// Batched reports whether processor name's part of the event was done by
// its ProcessBatch.
func Batched(ctx context.Context, name string) bool {
	b := slotOf[batched](ctx)
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.procs[name]
}

// EventQueue is the part of the event log the pipeline consumes.
type EventQueue interface {
	ClaimEvents(ctx context.Context, owner string, limit int, now time.Time, lease time.Duration) ([]*store.Event, error)
	CompleteEvents(ctx context.Context, ids []int64, owner string, now time.Time) (lost []int64, err error)
	FailEvent(ctx context.Context, id int64, owner string, errText string, retryAt time.Time) error
	// WriteMarkersAndJobs writes what the batch's processors kept back
	// (see withBatch).
	WriteMarkersAndJobs(ctx context.Context, ms []store.MarkerWrite, js []store.JobWrite) error
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
	o.Workers = positiveOr(o.Workers, 32)
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

	// Each event's processors share its context: the customer memo (see
	// ShareEventCustomers), what the batch already did for it and the
	// writes it keeps for the batch. The events of one customer share a
	// memo: they run in order in one lane, each seeing what the last left.
	ectxs := make([]context.Context, len(evs))
	memos := map[[2]string]*customerMemo{}
	for i, ev := range evs {
		m := &customerMemo{}
		if ev.CustomerID != "" {
			k := [2]string{ev.Channel, ev.CustomerID}
			if memos[k] == nil {
				memos[k] = m
			}
			m = memos[k]
		}
		ectxs[i] = withSlot(withSlot(withSlot(pctx, m), &batched{}), &laterWrites{})
	}
	for _, proc := range p.procs {
		bp, ok := proc.(BatchProcessor)
		if !ok {
			break
		}
		bp.ProcessBatch(pctx, evs, ectxs)
	}

	lanes := make([][]int, min(p.o.Workers, len(evs)))
	for i, ev := range evs {
		k := laneOf(ev, len(lanes))
		lanes[k] = append(lanes[k], i)
	}
	var (
		mu        sync.Mutex
		done      []int   // indices into evs
		unstarted []int64 // not started before shutdown
		wg        sync.WaitGroup
	)
	for _, lane := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, k := range lane {
				ev := evs[k]
				if ctx.Err() != nil {
					mu.Lock()
					for _, k := range lane[i:] {
						unstarted = append(unstarted, evs[k].ID)
					}
					mu.Unlock()
					return
				}
				if p.process(ectxs[k], ev) {
					mu.Lock()
					done = append(done, k)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	p.complete(bg, evs, ectxs, done)
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

// process runs every processor on ev in its context, reporting whether all
// succeeded. A failure releases the event for a retry with backoff.
func (p *Pipeline) process(ctx context.Context, ev *store.Event) bool {
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

// complete writes what the processed events of a batch kept back for it
// (see withBatch) in one store call, then marks them done in one more.
// Should either fail, their leases expire and they run again: every
// processor is idempotent, and a rerun makes the kept writes again.
func (p *Pipeline) complete(ctx context.Context, evs []*store.Event, ectxs []context.Context, done []int) {
	if len(done) == 0 {
		return
	}
	var (
		ms  []store.MarkerWrite
		js  []store.JobWrite
		ids = make([]int64, 0, len(done))
	)
	slices.Sort(done) // the order claimed: a customer's later writes win
	for _, k := range done {
		m, j := keptOf(ectxs[k]).take()
		ms, js = append(ms, m...), append(js, j...)
		ids = append(ids, evs[k].ID)
	}
	// Each call gets its own bound: on MongoDB the markers and jobs are a
	// command or more each.
	wctx, cancel := context.WithTimeout(ctx, storeWait)
	err := p.q.WriteMarkersAndJobs(wctx, ms, lastPerKey(js))
	cancel()
	if err != nil {
		p.o.Logger.Warn("write the batch's markers and jobs", "events", len(ids), "err", err)
		return
	}
	ctx, cancel = context.WithTimeout(ctx, storeWait)
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

// lastPerKey keeps the last schedule of each job key: a job re-armed by
// several events of a batch (a customer's analysis after each message) ends
// as the last one set it, so the earlier ones need not be written.
func lastPerKey(js []store.JobWrite) []store.JobWrite {
	last := make(map[string]int, len(js))
	for i, j := range js {
		last[j.Key] = i
	}
	out := js[:0:0]
	for i, j := range js {
		if last[j.Key] == i {
			out = append(out, j)
		}
	}
	return out
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
