package mongo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scrmhq/scrm/store"
)

// Journeys are JSON documents with a version; runs are JSON documents
// beside the fields they are found, counted and advanced by. Both are
// versioned records: every update is a compare-and-set on the version
// (versioned.go).
const (
	collJourneys    = "journeys"
	collJourneyRuns = "journey_runs"
)

type runDoc struct {
	ID         string    `bson:"_id"`
	JourneyID  string    `bson:"journey_id"`
	CustomerID string    `bson:"customer_id"`
	Occurrence string    `bson:"occurrence"`
	State      string    `bson:"state"`
	NextAt     time.Time `bson:"next_at"`
	StartedAt  time.Time `bson:"started_at"`
	Version    int64     `bson:"version"`
	// JourneyState is "<journey>|<state>": the one key runs are counted by
	// ($group on a compound key is beyond FerretDB v1).
	JourneyState string `bson:"journey_state"`
	Doc          string `bson:"doc"`
}

// prepareJourneys creates the journey indexes; Open calls it.
func (db *DB) prepareJourneys(ctx context.Context) error {
	return createMissingIndexes(ctx, db.coll(collJourneyRuns), []mongo.IndexModel{
		{Keys: bson.D{{Key: "journey_id", Value: 1}, {Key: "customer_id", Value: 1}, {Key: "occurrence", Value: 1}},
			Options: options.Index().SetName("occurrence").SetUnique(true)},
		{Keys: bson.D{{Key: "state", Value: 1}, {Key: "next_at", Value: 1}}, Options: options.Index().SetName("due")},
		{Keys: bson.D{{Key: "journey_id", Value: 1}, {Key: "state", Value: 1}, {Key: "started_at", Value: -1}}, Options: options.Index().SetName("journey")},
		{Keys: bson.D{{Key: "customer_id", Value: 1}, {Key: "state", Value: 1}}, Options: options.Index().SetName("customer")},
		{Keys: bson.D{{Key: "journey_state", Value: 1}}, Options: options.Index().SetName("journey_state")},
	})
}

// CreateJourney implements store.JourneyStore.
func (db *DB) CreateJourney(ctx context.Context, j *store.Journey) error {
	if j == nil || j.ID == "" || j.Name == "" {
		return fmt.Errorf("mongo: create journey: id and name required: %w", store.ErrInvalid)
	}
	if j.Version == 0 {
		j.Version = 1
	}
	return db.insertJSONDoc(ctx, collJourneys, "journey", jsonDoc{ID: j.ID, Version: j.Version, CreatedAt: j.CreatedAt.UTC()}, j)
}

// UpdateJourney implements store.JourneyStore.
func (db *DB) UpdateJourney(ctx context.Context, j *store.Journey, version int64) error {
	next := *j
	next.Version = version + 1
	if err := db.updateJSON(ctx, collJourneys, "journey", j.ID, version, &next); err != nil {
		return err
	}
	j.Version = next.Version
	return nil
}

// FindJourneyByID implements store.JourneyStore.
func (db *DB) FindJourneyByID(ctx context.Context, id string) (*store.Journey, error) {
	return findVersionedJSON[store.Journey](ctx, db, collJourneys, "journey", id)
}

// FindJourneys implements store.JourneyStore.
func (db *DB) FindJourneys(ctx context.Context) ([]*store.Journey, error) {
	return findJSONs[store.Journey](ctx, db.coll(collJourneys), "journeys", bson.D{},
		options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}))
}

func newRunDoc(r *store.JourneyRun) (*runDoc, error) {
	if r == nil || r.ID == "" || r.JourneyID == "" || r.CustomerID == "" || r.Occurrence == "" {
		return nil, fmt.Errorf("journey run: id, journey, customer and occurrence required: %w", store.ErrInvalid)
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("journey run: %w", err)
	}
	return &runDoc{ID: r.ID, JourneyID: r.JourneyID, CustomerID: r.CustomerID, Occurrence: r.Occurrence, State: r.State,
		NextAt: r.NextAt.UTC(), StartedAt: r.StartedAt.UTC(), Version: r.Version, JourneyState: r.JourneyID + "|" + r.State,
		Doc: string(raw)}, nil
}

// CreateJourneyRun implements store.JourneyStore.
func (db *DB) CreateJourneyRun(ctx context.Context, r *store.JourneyRun) (bool, error) {
	if r != nil && r.Version == 0 {
		r.Version = 1
	}
	d, err := newRunDoc(r)
	if err != nil {
		return false, fmt.Errorf("mongo: create %w", err)
	}
	_, err = db.coll(collJourneyRuns).InsertOne(ctx, d)
	if mongo.IsDuplicateKeyError(err) {
		return false, nil // the ID or the (journey, customer, occurrence) exists
	}
	if err != nil {
		return false, fmt.Errorf("mongo: create journey run: %w", err)
	}
	return true, nil
}

// UpdateJourneyRun implements store.JourneyStore.
func (db *DB) UpdateJourneyRun(ctx context.Context, r *store.JourneyRun, version int64) error {
	next := *r
	next.Version = version + 1
	d, err := newRunDoc(&next)
	if err != nil {
		return fmt.Errorf("mongo: update %w", err)
	}
	if err := db.compareAndSet(ctx, collJourneyRuns, "journey run", r.ID, r.CustomerID, version, d.set()); err != nil {
		return err
	}
	r.Version = next.Version
	return nil
}

// FindJourneyRunByID implements store.JourneyStore.
func (db *DB) FindJourneyRunByID(ctx context.Context, id string) (*store.JourneyRun, error) {
	var d runDoc
	err := db.coll(collJourneyRuns).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("mongo: journey run %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: journey run %s: %w", id, err)
	}
	if d.Doc, err = db.latestDoc(ctx, collJourneyRuns, id, d.Version, d.Doc); err != nil {
		return nil, err
	}
	return d.run()
}

// set is what writing d over an older version of its run sets.
func (d *runDoc) set() bson.D {
	return bson.D{{Key: "state", Value: d.State}, {Key: "next_at", Value: d.NextAt}, {Key: "version", Value: d.Version},
		{Key: "journey_state", Value: d.JourneyState}, {Key: "doc", Value: d.Doc}}
}

func (d *runDoc) run() (*store.JourneyRun, error) {
	var r store.JourneyRun
	if err := json.Unmarshal([]byte(d.Doc), &r); err != nil {
		return nil, fmt.Errorf("mongo: decode journey run %s: %w", d.ID, err)
	}
	return &r, nil
}

func (db *DB) findRuns(ctx context.Context, filter bson.D, opts *options.FindOptionsBuilder) ([]*store.JourneyRun, error) {
	cur, err := db.coll(collJourneyRuns).Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("mongo: find journey runs: %w", err)
	}
	var docs []runDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo: find journey runs: %w", err)
	}
	out := make([]*store.JourneyRun, 0, len(docs))
	for i := range docs {
		r, err := docs[i].run()
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// FindDueJourneyRuns implements store.JourneyStore.
func (db *DB) FindDueJourneyRuns(ctx context.Context, now time.Time, limit int) ([]*store.JourneyRun, error) {
	if limit <= 0 {
		limit = 100
	}
	return db.findRuns(ctx, bson.D{{Key: "state", Value: store.RunActive}, {Key: "next_at", Value: bson.D{{Key: "$lte", Value: now.UTC()}}}},
		options.Find().SetSort(bson.D{{Key: "next_at", Value: 1}}).SetLimit(int64(limit)))
}

// FindJourneyRuns implements store.JourneyStore.
func (db *DB) FindJourneyRuns(ctx context.Context, f store.JourneyRunFilter) ([]*store.JourneyRun, error) {
	if f.JourneyID == "" && f.CustomerID == "" {
		return nil, fmt.Errorf("mongo: find journey runs: journey or customer required: %w", store.ErrInvalid)
	}
	filter := bson.D{}
	for _, c := range []struct{ key, v string }{{"journey_id", f.JourneyID}, {"customer_id", f.CustomerID}, {"state", f.State}} {
		if c.v != "" {
			filter = append(filter, bson.E{Key: c.key, Value: c.v})
		}
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	return db.findRuns(ctx, filter, options.Find().SetSort(bson.D{{Key: "started_at", Value: -1}, {Key: "_id", Value: -1}}).
		SetSkip(int64(max(f.Offset, 0))).SetLimit(int64(f.Limit)))
}

// CountJourneyRuns implements store.JourneyStore.
func (db *DB) CountJourneyRuns(ctx context.Context) (map[string]store.JourneyRunCounts, error) {
	cur, err := db.coll(collJourneyRuns).Aggregate(ctx, mongo.Pipeline{
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$journey_state"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
	})
	if err != nil {
		return nil, fmt.Errorf("mongo: count journey runs: %w", err)
	}
	var rows []struct {
		ID string `bson:"_id"`
		N  int    `bson:"n"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, fmt.Errorf("mongo: count journey runs: %w", err)
	}
	out := map[string]store.JourneyRunCounts{}
	for _, row := range rows {
		id, state, ok := strings.Cut(row.ID, "|")
		if !ok {
			continue
		}
		c := out[id]
		c.Add(state, row.N)
		out[id] = c
	}
	return out, nil
}
