package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/scrmhq/scrm/store"
)

// EventLog is the part of the store the ingest path writes to.
type EventLog interface {
	AppendEvents(ctx context.Context, evs []*store.Event) ([]bool, error)
}

// Coordinator is the part of the coordinator the edge uses: the dedup fast
// path, the plaintext-mode replay guard and the wake-up that tells processors new events are stored.
type Coordinator interface {
	Get(ctx context.Context, key string) (string, bool, error)
	// Set stores key for ttl (0: no expiry): the set-up checks' marks.
	Set(ctx context.Context, key, value string, ttl time.Duration) error
	SetIfAbsent(ctx context.Context, key, value string, ttl time.Duration) (bool, string, error)
	MarkAll(ctx context.Context, keys []string, ttl time.Duration) error
	Notify(ctx context.Context, topic string) error
	// Count adds one to key's counter, which lives for window from its
	// first count, and returns the new count (sign-in attempts).
	Count(ctx context.Context, key string, window time.Duration) (int64, error)
}

// FastLane takes stored events that must not wait for the pipeline (the
// welcome of an add); Offer never blocks.
type FastLane interface {
	Offer(ev *store.Event)
}

// TopicEvents is the wake-up topic published after events are stored.
const TopicEvents = "events"

// dedupTTL covers WeChat's whole retry window (three retries within a few
// seconds) with a wide margin; after it the store's unique key still dedups.
const dedupTTL = 10 * time.Minute

const maxBatch = 512

type ingestReq struct {
	ev   *store.Event
	done chan ingestResult
}

type ingestResult struct {
	inserted bool
	err      error
}

// ingester turns concurrent callbacks into group commits: each writer takes
// the first waiting event, drains whatever else is queued, and stores the lot
// in one durable write. Under load batches grow on their own, so no timer
// adds latency when traffic is light.
type ingester struct {
	log     EventLog
	coord   Coordinator
	logger  *slog.Logger
	metrics *metrics
	queue   chan ingestReq
	wg      sync.WaitGroup
	stop    chan struct{}
	once    sync.Once
}

func newIngester(log EventLog, coord Coordinator, writers int, logger *slog.Logger, m *metrics) *ingester {
	if writers < 1 {
		writers = 1
	}
	in := &ingester{log: log, coord: coord, logger: logger, metrics: m,
		queue: make(chan ingestReq, maxBatch*writers), stop: make(chan struct{})}
	for range writers {
		in.wg.Add(1)
		go in.write()
	}
	return in
}

var errStopping = errors.New("ingest: shutting down")

// Ingest stores ev durably and reports whether it was new. It returns only
// once the event is durable (or storing it failed).
func (in *ingester) Ingest(ctx context.Context, ev *store.Event) (bool, error) {
	req := ingestReq{ev: ev, done: make(chan ingestResult, 1)}
	select {
	case in.queue <- req:
	case <-in.stop:
		return false, errStopping
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case res := <-req.done:
		return res.inserted, res.err
	case <-ctx.Done():
		// The write may still land; the platform's retry then dedups.
		return false, ctx.Err()
	}
}

func (in *ingester) write() {
	defer in.wg.Done()
	batch := make([]ingestReq, 0, maxBatch)
	for {
		var first ingestReq
		select {
		case first = <-in.queue:
		case <-in.stop:
			// Drain what was accepted before the stop so no waiting caller hangs.
			for {
				select {
				case r := <-in.queue:
					in.commit(append(batch[:0], r))
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-in.queue:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		in.commit(batch)
	}
}

func (in *ingester) commit(batch []ingestReq) {
	evs := make([]*store.Event, len(batch))
	for i, r := range batch {
		evs[i] = r.ev
	}
	// Storing must not be cut short by one caller's deadline: others wait on
	// the same write.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	inserted, err := in.log.AppendEvents(ctx, evs)
	in.metrics.storeAppend.Observe(time.Since(start).Seconds())
	in.metrics.batchSize.Observe(float64(len(batch)))
	if err != nil {
		in.logger.Error("store events", "err", err, "batch", len(batch))
		for _, r := range batch {
			r.done <- ingestResult{err: fmt.Errorf("ingest: %w", err)}
		}
		return
	}
	keys := make([]string, 0, len(evs))
	for _, ev := range evs {
		keys = append(keys, dedupCacheKey(ev.DedupKey))
	}
	// The fast path is only ever marked after the write is durable, so a
	// retry it acknowledges is never one that was lost.
	if err := in.coord.MarkAll(ctx, keys, dedupTTL); err != nil {
		in.logger.Warn("mark dedup keys", "err", err)
	}
	for i, r := range batch {
		r.done <- ingestResult{inserted: inserted[i]}
	}
	if err := in.coord.Notify(ctx, TopicEvents); err != nil {
		in.logger.Warn("notify processors", "err", err)
	}
}

// Close stops accepting events and waits until every accepted one is stored.
func (in *ingester) Close() {
	in.once.Do(func() { close(in.stop) })
	in.wg.Wait()
}

func dedupCacheKey(k string) string { return "dedup:" + k }
