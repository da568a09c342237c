package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/scrmhq/scrm/store"
)

// Group commit of background writes. The pipeline's workers each write a
// few small things per event — the inbox's and the answers' markers, the
// analysis job, a cursor — and each was its own transaction on the single
// writer: BEGIN, the statement, COMMIT writing its pages to the WAL. Writes
// marked store.WithDeferredSync that arrive while the writer is busy wait
// and then run together, one transaction for all of them, each inside a
// savepoint so that one that fails is undone alone; each caller returns
// when the transaction holding its write has committed, as before. A lone
// write runs at once, so grouping adds no wait on an idle store.
//
// Acknowledged writes (FULL) never join a group: they keep their own
// transaction and its sync.

// groupMax bounds the writes of one transaction, so that a long queue
// cannot hold the writer for long.
const groupMax = 64

type groupReq struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	done chan error
}

// groupQueue holds the writes waiting for the next group transaction.
type groupQueue struct {
	mu      sync.Mutex
	pending []*groupReq
	running bool // a committer is draining pending

	commits, writes atomic.Int64 // group transactions committed and the writes in them
}

// groupTx runs fn in a write transaction shared with the other deferred
// writes queued meanwhile, and returns fn's error or the transaction's.
func (db *DB) groupTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &groupReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	q := &db.group
	q.mu.Lock()
	q.pending = append(q.pending, req)
	lead := !q.running
	q.running = true
	q.mu.Unlock()
	if lead {
		// The caller commits what is queued until its own write is
		// done, then hands what is left to a goroutine, so that it never
		// waits on writes queued after its own.
		for {
			db.commitGroup(q.take())
			select {
			case err := <-req.done:
				q.mu.Lock()
				if len(q.pending) == 0 {
					q.running = false
				} else {
					go db.drainGroups()
				}
				q.mu.Unlock()
				return err
			default:
			}
		}
	}
	return <-req.done
}

// take removes up to groupMax queued writes.
func (q *groupQueue) take() []*groupReq {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(len(q.pending), groupMax)
	batch := q.pending[:n:n]
	q.pending = q.pending[n:]
	return batch
}

// drainGroups commits groups until nothing is queued.
func (db *DB) drainGroups() {
	q := &db.group
	for {
		q.mu.Lock()
		if len(q.pending) == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		db.commitGroup(q.take())
	}
}

// commitGroup runs batch in one transaction and answers every request.
func (db *DB) commitGroup(batch []*groupReq) {
	if len(batch) == 0 {
		return
	}
	errs := make([]error, len(batch))
	fail := func(err error) {
		for _, r := range batch {
			r.done <- err
		}
	}
	// The transaction belongs to no caller: one caller's context ending
	// must not roll back the others' writes.
	ctx := store.WithDeferredSync(context.Background())
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("begin: %w", err))
		return
	}
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := tx.ExecContext(ctx, `SAVEPOINT group_write`); err != nil {
			_ = tx.Rollback()
			fail(fmt.Errorf("savepoint: %w", err))
			return
		}
		if errs[i] = r.fn(tx); errs[i] != nil {
			// A statement interrupted by its caller's context may have
			// rolled the whole transaction back; then the savepoint is
			// gone and so are the earlier writes: all fail.
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO group_write`); err != nil {
				_ = tx.Rollback()
				fail(fmt.Errorf("%w (rollback: %v)", errs[i], err))
				return
			}
		}
		if _, err := tx.ExecContext(ctx, `RELEASE group_write`); err != nil {
			_ = tx.Rollback()
			fail(fmt.Errorf("release: %w", err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("commit: %w", err))
		return
	}
	db.group.commits.Add(1)
	db.group.writes.Add(int64(len(batch)))
	for i, r := range batch {
		r.done <- errs[i]
	}
}
