package mongo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scrmhq/scrm/store"
)

// markerDoc is one marker (store.MarkerStore). Its _id joins kind and key,
// a string, which FerretDB looks up by index.
type markerDoc struct {
	ID        string    `bson:"_id"`
	Kind      string    `bson:"kind"`
	Key       string    `bson:"key"`
	Value     string    `bson:"value"`
	CreatedAt time.Time `bson:"created_at"`
}

func markerID(kind, key string) string { return kind + "\x1f" + key }

// GetMarker returns the value of marker (kind, key), "" if there is none.
func (db *DB) GetMarker(ctx context.Context, kind, key string) (string, error) {
	var d markerDoc
	err := db.markers.FindOne(ctx, bson.D{{Key: "_id", Value: markerID(kind, key)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("mongo: get marker %s: %w", kind, err)
	}
	return d.Value, nil
}

// SetMarker records marker (kind, key) with value; a marker set again keeps
// the time it was first made.
func (db *DB) SetMarker(ctx context.Context, kind, key, value string, at time.Time) error {
	err := retryDup(func() error {
		_, err := db.markers.UpdateOne(ctx, bson.D{{Key: "_id", Value: markerID(kind, key)}},
			bson.D{
				{Key: "$set", Value: bson.D{{Key: "value", Value: value}}},
				{Key: "$setOnInsert", Value: bson.D{{Key: "kind", Value: kind}, {Key: "key", Value: key}, {Key: "created_at", Value: at.UTC()}}},
			}, options.UpdateOne().SetUpsert(true))
		return err
	})
	if err != nil {
		return fmt.Errorf("mongo: set marker %s: %w", kind, err)
	}
	return nil
}

// DeleteMarkers deletes the markers of kind made before before.
func (db *DB) DeleteMarkers(ctx context.Context, kind string, before time.Time) (int64, error) {
	res, err := db.markers.DeleteMany(ctx, bson.D{{Key: "kind", Value: kind}, {Key: "created_at", Value: bson.D{{Key: "$lt", Value: before.UTC()}}}})
	if err != nil {
		return 0, fmt.Errorf("mongo: delete markers %s: %w", kind, err)
	}
	return res.DeletedCount, nil
}

// moveCursorMarkers moves the markers a database made before markers had a
// collection of their own, cursors named "<kind>:<key>", into markers, made
// now: each gets its family's full retention from the upgrade on. Each is
// written to markers before it leaves cursors, so a crash halfway loses
// none, and the next Open finishes the move.
func (db *DB) moveCursorMarkers(ctx context.Context, now time.Time) error {
	for _, kind := range store.MarkerKinds {
		lo, hi := kind+":", kind+";"
		byName := bson.D{{Key: "_id", Value: bson.D{{Key: "$gte", Value: lo}, {Key: "$lt", Value: hi}}}}
		for {
			cur, err := db.cursors.Find(ctx, byName, options.Find().SetLimit(500))
			if err != nil {
				return fmt.Errorf("mongo: move markers %s: %w", kind, err)
			}
			var docs []struct {
				Name  string `bson:"_id"`
				Value string `bson:"value"`
			}
			if err := cur.All(ctx, &docs); err != nil {
				return fmt.Errorf("mongo: move markers %s: %w", kind, err)
			}
			if len(docs) == 0 {
				break
			}
			names := make(bson.A, len(docs))
			for i, d := range docs {
				key := d.Name[len(lo):]
				// $setOnInsert: a marker already moved keeps its time.
				if _, err := db.markers.UpdateOne(ctx, bson.D{{Key: "_id", Value: markerID(kind, key)}},
					bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "kind", Value: kind}, {Key: "key", Value: key},
						{Key: "value", Value: d.Value}, {Key: "created_at", Value: now.UTC()}}}},
					options.UpdateOne().SetUpsert(true)); err != nil && !mongo.IsDuplicateKeyError(err) {
					return fmt.Errorf("mongo: move markers %s: %w", kind, err)
				}
				names[i] = d.Name
			}
			if _, err := db.cursors.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: names}}}}); err != nil {
				return fmt.Errorf("mongo: move markers %s: %w", kind, err)
			}
		}
	}
	return nil
}

// WriteMarkersAndJobs writes ms, then js, with SetMarker's and
// ScheduleJob's commands, a few at a time: FerretDB v1 has no transactions
// to group them in, and one by one they would be a batch's round trips in
// a row. Writes of one key keep their order (the last wins).
func (db *DB) WriteMarkersAndJobs(ctx context.Context, ms []store.MarkerWrite, js []store.JobWrite) error {
	markers := map[string][]store.MarkerWrite{}
	var mkeys []string
	for _, m := range ms {
		k := markerID(m.Kind, m.Key)
		if markers[k] == nil {
			mkeys = append(mkeys, k)
		}
		markers[k] = append(markers[k], m)
	}
	err := inParallel(ctx, db.batchParallelism(), len(mkeys), func(i int) error {
		for _, m := range markers[mkeys[i]] {
			if err := db.SetMarker(ctx, m.Kind, m.Key, m.Value, m.At); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	jobs := map[string][]store.JobWrite{}
	var jkeys []string
	for _, j := range js {
		if jobs[j.Key] == nil {
			jkeys = append(jkeys, j.Key)
		}
		jobs[j.Key] = append(jobs[j.Key], j)
	}
	return inParallel(ctx, db.batchParallelism(), len(jkeys), func(i int) error {
		for _, j := range jobs[jkeys[i]] {
			if err := db.ScheduleJob(ctx, j.Key, j.Kind, j.Payload, j.DueAt); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeParallelism bounds the commands WriteMarkersAndJobs has in flight.
const writeParallelism = 8

// inParallel runs fn(0..n-1) at most par at a time and returns the first
// error.
func inParallel(ctx context.Context, par, n int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  atomic.Int64
	)
	for range min(n, par) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
