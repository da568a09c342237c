package bot

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/scrmhq/scrm/store"
)

// Every processor an event visits finds the event's customer: the customers
// processor upserts it, then cadence, answers, inbox and analysis each read
// it again by identity — four reads per message that the upsert already
// answered (on MongoDB five commands each). The pipeline gives each event a
// customer memo in its context, and the store ShareEventCustomers returns
// answers FindCustomerByIdentity and FindCustomerByID from it.
//
// The memo holds what this event's processors last read or wrote, never
// more: any customer write through the wrapped store forgets it first (and
// an upsert remembers its result), so a processor sees every change an
// earlier processor of the same event made. Changes made meanwhile by other
// goroutines or instances are as visible as they were to a read at the
// start of the event, which every processor already tolerates: they run
// at least once and idempotently.

// customerMemo is one event's shared customer.
type customerMemo struct {
	mu  sync.Mutex
	c   *store.Customer // nil: nothing remembered
	ids []store.Identity
}

// An event's context carries the values its processors share — the
// customer memo, the writes kept for its batch, the processors its batch
// did — as one pointer of each type.
type slotKey[T any] struct{}

// withSlot gives ctx v as its event's *T.
func withSlot[T any](ctx context.Context, v *T) context.Context {
	return context.WithValue(ctx, slotKey[T]{}, v)
}

// slotOf returns the *T of ctx's event, nil when it has none.
func slotOf[T any](ctx context.Context) *T {
	v, _ := ctx.Value(slotKey[T]{}).(*T)
	return v
}

func memoOf(ctx context.Context) *customerMemo { return slotOf[customerMemo](ctx) }

// get returns a copy of the remembered customer if match accepts it.
func (m *customerMemo) get(match func(c *store.Customer, ids []store.Identity) bool) *store.Customer {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.c == nil || !match(m.c, m.ids) {
		return nil
	}
	return cloneCustomer(m.c)
}

// put remembers c, found or written under the identities ids (besides its
// own).
func (m *customerMemo) put(c *store.Customer, ids ...store.Identity) {
	if m == nil || c == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.c, m.ids = cloneCustomer(c), ids
}

func (m *customerMemo) forget() {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.c, m.ids = nil, nil
	m.mu.Unlock()
}

// cloneCustomer copies c deeply enough that a processor changing its copy
// cannot change another's.
func cloneCustomer(c *store.Customer) *store.Customer {
	out := *c
	out.Identities = slices.Clone(c.Identities)
	out.Follows = slices.Clone(c.Follows)
	out.Tags = slices.Clone(c.Tags)
	out.Fields = maps.Clone(c.Fields)
	if c.Insight != nil {
		in := *c.Insight
		out.Insight = &in
	}
	return &out
}

// ShareEventCustomers wraps st so that the processors of one pipeline event
// share the reads of its customer (see customerMemo). Outside the pipeline
// (no memo in the context) it is st.
func ShareEventCustomers(st store.Store) store.Store { return memoStore{st} }

type memoStore struct{ store.Store }

func (s memoStore) FindCustomerByIdentity(ctx context.Context, id store.Identity) (*store.Customer, error) {
	m := memoOf(ctx)
	if c := m.get(func(c *store.Customer, ids []store.Identity) bool {
		return slices.Contains(ids, id) || slices.Contains(c.Identities, id)
	}); c != nil {
		return c, nil
	}
	c, err := s.Store.FindCustomerByIdentity(ctx, id)
	if err == nil {
		m.put(c, id)
	}
	return c, err
}

func (s memoStore) FindCustomerByID(ctx context.Context, id string) (*store.Customer, error) {
	m := memoOf(ctx)
	if c := m.get(func(c *store.Customer, _ []store.Identity) bool { return c.ID == id }); c != nil {
		return c, nil
	}
	return s.Store.FindCustomerByID(ctx, id)
}

// The writes: each forgets the memo before it starts, so that a failure
// leaves nothing stale behind.

func (s memoStore) UpsertCustomer(ctx context.Context, u store.CustomerUpsert) (*store.Customer, error) {
	m := memoOf(ctx)
	m.forget()
	c, err := s.Store.UpsertCustomer(ctx, u)
	if err == nil {
		m.put(c, u.Identities()...)
	}
	return c, err
}

func (s memoStore) UpdateCustomer(ctx context.Context, id string, upd store.CustomerUpdate) (*store.Customer, error) {
	memoOf(ctx).forget()
	return s.Store.UpdateCustomer(ctx, id, upd)
}

func (s memoStore) MergeCustomers(ctx context.Context, into, from string) (*store.Customer, error) {
	memoOf(ctx).forget()
	return s.Store.MergeCustomers(ctx, into, from)
}

func (s memoStore) EraseCustomer(ctx context.Context, id string) error {
	memoOf(ctx).forget()
	return s.Store.EraseCustomer(ctx, id)
}

func (s memoStore) UpsertTags(ctx context.Context, tags []store.Tag) error {
	memoOf(ctx).forget()
	return s.Store.UpsertTags(ctx, tags)
}

func (s memoStore) DeleteTags(ctx context.Context, ids []string) error {
	memoOf(ctx).forget()
	return s.Store.DeleteTags(ctx, ids)
}

// Writes that may wait for the batch. Besides its customer, each customer
// message leaves a few small records whose only job is to settle a step
// of the event — the answers' "nothing to answer", the inbox's "forward
// done", the analysis re-armed — each a write transaction of its own on
// the single SQLite writer. A processor marks such a write withBatch; the
// store ShareEventCustomers returns keeps it in the event's context, and
// the pipeline writes those of every event of the batch that succeeded in
// one store call (WriteMarkersAndJobs) before completing them. A write
// kept back is lost with its event's run (a failure, a crash, a shutdown)
// and made again by the rerun, which its event's completion waits for, so
// only writes that a rerun makes again may be kept back: never the marker
// of a message sent (once marks those at once), which keeps a rerun from
// sending it twice.

// laterWrites is one event's writes kept for its batch.
type laterWrites struct {
	mu      sync.Mutex
	markers []store.MarkerWrite
	jobs    []store.JobWrite
}

func keptOf(ctx context.Context) *laterWrites { return slotOf[laterWrites](ctx) }

type batchWriteKey struct{}

// withBatch marks the writes made with ctx as ones that may wait for the
// event's batch (see laterWrites): only writes its rerun makes again.
func withBatch(ctx context.Context) context.Context {
	return context.WithValue(ctx, batchWriteKey{}, true)
}

// keptFor returns where a write made with ctx is to be kept, or nil when
// it is to be written at once.
func keptFor(ctx context.Context) *laterWrites {
	if ok, _ := ctx.Value(batchWriteKey{}).(bool); !ok {
		return nil
	}
	return keptOf(ctx)
}

// marker returns the value of a marker kept back, if one is.
func (w *laterWrites) marker(kind, key string) (string, bool) {
	if w == nil {
		return "", false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.markers) - 1; i >= 0; i-- {
		if m := w.markers[i]; m.Kind == kind && m.Key == key {
			return m.Value, true
		}
	}
	return "", false
}

// take returns the writes kept and forgets them.
func (w *laterWrites) take() ([]store.MarkerWrite, []store.JobWrite) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ms, js := w.markers, w.jobs
	w.markers, w.jobs = nil, nil
	return ms, js
}

func (s memoStore) SetMarker(ctx context.Context, kind, key, value string, at time.Time) error {
	if w := keptFor(ctx); w != nil {
		w.mu.Lock()
		w.markers = append(w.markers, store.MarkerWrite{Kind: kind, Key: key, Value: value, At: at})
		w.mu.Unlock()
		return nil
	}
	return s.Store.SetMarker(ctx, kind, key, value, at)
}

// GetMarker sees the markers the event kept back (an earlier processor's
// of the same event) before the store's.
func (s memoStore) GetMarker(ctx context.Context, kind, key string) (string, error) {
	if v, ok := keptOf(ctx).marker(kind, key); ok {
		return v, nil
	}
	return s.Store.GetMarker(ctx, kind, key)
}

func (s memoStore) ScheduleJob(ctx context.Context, key, kind, payload string, dueAt time.Time) error {
	if w := keptFor(ctx); w != nil {
		if key == "" || kind == "" {
			return fmt.Errorf("schedule job %q: key and kind are required: %w", key, store.ErrInvalid)
		}
		w.mu.Lock()
		w.jobs = append(w.jobs, store.JobWrite{Key: key, Kind: kind, Payload: payload, DueAt: dueAt})
		w.mu.Unlock()
		return nil
	}
	return s.Store.ScheduleJob(ctx, key, kind, payload, dueAt)
}
