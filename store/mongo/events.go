package mongo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scrmhq/scrm/store"
)

// eventDoc is an event in the events collection. Its processing fields are a
// cache for picking claim candidates; event_claims and event_done decide.
type eventDoc struct {
	ID          string     `bson:"_id"` // eventKey(Event.ID)
	DedupKey    string     `bson:"dedup_key"`
	Channel     string     `bson:"channel"`
	Kind        string     `bson:"kind"`
	FromID      string     `bson:"from_id"`
	StaffID     string     `bson:"staff_id"`
	CustomerID  string     `bson:"customer_id"`
	Text        string     `bson:"text"`
	MsgID       string     `bson:"msg_id"`
	Attrs       []kv       `bson:"attrs,omitempty"`
	Raw         []byte     `bson:"raw,omitempty"`
	OccurredAt  time.Time  `bson:"occurred_at"`
	ReceivedAt  time.Time  `bson:"received_at"`
	Pending     bool       `bson:"pending"`
	ProcessedAt *time.Time `bson:"processed_at,omitempty"`
	Attempts    int        `bson:"attempts"`
	LastError   string     `bson:"last_error"`
	LeaseOwner  string     `bson:"lease_owner"`
	FreeAt      time.Time  `bson:"free_at"` // claimable from then on: lease end or retry time
}

func (d *eventDoc) event() *store.Event {
	return &store.Event{
		ID: parseEventKey(d.ID), DedupKey: d.DedupKey, Channel: d.Channel, Kind: d.Kind, FromID: d.FromID, StaffID: d.StaffID,
		CustomerID: d.CustomerID, Text: d.Text, MsgID: d.MsgID, Attrs: fromKVs(d.Attrs), Raw: d.Raw,
		OccurredAt: utc(d.OccurredAt), ReceivedAt: utc(d.ReceivedAt), ProcessedAt: utcPtr(d.ProcessedAt),
		Attempts: d.Attempts, LastError: d.LastError,
	}
}

// claimDoc is one lease generation of an event. Only the inserter of
// "<event>#<gen>" holds generation gen, and gen+1 may only be inserted once
// gen is free, so two owners never hold a live lease on one event.
type claimDoc struct {
	ID       string    `bson:"_id"`
	EventID  int64     `bson:"event_id"`
	Gen      int       `bson:"gen"`
	Owner    string    `bson:"owner"`
	FreeAt   time.Time `bson:"free_at"` // lease end, or the retry time once released
	Released bool      `bson:"released"`
}

// doneDoc records who completed an event; its _id is the event ID (as a
// string: FerretDB only looks up string _ids by index), so an event is
// completed at most once.
type doneDoc struct {
	ID    string    `bson:"_id"`
	Owner string    `bson:"owner"`
	Gen   int       `bson:"gen"`
	At    time.Time `bson:"at"`
}

// eventKey is an event's _id: the int64 ID as a fixed-width decimal string,
// so string order is ID order. A string because FerretDB v1 looks documents
// up by index only for string (or ObjectID) _ids and scans otherwise.
func eventKey(id int64) string { return fmt.Sprintf("%019d", id) }

func parseEventKey(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func doneID(event int64) string { return eventKey(event) }

func claimID(event int64, gen int) string {
	return strconv.FormatInt(event, 10) + "#" + strconv.Itoa(gen)
}

const maxAppendRounds = 20

// AppendEvents inserts the batch with one unordered InsertMany under a
// majority, journaled write concern. A duplicate-key error is either a
// repeated dedup key (the event is not inserted) or, on FerretDB, an ID
// collision from a raced counter; the second kind is retried with new IDs.
func (db *DB) AppendEvents(ctx context.Context, evs []*store.Event) ([]bool, error) {
	inserted := make([]bool, len(evs))
	todo := make([]int, len(evs))
	for i := range todo {
		todo[i] = i
	}
	for round := 0; len(todo) > 0; round++ {
		if round == maxAppendRounds {
			return nil, fmt.Errorf("mongo: append events: ids kept colliding: %w", store.ErrConflict)
		}
		first, err := db.reserveIDs(ctx, collEvents, len(todo))
		if err != nil {
			return nil, fmt.Errorf("mongo: append events: %w", err)
		}
		docs := make([]any, len(todo))
		for k, i := range todo {
			e := evs[i]
			docs[k] = &eventDoc{
				ID: eventKey(first + int64(k)), DedupKey: e.DedupKey, Channel: e.Channel, Kind: e.Kind, FromID: e.FromID,
				StaffID: e.StaffID, CustomerID: e.CustomerID, Text: e.Text, MsgID: e.MsgID, Attrs: toKVs(e.Attrs),
				Raw: e.Raw, OccurredAt: e.OccurredAt, ReceivedAt: e.ReceivedAt, Pending: e.ProcessedAt == nil,
				ProcessedAt: e.ProcessedAt, Attempts: e.Attempts, LastError: e.LastError, FreeAt: time.Unix(0, 0),
			}
		}
		failed := map[int]bool{}
		_, err = db.events.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
		if err != nil {
			var bwe mongo.BulkWriteException
			if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
				return nil, fmt.Errorf("mongo: append events: %w", err)
			}
			for _, we := range bwe.WriteErrors {
				if we.Code != 11000 {
					return nil, fmt.Errorf("mongo: append events: %w", err)
				}
				failed[we.Index] = true
			}
		}
		var keys []string
		for k, i := range todo {
			if failed[k] {
				keys = append(keys, evs[i].DedupKey)
				continue
			}
			evs[i].ID, inserted[i] = first+int64(k), true
		}
		if len(keys) == 0 {
			break
		}
		stored, err := db.storedKeys(ctx, keys)
		if err != nil {
			return nil, fmt.Errorf("mongo: append events: %w", err)
		}
		var next []int
		for k, i := range todo {
			if failed[k] && !stored[evs[i].DedupKey] {
				next = append(next, i)
			}
		}
		todo = next
	}
	return inserted, nil
}

func (db *DB) storedKeys(ctx context.Context, keys []string) (map[string]bool, error) {
	cur, err := db.events.Find(ctx, bson.D{{Key: "dedup_key", Value: bson.D{{Key: "$in", Value: keys}}}},
		options.Find().SetProjection(bson.D{{Key: "dedup_key", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("find dedup keys: %w", err)
	}
	var docs []struct {
		Key string `bson:"dedup_key"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("find dedup keys: %w", err)
	}
	out := make(map[string]bool, len(docs))
	for _, d := range docs {
		out[d.Key] = true
	}
	return out, nil
}

// HasEvent reports whether an event with this dedup key is stored.
func (db *DB) HasEvent(ctx context.Context, dedupKey string) (bool, error) {
	err := db.events.FindOne(ctx, bson.D{{Key: "dedup_key", Value: dedupKey}},
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mongo: has event %s: %w", dedupKey, err)
	}
	return true, nil
}

// ClaimEvents leases up to limit due events, oldest first, with a constant
// number of commands whatever limit is: candidates come from the pending
// index; their claims and done records are read in one find each; each
// event is won by inserting its next claim generation, all in one unordered
// insert; the won events are stamped with one update per lease generation
// among them (one, but for retried events) and per 100 events, and read
// back with one find. Under contention a lost insert only means another owner won that
// event; a few more inserts then try the remaining candidates.
func (db *DB) ClaimEvents(ctx context.Context, owner string, limit int, now time.Time, lease time.Duration) ([]*store.Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	// Over-fetch: concurrent claimers race for the same oldest candidates.
	cur, err := db.events.Find(ctx,
		bson.D{{Key: "pending", Value: true}, {Key: "free_at", Value: bson.D{{Key: "$lte", Value: now}}}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(3*limit)).
			SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: "attempts", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: claim events: %w", err)
	}
	var cands []struct {
		ID       string `bson:"_id"`
		Attempts int    `bson:"attempts"`
	}
	if err := cur.All(ctx, &cands); err != nil {
		return nil, fmt.Errorf("mongo: claim events: %w", err)
	}
	if len(cands) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(cands))
	for i, c := range cands {
		ids[i] = parseEventKey(c.ID)
	}
	gens, err := db.claimGens(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("mongo: claim events: %w", err)
	}
	// The next generation each candidate may take, by the rule of the
	// claims: gen only when it is unclaimed and gen-1 is free (expired,
	// released and due, or gone because the event completed — the done
	// check below settles that case).
	var next []*claimDoc
	for i, c := range cands {
		id := ids[i]
		gen := c.Attempts + 1
		for {
			cl, ok := gens[id][gen]
			if !ok {
				break
			}
			if cl.FreeAt.After(now) {
				gen = -1 // a live lease or a retry not yet due
				break
			}
			gen++
		}
		if gen < 0 {
			continue
		}
		if prev, ok := gens[id][gen-1]; ok && prev.FreeAt.After(now) {
			continue
		}
		next = append(next, &claimDoc{ID: claimID(id, gen), EventID: id, Gen: gen, Owner: owner, FreeAt: now.Add(lease)})
	}
	var won []*claimDoc
	for round := 0; len(won) < limit && len(next) > 0 && round < 4; round++ {
		try := next[:min(limit-len(won), len(next))]
		next = next[len(try):]
		docs := make([]any, len(try))
		for i, c := range try {
			docs[i] = c
		}
		lost := map[int]bool{}
		if _, err := db.claims.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
			var bwe mongo.BulkWriteException
			if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
				return nil, fmt.Errorf("mongo: claim events: %w", err)
			}
			for _, we := range bwe.WriteErrors {
				if we.Code != 11000 {
					return nil, fmt.Errorf("mongo: claim events: %w", err)
				}
				lost[we.Index] = true // another owner took this generation first
			}
		}
		for i, c := range try {
			if !lost[i] {
				won = append(won, c)
			}
		}
	}
	if len(won) == 0 {
		return nil, nil
	}
	// Checked after winning, as a completion deletes the claims it ends:
	// an event completed between our reads and our insert shows up here.
	keys := make([]string, len(won))
	for i, c := range won {
		keys[i] = doneID(c.EventID)
	}
	done, err := db.doneRecords(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("mongo: claim events: %w", err)
	}
	// One update per generation (nearly always just the first): FerretDB
	// v1 stalled on an update command of 100 statements (over 40 s in a
	// test), while an update that sets one value across a list of _ids is
	// one statement.
	byGen := map[int][]string{}
	var evKeys []string
	for _, c := range won {
		if d, ok := done[doneID(c.EventID)]; ok {
			// Completed, but the event document missed it: repair and skip.
			if err := db.markProcessed(ctx, c.EventID, d.Owner, d.At); err != nil {
				return nil, fmt.Errorf("mongo: claim event %d: %w", c.EventID, err)
			}
			continue
		}
		byGen[c.Gen] = append(byGen[c.Gen], eventKey(c.EventID))
		evKeys = append(evKeys, eventKey(c.EventID))
	}
	if len(evKeys) == 0 {
		return nil, nil
	}
	until := now.Add(lease)
	for _, gen := range slices.Sorted(maps.Keys(byGen)) {
		if err := db.updateEvents(ctx, byGen[gen], nil,
			bson.D{{Key: "$set", Value: bson.D{{Key: "lease_owner", Value: owner}, {Key: "free_at", Value: until}, {Key: "attempts", Value: gen}}}}); err != nil {
			return nil, fmt.Errorf("mongo: claim events: stamp: %w", err)
		}
	}
	cur, err = db.events.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: evKeys}}}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: claim events: %w", err)
	}
	var evDocs []eventDoc
	if err := cur.All(ctx, &evDocs); err != nil {
		return nil, fmt.Errorf("mongo: claim events: %w", err)
	}
	out := make([]*store.Event, len(evDocs))
	for i := range evDocs {
		out[i] = evDocs[i].event()
	}
	slices.SortFunc(out, func(a, b *store.Event) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// updateChunk is how many events one update names. FerretDB v1 updates
// the documents an update matches one by one while it reads them, which
// grows faster than their number: 600 at once took 3 s in a test, six
// updates of 100 took 0.55 s.
const updateChunk = 100

// updateEvents applies upd to the events with the given keys (and matching
// extra), in updates of at most updateChunk events.
func (db *DB) updateEvents(ctx context.Context, keys []string, extra bson.D, upd bson.D) error {
	for chunk := range slices.Chunk(keys, updateChunk) {
		filter := append(bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: chunk}}}}, extra...)
		if _, err := db.events.UpdateMany(ctx, filter, upd); err != nil {
			return err
		}
	}
	return nil
}

// claimGens reads the claims of events, by event and generation, in one find.
func (db *DB) claimGens(ctx context.Context, ids []int64) (map[int64]map[int]claimDoc, error) {
	cur, err := db.claims.Find(ctx, bson.D{{Key: "event_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return nil, fmt.Errorf("find claims: %w", err)
	}
	var docs []claimDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("find claims: %w", err)
	}
	out := make(map[int64]map[int]claimDoc, len(ids))
	for _, c := range docs {
		if out[c.EventID] == nil {
			out[c.EventID] = map[int]claimDoc{}
		}
		out[c.EventID][c.Gen] = c
	}
	return out, nil
}

// doneRecords returns the done records among keys, by key.
func (db *DB) doneRecords(ctx context.Context, keys []string) (map[string]doneDoc, error) {
	cur, err := db.done.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: keys}}}})
	if err != nil {
		return nil, fmt.Errorf("find done: %w", err)
	}
	var docs []doneDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("find done: %w", err)
	}
	out := make(map[string]doneDoc, len(docs))
	for _, d := range docs {
		out[d.ID] = d
	}
	return out, nil
}

// markProcessed updates the event document after its done record exists and
// drops its claims, which nobody needs any more.
func (db *DB) markProcessed(ctx context.Context, id int64, owner string, at time.Time) error {
	_, err := db.events.UpdateOne(ctx, bson.D{{Key: "_id", Value: eventKey(id)}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "pending", Value: false}, {Key: "processed_at", Value: at}, {Key: "lease_owner", Value: owner},
	}}})
	if err != nil {
		return fmt.Errorf("mark processed: %w", err)
	}
	if _, err := db.claims.DeleteMany(ctx, bson.D{{Key: "event_id", Value: id}}); err != nil {
		return fmt.Errorf("drop claims: %w", err)
	}
	return nil
}

// currentClaim returns the latest claim of an event if owner holds it.
// ErrNotFound: no such event; ErrConflict: someone else holds it, it was
// released, or nobody claimed it.
func (db *DB) currentClaim(ctx context.Context, id int64, owner string) (*claimDoc, error) {
	var ev struct {
		Attempts int `bson:"attempts"`
	}
	err := db.events.FindOne(ctx, bson.D{{Key: "_id", Value: eventKey(id)}},
		options.FindOne().SetProjection(bson.D{{Key: "attempts", Value: 1}})).Decode(&ev)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	// The event's attempts is the generation its last claimer wrote; a
	// newer claim may not have written it yet, so walk up to the last one.
	var latest *claimDoc
	for gen := max(ev.Attempts, 1); ; gen++ {
		var c claimDoc
		err := db.claims.FindOne(ctx, bson.D{{Key: "_id", Value: claimID(id, gen)}}).Decode(&c)
		if errors.Is(err, mongo.ErrNoDocuments) {
			break
		}
		if err != nil {
			return nil, err
		}
		latest = &c
	}
	if latest == nil {
		return nil, fmt.Errorf("not claimed: %w", store.ErrConflict)
	}
	if latest.Owner != owner || latest.Released {
		return nil, fmt.Errorf("lease not held by %s: %w", owner, store.ErrConflict)
	}
	return latest, nil
}

// CompleteEvent marks the event processed if owner holds its lease. The
// event_done insert makes completion happen once even when a lease expired
// and two owners finish together. A repeated call by the same owner succeeds.
func (db *DB) CompleteEvent(ctx context.Context, id int64, owner string, now time.Time) error {
	if done, err := db.doneBy(ctx, id); err != nil {
		return fmt.Errorf("mongo: complete event %d: %w", id, err)
	} else if done != "" {
		if done == owner {
			return nil
		}
		return fmt.Errorf("mongo: complete event %d: completed by another owner: %w", id, store.ErrConflict)
	}
	c, err := db.currentClaim(ctx, id, owner)
	if err != nil {
		return fmt.Errorf("mongo: complete event %d: %w", id, err)
	}
	if _, err := db.done.InsertOne(ctx, &doneDoc{ID: doneID(id), Owner: owner, Gen: c.Gen, At: now}); err != nil {
		if !mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("mongo: complete event %d: %w", id, err)
		}
		if done, err := db.doneBy(ctx, id); err != nil {
			return fmt.Errorf("mongo: complete event %d: %w", id, err)
		} else if done != owner {
			return fmt.Errorf("mongo: complete event %d: completed by another owner: %w", id, store.ErrConflict)
		}
	}
	if err := db.markProcessed(ctx, id, owner, now); err != nil {
		return fmt.Errorf("mongo: complete event %d: %w", id, err)
	}
	return nil
}

// CompleteEvents completes many events with a constant number of commands
// (one more per 100 events): it reads their done records and claims in two
// finds, inserts the done records in one unordered insert (which, as in
// CompleteEvent, decides between two owners finishing together), then marks
// the events and drops their claims with one update and one delete.
func (db *DB) CompleteEvents(ctx context.Context, ids []int64, owner string, now time.Time) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = doneID(id)
	}
	doneOwner, err := db.doneOwners(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("mongo: complete %d events: %w", len(ids), err)
	}
	var lost, todo []int64
	var ours []int64 // completed by owner: mark (again, harmlessly) below
	for _, id := range ids {
		switch o, ok := doneOwner[doneID(id)]; {
		case !ok:
			todo = append(todo, id)
		case o == owner:
			ours = append(ours, id)
		default:
			lost = append(lost, id)
		}
	}
	if len(todo) > 0 {
		held, err := db.heldClaims(ctx, todo, owner)
		if err != nil {
			return nil, fmt.Errorf("mongo: complete %d events: %w", len(ids), err)
		}
		var docs []any
		var ins []int64
		for _, id := range todo {
			gen, ok := held[id]
			if !ok {
				lost = append(lost, id)
				continue
			}
			docs = append(docs, &doneDoc{ID: doneID(id), Owner: owner, Gen: gen, At: now})
			ins = append(ins, id)
		}
		if len(docs) > 0 {
			failed := map[int]bool{}
			if _, err := db.done.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
				var bwe mongo.BulkWriteException
				if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
					return nil, fmt.Errorf("mongo: complete %d events: %w", len(ids), err)
				}
				for _, we := range bwe.WriteErrors {
					if we.Code != 11000 {
						return nil, fmt.Errorf("mongo: complete %d events: %w", len(ids), err)
					}
					failed[we.Index] = true
				}
			}
			var raced []string
			for k, id := range ins {
				if failed[k] {
					raced = append(raced, doneID(id))
				} else {
					ours = append(ours, id)
				}
			}
			if len(raced) > 0 {
				// Another owner's done record got in first, or ours from
				// an earlier call that failed after inserting it.
				again, err := db.doneOwners(ctx, raced)
				if err != nil {
					return nil, fmt.Errorf("mongo: complete %d events: %w", len(ids), err)
				}
				for _, k := range raced {
					if again[k] == owner {
						ours = append(ours, parseEventKey(k))
					} else {
						lost = append(lost, parseEventKey(k))
					}
				}
			}
		}
	}
	if len(ours) > 0 {
		evKeys := make([]string, len(ours))
		for i, id := range ours {
			evKeys[i] = eventKey(id)
		}
		if err := db.updateEvents(ctx, evKeys, bson.D{{Key: "pending", Value: true}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "pending", Value: false}, {Key: "processed_at", Value: now}, {Key: "lease_owner", Value: owner}}}}); err != nil {
			return nil, fmt.Errorf("mongo: complete %d events: mark processed: %w", len(ids), err)
		}
		if _, err := db.claims.DeleteMany(ctx, bson.D{{Key: "event_id", Value: bson.D{{Key: "$in", Value: ours}}}}); err != nil {
			return nil, fmt.Errorf("mongo: complete %d events: drop claims: %w", len(ids), err)
		}
	}
	slices.Sort(lost)
	return lost, nil
}

// doneOwners maps done record IDs to the owners that completed them.
func (db *DB) doneOwners(ctx context.Context, keys []string) (map[string]string, error) {
	docs, err := db.doneRecords(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(docs))
	for k, d := range docs {
		out[k] = d.Owner
	}
	return out, nil
}

// heldClaims returns, for each of ids whose latest claim generation owner
// holds (not released), that generation — currentClaim for many events in
// one find.
func (db *DB) heldClaims(ctx context.Context, ids []int64, owner string) (map[int64]int, error) {
	cur, err := db.claims.Find(ctx, bson.D{{Key: "event_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return nil, fmt.Errorf("find claims: %w", err)
	}
	var docs []claimDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("find claims: %w", err)
	}
	latest := make(map[int64]claimDoc, len(ids))
	for _, c := range docs {
		if l, ok := latest[c.EventID]; !ok || c.Gen > l.Gen {
			latest[c.EventID] = c
		}
	}
	held := make(map[int64]int, len(latest))
	for id, c := range latest {
		if c.Owner == owner && !c.Released {
			held[id] = c.Gen
		}
	}
	return held, nil
}

// doneBy returns who completed the event, "" if nobody did.
func (db *DB) doneBy(ctx context.Context, id int64) (string, error) {
	var d doneDoc
	err := db.done.FindOne(ctx, bson.D{{Key: "_id", Value: doneID(id)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return d.Owner, nil
}

// FailEvent releases owner's lease and makes the event due again at retryAt.
func (db *DB) FailEvent(ctx context.Context, id int64, owner string, errText string, retryAt time.Time) error {
	if done, err := db.doneBy(ctx, id); err != nil {
		return fmt.Errorf("mongo: fail event %d: %w", id, err)
	} else if done != "" {
		return fmt.Errorf("mongo: fail event %d: already completed: %w", id, store.ErrConflict)
	}
	c, err := db.currentClaim(ctx, id, owner)
	if err != nil {
		return fmt.Errorf("mongo: fail event %d: %w", id, err)
	}
	// Only the owner writes its claim document, so this update cannot race.
	if _, err := db.claims.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "released", Value: true}, {Key: "free_at", Value: retryAt}}}}); err != nil {
		return fmt.Errorf("mongo: fail event %d: release: %w", id, err)
	}
	if _, err := db.events.UpdateOne(ctx, bson.D{{Key: "_id", Value: eventKey(id)}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "free_at", Value: retryAt}, {Key: "last_error", Value: errText}, {Key: "lease_owner", Value: ""},
	}}}); err != nil {
		return fmt.Errorf("mongo: fail event %d: %w", id, err)
	}
	return nil
}

// FindEvents returns events matching f in ID order.
func (db *DB) FindEvents(ctx context.Context, f store.EventFilter) ([]*store.Event, error) {
	filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: eventKey(max(f.AfterID, 0))}}}}
	if f.Channel != "" {
		filter = append(filter, bson.E{Key: "channel", Value: f.Channel})
	}
	if f.Kind != "" {
		filter = append(filter, bson.E{Key: "kind", Value: f.Kind})
	}
	if f.Processed != nil {
		filter = append(filter, bson.E{Key: "pending", Value: !*f.Processed})
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	cur, err := db.events.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("mongo: find events: %w", err)
	}
	var docs []eventDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo: find events: %w", err)
	}
	out := make([]*store.Event, len(docs))
	for i := range docs {
		out[i] = docs[i].event()
	}
	return out, nil
}

// OldestUnprocessed returns the receive time of the lowest-ID pending event,
// or ErrNotFound.
func (db *DB) OldestUnprocessed(ctx context.Context) (time.Time, error) {
	var doc struct {
		ReceivedAt time.Time `bson:"received_at"`
	}
	err := db.events.FindOne(ctx, bson.D{{Key: "pending", Value: true}},
		options.FindOne().SetSort(bson.D{{Key: "_id", Value: 1}}).SetProjection(bson.D{{Key: "received_at", Value: 1}})).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return time.Time{}, fmt.Errorf("mongo: oldest unprocessed event: %w", store.ErrNotFound)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("mongo: oldest unprocessed event: %w", err)
	}
	return utc(doc.ReceivedAt), nil
}
