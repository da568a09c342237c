package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

// TestDeferredWritesShareTransactions: background writes issued at once by
// many workers (the pipeline's markers, jobs and cursors) commit in far
// fewer transactions than writes; every one is stored; a write that fails,
// and one whose context ended, change nothing and fail alone.
func TestDeferredWritesShareTransactions(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bg := store.WithDeferredSync(ctx)
	now := time.Now().UTC()
	const workers, each = 32, 40
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				key := fmt.Sprintf("w%d-%d", w, i)
				var err error
				switch {
				case i%10 == 3: // writes, then fails: must be undone alone
					err = db.writeTx(bg, func(tx *sql.Tx) error {
						if _, err := tx.ExecContext(bg, `INSERT INTO markers (kind, key, value, created_at) VALUES ('t', ?, 'x', 0)`, key); err != nil {
							return err
						}
						return boom
					})
					if !errors.Is(err, boom) {
						errs <- fmt.Errorf("failing write %s: %v, want boom", key, err)
					}
					continue
				case i%10 == 7:
					err = db.ScheduleJob(bg, key, "t", "", now)
				default:
					err = db.SetMarker(bg, "t", key, "1", now)
				}
				if err != nil {
					errs <- fmt.Errorf("write %s: %w", key, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var markers, jobs int
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM markers WHERE kind = 't'`).Scan(&markers); err != nil {
		t.Fatal(err)
	}
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE kind = 't'`).Scan(&jobs); err != nil {
		t.Fatal(err)
	}
	if markers != workers*each*8/10 || jobs != workers*each/10 {
		t.Errorf("%d markers, %d jobs stored; want %d, %d (failed writes undone, the rest kept)", markers, jobs, workers*each*8/10, workers*each/10)
	}
	commits, writes := db.group.commits.Load(), db.group.writes.Load()
	t.Logf("%d deferred writes in %d transactions", writes, commits)
	if writes != workers*each || commits*2 > writes {
		t.Errorf("%d deferred writes in %d transactions; want all %d, at least two a transaction", writes, commits, workers*each)
	}

	// A write whose context has ended is not run; an acknowledged
	// (durable) write never joins a group.
	done, cancel := context.WithCancel(bg)
	cancel()
	if err := db.SetMarker(done, "t", "cancelled", "1", now); !errors.Is(err, context.Canceled) {
		t.Errorf("write with an ended context: %v, want context.Canceled", err)
	}
	if err := db.SetMarker(ctx, "t", "durable", "1", now); err != nil {
		t.Fatal(err)
	}
	if got := db.group.writes.Load(); got != writes {
		t.Errorf("durable write went through a group (%d grouped writes, want %d)", got, writes)
	}
}
