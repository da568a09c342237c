package bot_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
)

// jobClock is a manual clock shared by the job and analysis tests.
type jobClock = testClock

func newJobClock(t time.Time) *jobClock { return newTestClock(t) }

// jobFixture is a fresh store and a job clock at t0.
func jobFixture(t *testing.T) (*sqlite.DB, *jobClock) {
	t.Helper()
	return openStore(t), newJobClock(t0)
}

// jobCounter counts handler runs per job key.
type jobCounter struct {
	mu   sync.Mutex
	runs map[string]int
}

func (c *jobCounter) inc(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs == nil {
		c.runs = map[string]int{}
	}
	c.runs[key]++
	return c.runs[key]
}

func (c *jobCounter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[key]
}

func jobsPending(t *testing.T, st store.JobStore, kind string) int64 {
	t.Helper()
	n, err := st.CountJobs(context.Background(), kind)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestJobRunner(t *testing.T) {
	ctx := context.Background()

	t.Run("completes jobs and retries failures with backoff", func(t *testing.T) {
		st, clock := jobFixture(t)
		var runs jobCounter
		handler := func(_ context.Context, j *store.Job) error {
			n := runs.inc(j.Key)
			switch {
			case n == 1 && j.Key == "t:b":
				return errors.New("dependency down")
			case n == 1 && j.Key == "t:c":
				panic("bug") // a panicking handler fails its job, not the instance
			}
			return nil
		}
		r := bot.NewJobRunner(st, "t", handler, bot.RunnerOptions{Owner: "a", Batch: 10, Now: clock.Now, Logger: anLog})
		for _, k := range []string{"t:a", "t:b", "t:c"} {
			if err := st.ScheduleJob(ctx, k, "t", "", t0); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.ScheduleJob(ctx, "t:later", "t", "", t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := st.ScheduleJob(ctx, "other:x", "other", "", t0); err != nil {
			t.Fatal(err)
		}
		n, err := r.RunOnce(ctx)
		if err != nil || n != 3 {
			t.Fatalf("RunOnce = %d, %v; want the 3 due jobs of kind t", n, err)
		}
		if got := jobsPending(t, st, "t"); got != 3 {
			t.Fatalf("pending jobs of kind t = %d, want 3 (the failed, the panicked and the later one)", got)
		}
		// The failed job waits for its backoff.
		if n, _ := r.RunOnce(ctx); n != 0 {
			t.Fatalf("claimed %d jobs before the backoff elapsed", n)
		}
		clock.Add(30 * time.Minute)
		if n, _ := r.RunOnce(ctx); n != 2 {
			t.Fatalf("claimed %d jobs after the backoff, want 2", n)
		}
		for k, want := range map[string]int{"t:a": 1, "t:b": 2, "t:c": 2, "t:later": 0, "other:x": 0} {
			if got := runs.get(k); got != want {
				t.Errorf("%s ran %d times, want %d", k, got, want)
			}
		}
		if got := jobsPending(t, st, "other"); got != 1 {
			t.Errorf("a job of another kind was touched: %d pending, want 1", got)
		}
	})

	t.Run("a job re-armed while it runs runs again", func(t *testing.T) {
		st, clock := jobFixture(t)
		var runs jobCounter
		handler := func(ctx context.Context, j *store.Job) error {
			if runs.inc(j.Key) == 1 {
				// A new message arrives during the run.
				return st.ScheduleJob(ctx, j.Key, "t", "v2", clock.Now().Add(time.Minute))
			}
			if j.Payload != "v2" {
				t.Errorf("second run saw payload %q, want v2", j.Payload)
			}
			return nil
		}
		r := bot.NewJobRunner(st, "t", handler, bot.RunnerOptions{Owner: "a", Now: clock.Now})
		if err := st.ScheduleJob(ctx, "t:x", "t", "v1", t0); err != nil {
			t.Fatal(err)
		}
		if _, err := r.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if got := jobsPending(t, st, "t"); got != 1 {
			t.Fatalf("re-armed job completed away: %d pending, want 1", got)
		}
		clock.Add(2 * time.Minute)
		if _, err := r.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if runs.get("t:x") != 2 || jobsPending(t, st, "t") != 0 {
			t.Fatalf("runs = %d, pending = %d; want 2 runs and nothing pending", runs.get("t:x"), jobsPending(t, st, "t"))
		}
	})

	t.Run("a dead instance's job is taken over after its lease", func(t *testing.T) {
		st, clock := jobFixture(t)
		if err := st.ScheduleJob(ctx, "t:x", "t", "", t0); err != nil {
			t.Fatal(err)
		}
		// Instance "dead" claims the job and never finishes.
		claimed, err := st.ClaimJobs(ctx, "t", "dead", t0, time.Minute, 10)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim = %v, %v", claimed, err)
		}
		var runs jobCounter
		r := bot.NewJobRunner(st, "t", func(_ context.Context, j *store.Job) error { runs.inc(j.Key); return nil },
			bot.RunnerOptions{Owner: "alive", Lease: time.Minute, Now: clock.Now})
		if n, _ := r.RunOnce(ctx); n != 0 {
			t.Fatal("claimed a job under another owner's live lease")
		}
		clock.Add(2 * time.Minute)
		if n, _ := r.RunOnce(ctx); n != 1 || runs.get("t:x") != 1 {
			t.Fatalf("claimed %d, ran %d times; want the expired job run once", n, runs.get("t:x"))
		}
		if err := st.CompleteJob(ctx, "t:x", claimed[0].Version, "dead"); err == nil {
			// Completed and deleted by "alive": the dead owner's late
			// completion must not succeed as if it still held the lease.
			if got := jobsPending(t, st, "t"); got != 0 {
				t.Fatalf("pending = %d", got)
			}
		} else if !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("late CompleteJob by the dead owner: %v", err)
		}
	})

	t.Run("two runners run each job exactly once", func(t *testing.T) {
		st, clock := jobFixture(t)
		var runs jobCounter
		handler := func(_ context.Context, j *store.Job) error {
			runs.inc(j.Key)
			time.Sleep(time.Millisecond)
			return nil
		}
		var rs []*bot.JobRunner
		for _, owner := range []string{"a", "b"} {
			rs = append(rs, bot.NewJobRunner(st, "t", handler, bot.RunnerOptions{Owner: owner, Workers: 3, Now: clock.Now}))
		}
		for i := range 40 {
			if err := st.ScheduleJob(ctx, fmt.Sprintf("t:%d", i), "t", "", t0); err != nil {
				t.Fatal(err)
			}
		}
		for round := 0; jobsPending(t, st, "t") > 0; round++ {
			if round > 50 {
				t.Fatal("jobs left after 50 rounds")
			}
			var wg sync.WaitGroup
			for _, r := range rs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := r.RunOnce(ctx); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
		}
		for i := range 40 {
			if got := runs.get(fmt.Sprintf("t:%d", i)); got != 1 {
				t.Errorf("job %d ran %d times", i, got)
			}
		}
	})

	t.Run("Run wakes on a signal and stops with its context", func(t *testing.T) {
		st := openStore(t)
		done := make(chan string, 1)
		wake := make(chan struct{}, 1)
		r := bot.NewJobRunner(st, "t", func(_ context.Context, j *store.Job) error { done <- j.Key; return nil },
			bot.RunnerOptions{Owner: "a", Poll: time.Hour, Wake: wake})
		rctx, cancel := context.WithCancel(ctx)
		stopped := make(chan struct{})
		go func() { defer close(stopped); r.Run(rctx) }()
		time.Sleep(50 * time.Millisecond) // let the first (empty) poll pass
		if err := st.ScheduleJob(ctx, "t:w", "t", "", time.Now()); err != nil {
			t.Fatal(err)
		}
		wake <- struct{}{}
		select {
		case k := <-done:
			if k != "t:w" {
				t.Fatalf("ran %q", k)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the wake-up did not run the job (poll is an hour)")
		}
		cancel()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	})
}
