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
// beside the fields they are found, counted and advanced by. Every update
// is a compare-and-set on the version, made of the one write FerretDB v1
// makes atomic: an insert into a unique index. Writing version v+1 of a
// record inserts its token "<collection>:<id>#<v+1>" (holding what the
// write sets), so of two writers who read v one inserts and the other gets
// a duplicate key. The winner checks that no later token exists (one
// pruned from under a stale writer can be inserted again), then sets the
// record — FerretDB's updates are not atomic, but only the winner writes —
// and prunes the tokens before v. A record found behind its latest token (a
// crash between the two writes) is set from the token when read by ID or
// when a write to it conflicts.
const (
	collJourneys        = "journeys"
	collJourneyRuns     = "journey_runs"
	collJourneyVersions = "journey_versions"
)

// versionDoc is the token of one version of a journey or a run.
type versionDoc struct {
	ID       string `bson:"_id"` // versionID(Coll, Record, Version)
	Coll     string `bson:"coll"`
	Record   string `bson:"record"`
	Version  int64  `bson:"version"`
	Customer string `bson:"customer_id,omitempty"` // a run's: erased with the customer
	Set      bson.D `bson:"set"`                   // what the write sets on the record
}

func versionID(coll, record string, version int64) string {
	return fmt.Sprintf("%s:%s#%019d", coll, record, version)
}

type journeyDoc struct {
	ID        string    `bson:"_id"`
	Version   int64     `bson:"version"`
	CreatedAt time.Time `bson:"created_at"`
	Doc       string    `bson:"doc"`
}

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
	if err := createMissingIndexes(ctx, db.coll(collJourneyVersions), []mongo.IndexModel{
		{Keys: bson.D{{Key: "coll", Value: 1}, {Key: "record", Value: 1}, {Key: "version", Value: -1}}, Options: options.Index().SetName("record")},
		{Keys: bson.D{{Key: "customer_id", Value: 1}}, Options: options.Index().SetName("customer")},
	}); err != nil {
		return err
	}
	return createMissingIndexes(ctx, db.coll(collJourneyRuns), []mongo.IndexModel{
		{Keys: bson.D{{Key: "journey_id", Value: 1}, {Key: "customer_id", Value: 1}, {Key: "occurrence", Value: 1}},
			Options: options.Index().SetName("occurrence").SetUnique(true)},
		{Keys: bson.D{{Key: "state", Value: 1}, {Key: "next_at", Value: 1}}, Options: options.Index().SetName("due")},
		{Keys: bson.D{{Key: "journey_id", Value: 1}, {Key: "state", Value: 1}, {Key: "started_at", Value: -1}}, Options: options.Index().SetName("journey")},
		{Keys: bson.D{{Key: "customer_id", Value: 1}, {Key: "state", Value: 1}}, Options: options.Index().SetName("customer")},
		{Keys: bson.D{{Key: "journey_state", Value: 1}}, Options: options.Index().SetName("journey_state")},
	})
}

// latestVersion is the latest token of a record, nil if it has none.
func (db *DB) latestVersion(ctx context.Context, coll, record string) (*versionDoc, error) {
	var v versionDoc
	err := db.coll(collJourneyVersions).FindOne(ctx, bson.D{{Key: "coll", Value: coll}, {Key: "record", Value: record}},
		options.FindOne().SetSort(bson.D{{Key: "version", Value: -1}})).Decode(&v)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: versions of %s %s: %w", coll, record, err)
	}
	return &v, nil
}

// catchUp sets the record from its latest token if the record is behind
// it (version is the record's), and reports the token it applied.
func (db *DB) catchUp(ctx context.Context, coll, record string, version int64) (*versionDoc, error) {
	v, err := db.latestVersion(ctx, coll, record)
	if err != nil || v == nil || v.Version <= version {
		return nil, err
	}
	if _, err := db.coll(coll).UpdateOne(ctx, bson.D{{Key: "_id", Value: record}, {Key: "version", Value: bson.D{{Key: "$lt", Value: v.Version}}}},
		bson.D{{Key: "$set", Value: v.Set}}); err != nil {
		return nil, fmt.Errorf("mongo: catch up %s %s: %w", coll, record, err)
	}
	return v, nil
}

// compareAndSet writes set (which must set "version" to version+1) on the
// record id of coll if its version is still version: ErrConflict if another
// write came first, ErrNotFound if there is no such record.
func (db *DB) compareAndSet(ctx context.Context, coll, what, id, customer string, version int64, set bson.D) error {
	var head struct {
		Version int64 `bson:"version"`
	}
	err := db.coll(coll).FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(bson.D{{Key: "version", Value: 1}})).Decode(&head)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("mongo: update %s %s: %w", what, id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("mongo: update %s: %w", what, err)
	}
	conflict := func() error {
		if _, err := db.catchUp(ctx, coll, id, head.Version); err != nil {
			return err
		}
		return fmt.Errorf("mongo: update %s %s: changed meanwhile: %w", what, id, store.ErrConflict)
	}
	if head.Version > version {
		return conflict()
	}
	next := version + 1
	token := versionDoc{ID: versionID(coll, id, next), Coll: coll, Record: id, Version: next, Customer: customer, Set: set}
	if _, err := db.coll(collJourneyVersions).InsertOne(ctx, &token); mongo.IsDuplicateKeyError(err) {
		return conflict()
	} else if err != nil {
		return fmt.Errorf("mongo: update %s: %w", what, err)
	}
	if later, err := db.latestVersion(ctx, coll, id); err != nil {
		return err
	} else if later.Version > next {
		// Our token was pruned once and stood again: a stale write.
		_, _ = db.coll(collJourneyVersions).DeleteOne(ctx, bson.D{{Key: "_id", Value: token.ID}})
		return conflict()
	}
	if _, err := db.coll(coll).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "version", Value: bson.D{{Key: "$lt", Value: next}}}},
		bson.D{{Key: "$set", Value: set}}); err != nil {
		return fmt.Errorf("mongo: update %s: %w", what, err)
	}
	// The token of the version read stays: a writer still holding it
	// finds the next taken.
	if _, err := db.coll(collJourneyVersions).DeleteMany(ctx, bson.D{{Key: "coll", Value: coll}, {Key: "record", Value: id},
		{Key: "version", Value: bson.D{{Key: "$lt", Value: version}}}}); err != nil {
		return fmt.Errorf("mongo: prune versions of %s: %w", what, err)
	}
	return nil
}

// CreateJourney implements store.JourneyStore.
func (db *DB) CreateJourney(ctx context.Context, j *store.Journey) error {
	if j == nil || j.ID == "" || j.Name == "" {
		return fmt.Errorf("mongo: create journey: id and name required: %w", store.ErrInvalid)
	}
	if j.Version == 0 {
		j.Version = 1
	}
	raw, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("mongo: create journey: %w", err)
	}
	_, err = db.coll(collJourneys).InsertOne(ctx, journeyDoc{ID: j.ID, Version: j.Version, CreatedAt: j.CreatedAt.UTC(), Doc: string(raw)})
	if mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("mongo: create journey %s: id taken: %w", j.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("mongo: create journey: %w", err)
	}
	return nil
}

// UpdateJourney implements store.JourneyStore.
func (db *DB) UpdateJourney(ctx context.Context, j *store.Journey, version int64) error {
	next := *j
	next.Version = version + 1
	raw, err := json.Marshal(&next)
	if err != nil {
		return fmt.Errorf("mongo: update journey: %w", err)
	}
	if err := db.compareAndSet(ctx, collJourneys, "journey", j.ID, "", version,
		bson.D{{Key: "version", Value: next.Version}, {Key: "doc", Value: string(raw)}}); err != nil {
		return err
	}
	j.Version = next.Version
	return nil
}

// FindJourneyByID implements store.JourneyStore.
func (db *DB) FindJourneyByID(ctx context.Context, id string) (*store.Journey, error) {
	var d journeyDoc
	err := db.coll(collJourneys).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("mongo: journey %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: journey %s: %w", id, err)
	}
	raw, err := db.latestDoc(ctx, collJourneys, id, d.Version, d.Doc)
	if err != nil {
		return nil, err
	}
	var j store.Journey
	if err := json.Unmarshal([]byte(raw), &j); err != nil {
		return nil, fmt.Errorf("mongo: decode journey %s: %w", id, err)
	}
	return &j, nil
}

// latestDoc is the JSON of the record read at version, or of its latest
// token when the record is behind it (which it then catches up).
func (db *DB) latestDoc(ctx context.Context, coll, id string, version int64, doc string) (string, error) {
	v, err := db.catchUp(ctx, coll, id, version)
	if err != nil || v == nil {
		return doc, err
	}
	for _, e := range v.Set {
		if s, ok := e.Value.(string); ok && e.Key == "doc" {
			return s, nil
		}
	}
	return doc, nil
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
	if err := db.compareAndSet(ctx, collJourneyRuns, "journey run", r.ID, r.CustomerID, version, bson.D{
		{Key: "state", Value: d.State}, {Key: "next_at", Value: d.NextAt}, {Key: "version", Value: d.Version},
		{Key: "journey_state", Value: d.JourneyState}, {Key: "doc", Value: d.Doc},
	}); err != nil {
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
