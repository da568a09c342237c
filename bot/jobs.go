package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/scrmhq/scrm/store"
)

// JobQueue is the part of store.JobStore a JobRunner consumes.
type JobQueue interface {
	ClaimJobs(ctx context.Context, kind, owner string, now time.Time, lease time.Duration, limit int) ([]*store.Job, error)
	CompleteJob(ctx context.Context, key string, version int64, owner string) error
	FailJob(ctx context.Context, key, owner, errText string, retryAt time.Time) error
}

// JobHandler runs one claimed job. Returning nil completes it (unless it was
// re-armed meanwhile, in which case it runs again when due); an error
// releases it to be retried with backoff. Handlers must be idempotent: a job
// whose instance died mid-run is run again after its lease expires.
type JobHandler func(ctx context.Context, job *store.Job) error

// RunnerOptions tune a JobRunner; zero values take the defaults.
type RunnerOptions struct {
	Owner string // this instance's identity in leases
	// Lease is how long a claim lasts (default 5 min). A handler's context
	// ends a little before it, so that a slow run fails cleanly instead of
	// racing the instance that takes the job over.
	Lease   time.Duration
	Poll    time.Duration // how often to look for due jobs without a wake-up (default 1 s)
	Workers int           // handlers run concurrently (default 1)
	// Batch is how many jobs one claim takes (default Workers). Claiming
	// more than the workers can start within the lease lets leases expire
	// while jobs wait.
	Batch int
	// Grace is how long running handlers may go on after shutdown begins
	// (default 3 s); then their context ends and the job is released to
	// run again at once.
	Grace  time.Duration
	Now    func() time.Time
	Logger *slog.Logger
	Wake   <-chan struct{} // optional: look for due jobs now
}

// forKind returns o for a component's runner of kind: an instance's owner
// gets the kind appended, so that its runners of several kinds hold leases
// under distinct names, and lease, when positive, replaces an unset Lease.
func (o RunnerOptions) forKind(kind string, lease time.Duration) RunnerOptions {
	if o.Owner != "" {
		o.Owner += "-" + kind
	}
	if lease > 0 {
		o.Lease = positiveOr(o.Lease, lease)
	}
	return o
}

// JobRunner runs the durable jobs of one kind: it claims due jobs under a
// lease, runs the handler on each and completes or fails them. Several
// runners (one per instance) may run the same kind; the leases keep each
// job on one of them at a time.
type JobRunner struct {
	q      JobQueue
	kind   string
	handle JobHandler
	o      RunnerOptions
}

// NewJobRunner returns a runner of jobs of kind.
func NewJobRunner(q JobQueue, kind string, handle JobHandler, o RunnerOptions) *JobRunner {
	o.Lease = positiveOr(o.Lease, 5*time.Minute)
	o.Poll = positiveOr(o.Poll, time.Second)
	o.Workers = positiveOr(o.Workers, 1)
	o.Batch = positiveOr(o.Batch, o.Workers)
	o.Grace = positiveOr(o.Grace, 3*time.Second)
	o.Now, o.Logger = clockOr(o.Now), loggerOr(o.Logger)
	if o.Owner == "" {
		o.Owner = "jobs-" + kind
	}
	return &JobRunner{q: q, kind: kind, handle: handle, o: o}
}

// Run runs due jobs until ctx ends, then returns once the running handlers
// finish or Grace has passed and their context has ended.
func (r *JobRunner) Run(ctx context.Context) {
	pollLoop(ctx, r.o.Poll, r.o.Wake, func() {
		// A short batch means nothing more is due.
		if err := drainWhile(ctx, r.RunOnce, func(n int) bool { return n >= r.o.Batch }); err != nil {
			r.o.Logger.Warn("claim jobs", "kind", r.kind, "err", err)
		}
	})
}

// The engine's loops (the pipeline's, the job runners', the scheduler's)
// share one shape: a round at once, then one whenever woken or Poll has
// passed; a round claims and works until nothing more is due.

// pollLoop runs round at once, then whenever wake fires or poll has passed
// since the last round, until ctx ends.
func pollLoop(ctx context.Context, poll time.Duration, wake <-chan struct{}, round func()) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-wake:
		}
		round()
		timer.Reset(poll) // since Go 1.23 a reset timer never delivers a stale tick
	}
}

// drainWhile calls step while ctx lives and more says that what step did
// leaves more to do. It returns step's error, if any, at once.
func drainWhile(ctx context.Context, step func(context.Context) (int, error), more func(n int) bool) error {
	for ctx.Err() == nil {
		n, err := step(ctx)
		if err != nil {
			return err
		}
		if !more(n) {
			return nil
		}
	}
	return nil
}

// some is drainWhile's more for steps that did nothing only when all is done.
func some(n int) bool { return n > 0 }

// follower is what the components that keep scrm in step with WeCom
// (Groups, Handover, StaffSync, TagSync) hold: their store, the part of
// WeCom's API they call and their options, defaults filled in.
type follower[S, A, O any] struct {
	st  S
	api A
	o   O
}

// scheduleSync arms the sync job key of kind (the syncs have no payload)
// for at; which says which of a component's syncs it is, for the error.
func scheduleSync(ctx context.Context, q interface {
	ScheduleJob(ctx context.Context, key, kind, payload string, dueAt time.Time) error
}, key, kind, which string, at time.Time) error {
	if err := q.ScheduleJob(ctx, key, kind, "", at); err != nil {
		return fmt.Errorf("%s: schedule %s sync: %w", kind, which, err)
	}
	return nil
}

// indexBy maps every item to its key (items with one key: the last).
func indexBy[K comparable, T any](items []T, key func(T) K) map[K]T {
	m := make(map[K]T, len(items))
	for _, it := range items {
		m[key(it)] = it
	}
	return m
}

// eachAtMost runs f on every item, at most n at a time, and returns once
// all have finished.
func eachAtMost[T any](n int, items []T, f func(T)) {
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, it := range items {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(it)
		})
	}
	wg.Wait()
}

// runAll runs each loop in its own goroutine and returns once all have.
func runAll(ctx context.Context, loops ...func(context.Context)) {
	var wg sync.WaitGroup
	for _, loop := range loops {
		wg.Go(func() { loop(ctx) })
	}
	wg.Wait()
}

// RunOnce claims one batch of due jobs and runs them, reporting how many it
// claimed. Tests use it to drive the runner step by step.
func (r *JobRunner) RunOnce(ctx context.Context) (int, error) {
	jobs, err := r.q.ClaimJobs(store.WithDeferredSync(ctx), r.kind, r.o.Owner, r.o.Now(), r.o.Lease, r.o.Batch)
	if err != nil {
		return 0, fmt.Errorf("jobs %s: claim: %w", r.kind, err)
	}
	if len(jobs) == 1 || r.o.Workers == 1 {
		for _, j := range jobs {
			r.run(ctx, j)
		}
		return len(jobs), nil
	}
	eachAtMost(r.o.Workers, jobs, func(j *store.Job) { r.run(ctx, j) })
	return len(jobs), nil
}

// run handles one job and records the outcome. It runs to completion even
// while shutting down, for up to Grace: the lease is ours and finishing is
// cheaper than leaving it to expire, but shutdown must end.
func (r *JobRunner) run(stop context.Context, j *store.Job) {
	// What jobs write is background work: see store.WithDeferredSync.
	bg := store.WithDeferredSync(context.WithoutCancel(stop))
	ctx, cancel := context.WithTimeout(bg, r.o.Lease*9/10)
	defer cancel()
	after := context.AfterFunc(stop, func() {
		t := time.AfterFunc(r.o.Grace, cancel)
		context.AfterFunc(ctx, func() { t.Stop() })
	})
	defer after()
	err := r.safeHandle(ctx, j)
	// Recording the outcome gets its own deadline: the handler may have
	// used up the run's. During shutdown it is short, so an unreachable
	// store cannot hold the exit up; the lease covers what is not recorded.
	wait := 30 * time.Second
	if stop.Err() != nil {
		wait = 5 * time.Second
	}
	rctx, rcancel := context.WithTimeout(bg, wait)
	defer rcancel()
	if err != nil {
		retry := r.o.Now().Add(backoff(j.Attempts))
		if stop.Err() != nil && ctx.Err() != nil {
			retry = r.o.Now() // cut short by shutdown: run again at the next start
		}
		r.o.Logger.Warn("job failed", "kind", r.kind, "key", j.Key, "attempt", j.Attempts, "retry_at", retry, "err", err)
		if ferr := r.q.FailJob(rctx, j.Key, r.o.Owner, err.Error(), retry); ferr != nil && !errors.Is(ferr, store.ErrConflict) {
			r.o.Logger.Warn("release job", "kind", r.kind, "key", j.Key, "err", ferr)
		}
		return
	}
	if cerr := r.q.CompleteJob(rctx, j.Key, j.Version, r.o.Owner); cerr != nil {
		// ErrConflict: our lease expired and another instance took the job
		// over; it will complete it.
		if !errors.Is(cerr, store.ErrConflict) {
			r.o.Logger.Warn("complete job", "kind", r.kind, "key", j.Key, "err", cerr)
		}
	}
}

// safeHandle runs the handler, turning a panic into a failed run: one bad
// job is retried with backoff instead of taking the instance down.
func (r *JobRunner) safeHandle(ctx context.Context, j *store.Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.o.Logger.Error("job handler panicked", "kind", r.kind, "key", j.Key, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("jobs %s: handler panicked: %v", r.kind, p)
		}
	}()
	return r.handle(ctx, j)
}
