package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// pruneBatch is how many done records one step of PruneDone looks at.
const pruneBatch = 500

// PruneDone deletes the done records of events completed before before,
// with their events' claim generations: every completed event leaves one
// done record and one or more claims, which nothing reads once the event
// is processed (claims read pending events only; the recovery of an event
// completed but not yet marked processed reads its done record, so a
// still pending event keeps it). It walks the done records in _id order
// in short steps and reports how many records it deleted.
func (db *DB) PruneDone(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	last := ""
	for {
		cur, err := db.done.Find(ctx,
			bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: last}}}, {Key: "at", Value: bson.D{{Key: "$lt", Value: before.UTC()}}}},
			options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(pruneBatch).SetProjection(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			return total, fmt.Errorf("mongo: prune done: %w", err)
		}
		var docs []struct {
			ID string `bson:"_id"`
		}
		if err := cur.All(ctx, &docs); err != nil {
			return total, fmt.Errorf("mongo: prune done: %w", err)
		}
		if len(docs) == 0 {
			return total, nil
		}
		last = docs[len(docs)-1].ID
		keys := make(bson.A, len(docs))
		for i, d := range docs {
			keys[i] = d.ID
		}
		pending := map[string]bool{}
		pcur, err := db.events.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: keys}}}, {Key: "pending", Value: true}},
			options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			return total, fmt.Errorf("mongo: prune done: %w", err)
		}
		var pdocs []struct {
			ID string `bson:"_id"`
		}
		if err := pcur.All(ctx, &pdocs); err != nil {
			return total, fmt.Errorf("mongo: prune done: %w", err)
		}
		for _, p := range pdocs {
			pending[p.ID] = true
		}
		var drop, events bson.A
		for _, d := range docs {
			if !pending[d.ID] {
				drop = append(drop, d.ID)
				events = append(events, parseEventKey(d.ID))
			}
		}
		if len(drop) == 0 {
			continue
		}
		// Claims first: a crash between the two deletes leaves done
		// records, which the next sweep finds again.
		res, err := db.claims.DeleteMany(ctx, bson.D{{Key: "event_id", Value: bson.D{{Key: "$in", Value: events}}}})
		if err != nil {
			return total, fmt.Errorf("mongo: prune claims: %w", err)
		}
		total += res.DeletedCount
		if res, err = db.done.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: drop}}}}); err != nil {
			return total, fmt.Errorf("mongo: prune done: %w", err)
		}
		total += res.DeletedCount
	}
}
