package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scrmhq/scrm/store"
)

type entryDoc struct {
	ID         int64     `bson:"_id"`
	CustomerID string    `bson:"customer_id"`
	SourceKey  string    `bson:"source_key"`
	AutoKey    bool      `bson:"auto_key,omitempty"` // SourceKey was empty; source_key holds a placeholder
	Kind       string    `bson:"kind"`
	Channel    string    `bson:"channel,omitempty"`
	Direction  string    `bson:"direction,omitempty"`
	StaffID    string    `bson:"staff_id,omitempty"`
	Text       string    `bson:"text,omitempty"`
	Attrs      []kv      `bson:"attrs,omitempty"`
	At         time.Time `bson:"at"`
	// Waited is, on a follow-up that answered a waiting customer, how long
	// they waited (ns).
	Waited *int64 `bson:"waited,omitempty"`
}

// AppendTimeline stores e unless its SourceKey is already stored. An entry
// for a customer that was merged away lands on the survivor (e.CustomerID is
// updated); a customer that never existed gives ErrNotFound.
func (db *DB) AppendTimeline(ctx context.Context, e *store.TimelineEntry) (bool, error) {
	cid, err := db.resolve(ctx, e.CustomerID, time.Time{}, false)
	if err != nil {
		return false, fmt.Errorf("mongo: append timeline for %q: %w", e.CustomerID, err)
	}
	awaiting, err := db.awaitingAnswer(ctx, cid, e)
	if err != nil {
		return false, fmt.Errorf("mongo: append timeline: %w", err)
	}
	for range maxAppendRounds {
		id, err := db.reserveIDs(ctx, collTimeline, 1)
		if err != nil {
			return false, fmt.Errorf("mongo: append timeline: %w", err)
		}
		doc := &entryDoc{
			ID: id, CustomerID: cid, SourceKey: e.SourceKey, Kind: e.Kind, Channel: e.Channel,
			Direction: e.Direction, StaffID: e.StaffID, Text: e.Text, Attrs: toKVs(e.Attrs), At: e.At,
		}
		if awaiting != nil {
			waited := int64(e.At.Sub(*awaiting))
			doc.Waited = &waited
		}
		// The unique index holds every entry, so keyless entries get a key
		// nothing else can have.
		if doc.SourceKey == "" {
			doc.SourceKey, doc.AutoKey = fmt.Sprintf("auto:%d", id), true
		}
		_, err = db.timeline.InsertOne(ctx, doc)
		if mongo.IsDuplicateKeyError(err) {
			if e.SourceKey != "" {
				var stored entryDoc
				err := db.timeline.FindOne(ctx, bson.D{{Key: "source_key", Value: e.SourceKey}},
					options.FindOne().SetProjection(bson.D{{Key: "customer_id", Value: 1}, {Key: "waited", Value: 1}})).Decode(&stored)
				if err == nil {
					// Stored before, perhaps by a run that died before its
					// activity update: repeat that update (it is idempotent),
					// ending the wait the stored entry answered.
					var answered *time.Time
					if stored.Waited != nil {
						t := e.At.Add(-time.Duration(*stored.Waited)).Truncate(time.Millisecond)
						answered = &t
					}
					if err := db.trackActivity(ctx, stored.CustomerID, e, answered); err != nil {
						return false, fmt.Errorf("mongo: append timeline: %w", err)
					}
					return false, nil
				}
				if !errors.Is(err, mongo.ErrNoDocuments) {
					return false, fmt.Errorf("mongo: append timeline: %w", err)
				}
			}
			continue // an ID collision (FerretDB's racy counter): take a new ID
		}
		if err != nil {
			return false, fmt.Errorf("mongo: append timeline: %w", err)
		}
		// A merge may have moved the customer's entries between our
		// resolve and our insert: follow it.
		final, err := db.resolve(ctx, cid, time.Time{}, false)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, fmt.Errorf("mongo: append timeline: %w", err)
		}
		if err == nil && final != cid {
			if _, err := db.timeline.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "customer_id", Value: final}}}}); err != nil {
				return false, fmt.Errorf("mongo: append timeline: follow merge: %w", err)
			}
			cid = final
		}
		if err := db.trackActivity(ctx, cid, e, awaiting); err != nil {
			return false, fmt.Errorf("mongo: append timeline: %w", err)
		}
		e.ID, e.CustomerID = id, cid
		return true, nil
	}
	return false, fmt.Errorf("mongo: append timeline: ids kept colliding: %w", store.ErrConflict)
}

// FindTimeline returns a customer's entries newest first.
func (db *DB) FindTimeline(ctx context.Context, customerID string, beforeID int64, limit int) ([]*store.TimelineEntry, error) {
	if limit <= 0 {
		limit = 50
	}
	filter := bson.D{{Key: "customer_id", Value: customerID}}
	if beforeID > 0 {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$lt", Value: beforeID}}})
	}
	cur, err := db.timeline.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("mongo: find timeline of %s: %w", customerID, err)
	}
	var docs []entryDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo: find timeline of %s: %w", customerID, err)
	}
	out := make([]*store.TimelineEntry, len(docs))
	for i, d := range docs {
		key := d.SourceKey
		if d.AutoKey {
			key = ""
		}
		out[i] = &store.TimelineEntry{
			ID: d.ID, CustomerID: d.CustomerID, SourceKey: key, Kind: d.Kind, Channel: d.Channel, Direction: d.Direction,
			StaffID: d.StaffID, Text: d.Text, Attrs: fromKVs(d.Attrs), At: utc(d.At),
		}
	}
	return out, nil
}

// WriteCustomers applies each write as an UpsertCustomer and an
// AppendTimeline with their commands: FerretDB v1 has no transactions, and
// an upsert that may merge customers is not one bulk write. The writes of
// one identity run in order; those of different identities run eight at a
// time, as the pipeline's workers ran them, so that a batch is not its
// round trips in a row. A write that fails is reported in its result; the
// others go on.
func (db *DB) WriteCustomers(ctx context.Context, ws []store.CustomerWrite) ([]store.CustomerWriteResult, error) {
	out := make([]store.CustomerWriteResult, len(ws))
	groups := map[store.Identity][]int{}
	var order []store.Identity
	for i, w := range ws {
		id := w.Upsert.Identity
		if groups[id] == nil {
			order = append(order, id)
		}
		groups[id] = append(groups[id], i)
	}
	err := inParallel(ctx, db.batchParallelism(), len(order), func(g int) error {
		for _, i := range groups[order[g]] {
			out[i] = db.writeCustomer(ctx, ws[i])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mongo: write customers: %w", err)
	}
	return out, nil
}

func (db *DB) writeCustomer(ctx context.Context, w store.CustomerWrite) store.CustomerWriteResult {
	c, err := db.UpsertCustomer(ctx, w.Upsert)
	if err != nil {
		return store.CustomerWriteResult{Err: err}
	}
	r := store.CustomerWriteResult{Customer: c}
	if w.Entry == nil {
		return r
	}
	w.Entry.CustomerID = c.ID
	if r.Appended, err = db.AppendTimeline(ctx, w.Entry); err != nil {
		return store.CustomerWriteResult{Err: err}
	}
	return r
}
