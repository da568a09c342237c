// Package mongo is the cluster store backend on MongoDB, written for the subset
// FerretDB v1 also runs: finds, update operators, upserts, findOneAndUpdate,
// unique indexes, InsertMany; no transactions, $lookup, $facet, TTL or change
// streams.
//
// Correctness never rests on an update being atomic with the read that chose
// it. FerretDB v1 executes every update as read, modify, write back the whole
// document, so concurrent $inc, findOneAndUpdate and conditional updates can
// lose writes there. The one primitive that is atomic on both MongoDB and
// FerretDB is an insert into a unique index, so every decision that must be
// made exactly once is an insert: an identity's owner, a claim of one
// generation of an event's lease, an event's completion, a merge. Everything
// else is an idempotent update that a later writer repairs if a race undid it.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/scrmhq/scrm/store"
)

// Collection names.
const (
	collEvents     = "events"
	collClaims     = "event_claims" // one document per lease generation of an event
	collDone       = "event_done"   // one document per completed event
	collCustomers  = "customers"
	collIdentities = "identities" // _id "kind:value" → customer_id: the point of truth
	collFollows    = "follows"
	collMerges     = "customer_merges" // _id merged-away customer → into
	collTimeline   = "timeline"
	collCounters   = "counters"
	collCursors    = "cursors"
	collMarkers    = "markers" // store.MarkerStore, swept per kind
)

// DB is the MongoDB store. It implements store.Store.
type DB struct {
	client *mongo.Client
	db     *mongo.Database

	events, claims, done                   *mongo.Collection
	customers, identities, follows, merges *mongo.Collection
	timeline, counters, cursors, markers   *mongo.Collection
	crm                                    crmCollections // crm_*.go

	// serialBatches makes the batch writes (WriteCustomers,
	// WriteMarkersAndJobs) run one at a time: see SerialBatchWrites.
	serialBatches atomic.Bool
}

// SerialBatchWrites makes WriteCustomers and WriteMarkersAndJobs send their
// commands one at a time instead of eight at a time. Concurrent appends may
// race for a timeline ID and retry, so a test that counts the commands an
// operation costs wants them serial.
func (db *DB) SerialBatchWrites() { db.serialBatches.Store(true) }

// batchParallelism is how many writes of a batch run at once.
func (db *DB) batchParallelism() int {
	if db.serialBatches.Load() {
		return 1
	}
	return writeParallelism
}

var _ store.Store = (*DB)(nil)

// Option tunes Open.
type Option func(*options.ClientOptions)

// WithMonitor passes every command the driver sends, and its outcome, to m:
// the way tests and benchmarks count what an operation costs on the wire.
func WithMonitor(m *event.CommandMonitor) Option {
	return func(o *options.ClientOptions) { o.SetMonitor(m) }
}

// Open connects to uri, uses database dbName and creates the indexes.
func Open(ctx context.Context, uri, dbName string, opts ...Option) (*DB, error) {
	co := options.Client().ApplyURI(uri)
	for _, o := range opts {
		o(co)
	}
	client, err := mongo.Connect(co)
	if err != nil {
		return nil, fmt.Errorf("mongo: connect: %w", err)
	}
	db := newDB(client, dbName)
	if err := db.Ping(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if err := db.ensureIndexes(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if err := db.prepareCRM(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if err := db.moveCursorMarkers(ctx, time.Now()); err != nil { // markers.go
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if err := db.moveCursorState(ctx); err != nil { // state.go
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if err := db.prepareState(ctx); err != nil { // state.go
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if err := db.backfillFollowState(ctx); err != nil { // followstate.go
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if err := db.prepareGroups(ctx); err != nil { // groups.go
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if err := db.prepareSessions(ctx); err != nil { // sessions.go
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if err := db.prepareChannels(ctx); err != nil { // channels.go
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if err := db.prepareVersions(ctx); err != nil { // versioned.go
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if err := db.prepareCampaigns(ctx); err != nil { // campaigns.go
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if err := db.prepareCampaignCounts(ctx); err != nil { // campaign_counts.go
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if err := db.prepareQuickReplies(ctx); err != nil { // quickreplies.go
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if err := db.prepareJourneys(ctx); err != nil { // journeys.go
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	return db, nil
}

func newDB(client *mongo.Client, dbName string) *DB {
	d := client.Database(dbName)
	// An accepted callback must survive a primary failover: its events are
	// acknowledged by a majority and journaled before AppendEvents returns.
	durable := options.Collection().SetWriteConcern(&writeconcern.WriteConcern{W: "majority", Journal: ptr(true)})
	return &DB{
		client:     client,
		db:         d,
		events:     d.Collection(collEvents, durable),
		claims:     d.Collection(collClaims),
		done:       d.Collection(collDone),
		customers:  d.Collection(collCustomers),
		identities: d.Collection(collIdentities),
		follows:    d.Collection(collFollows),
		merges:     d.Collection(collMerges),
		timeline:   d.Collection(collTimeline),
		counters:   d.Collection(collCounters),
		cursors:    d.Collection(collCursors),
		markers:    d.Collection(collMarkers),
		crm:        newCRMCollections(d),
	}
}

func (db *DB) ensureIndexes(ctx context.Context) error {
	unique := func(name string, keys bson.D) mongo.IndexModel {
		return mongo.IndexModel{Keys: keys, Options: options.Index().SetName(name).SetUnique(true)}
	}
	plain := func(name string, keys bson.D) mongo.IndexModel {
		return mongo.IndexModel{Keys: keys, Options: options.Index().SetName(name)}
	}
	indexes := []struct {
		coll   *mongo.Collection
		models []mongo.IndexModel
	}{
		{db.events, []mongo.IndexModel{
			unique("dedup_key", bson.D{{Key: "dedup_key", Value: 1}}),
			// Claiming reads only the pending prefix of this index, so
			// millions of processed events cost nothing.
			plain("pending_id", bson.D{{Key: "pending", Value: 1}, {Key: "_id", Value: 1}}),
		}},
		{db.done, []mongo.IndexModel{
			// PruneDone finds the done records older than its cutoff.
			plain("at", bson.D{{Key: "at", Value: 1}}),
		}},
		{db.markers, []mongo.IndexModel{
			// The sweep deletes a kind's markers older than its retention.
			plain("kind_created", bson.D{{Key: "kind", Value: 1}, {Key: "created_at", Value: 1}}),
		}},
		{db.claims, []mongo.IndexModel{
			plain("event_gen", bson.D{{Key: "event_id", Value: 1}, {Key: "gen", Value: -1}}),
		}},
		{db.identities, []mongo.IndexModel{
			plain("customer", bson.D{{Key: "customer_id", Value: 1}}),
		}},
		{db.customers, []mongo.IndexModel{
			plain("stage_id", bson.D{{Key: "stage", Value: 1}, {Key: "_id", Value: 1}}),
			plain("tags_id", bson.D{{Key: "tags", Value: 1}, {Key: "_id", Value: 1}}),
		}},
		{db.follows, []mongo.IndexModel{
			plain("staff_customer", bson.D{{Key: "staff_id", Value: 1}, {Key: "deleted", Value: 1}, {Key: "customer_id", Value: 1}}),
			plain("customer", bson.D{{Key: "customer_id", Value: 1}}),
			plain("staff_added", bson.D{{Key: "staff_id", Value: 1}, {Key: "added_at", Value: 1}}),
			// The console's per-member counts (followstate.go).
			plain("staff_stage", bson.D{{Key: "staff_id", Value: 1}, {Key: "stage", Value: 1}, {Key: "deleted", Value: 1}}),
			plain("staff_waiting", bson.D{{Key: "staff_id", Value: 1}, {Key: "waiting_since", Value: 1}}),
		}},
		{db.timeline, []mongo.IndexModel{
			unique("source_key", bson.D{{Key: "source_key", Value: 1}}),
			plain("customer_id_desc", bson.D{{Key: "customer_id", Value: 1}, {Key: "_id", Value: -1}}),
			plain("kind", bson.D{{Key: "kind", Value: 1}}),
			plain("staff_at", bson.D{{Key: "staff_id", Value: 1}, {Key: "at", Value: 1}}),
		}},
	}
	for _, ix := range indexes {
		if err := createMissingIndexes(ctx, ix.coll, ix.models); err != nil {
			return err
		}
	}
	return nil
}

// Ping checks that the server answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.db.RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err(); err != nil {
		return fmt.Errorf("mongo: ping: %w", err)
	}
	return nil
}

// Close disconnects the client.
func (db *DB) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("mongo: disconnect: %w", err)
	}
	return nil
}

// Stats counts events and customers from collection metadata (both are
// cheap and exact after a clean shutdown) and message entries by index.
func (db *DB) Stats(ctx context.Context) (store.Stats, error) {
	var st store.Stats
	var err error
	if st.Events, err = db.events.EstimatedDocumentCount(ctx); err != nil {
		return store.Stats{}, fmt.Errorf("mongo: stats: count events: %w", err)
	}
	if st.Customers, err = db.customers.EstimatedDocumentCount(ctx); err != nil {
		return store.Stats{}, fmt.Errorf("mongo: stats: count customers: %w", err)
	}
	if st.Messages, err = db.timeline.CountDocuments(ctx, bson.D{{Key: "kind", Value: store.EntryMessage}}); err != nil {
		return store.Stats{}, fmt.Errorf("mongo: stats: count messages: %w", err)
	}
	return st, nil
}

// GetCursor returns the named cursor, "" if unset.
func (db *DB) GetCursor(ctx context.Context, name string) (string, error) {
	var doc struct {
		Value string `bson:"value"`
	}
	err := db.cursors.FindOne(ctx, bson.D{{Key: "_id", Value: name}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("mongo: get cursor %s: %w", name, err)
	}
	return doc.Value, nil
}

// SetCursor stores the named cursor.
func (db *DB) SetCursor(ctx context.Context, name, value string) error {
	err := retryDup(func() error {
		_, err := db.cursors.UpdateOne(ctx, bson.D{{Key: "_id", Value: name}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "value", Value: value}}}}, options.UpdateOne().SetUpsert(true))
		return err
	})
	if err != nil {
		return fmt.Errorf("mongo: set cursor %s: %w", name, err)
	}
	return nil
}

// reserveIDs reserves n consecutive int64 IDs from the named counter and
// returns the first. On MongoDB $inc is atomic and blocks never overlap; on
// FerretDB v1 they can, so callers insert with unique _ids and retry on a
// collision instead of trusting the block.
func (db *DB) reserveIDs(ctx context.Context, name string, n int) (int64, error) {
	var doc struct {
		Seq int64 `bson:"seq"`
	}
	err := retryDup(func() error {
		return db.counters.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: name}},
			bson.D{{Key: "$inc", Value: bson.D{{Key: "seq", Value: int64(n)}}}},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&doc)
	})
	if err != nil {
		return 0, fmt.Errorf("reserve %d %s ids: %w", n, name, err)
	}
	return doc.Seq - int64(n) + 1, nil
}

// retryDup retries an upsert that lost a race to insert the same _id (the
// second attempt finds the document and updates it).
func retryDup(fn func() error) error {
	var err error
	for range 5 {
		if err = fn(); !mongo.IsDuplicateKeyError(err) {
			return err
		}
	}
	return err
}

// kv is one map entry. Maps are stored as lists of pairs because map keys
// come from platform payloads and may contain '.' or start with '$'.
type kv struct {
	K string `bson:"k"`
	V string `bson:"v"`
}

func toKVs(m map[string]string) []kv {
	if len(m) == 0 {
		return nil
	}
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].K < out[j].K })
	return out
}

func fromKVs(l []kv) map[string]string {
	if len(l) == 0 {
		return nil
	}
	m := make(map[string]string, len(l))
	for _, e := range l {
		m[e.K] = e.V
	}
	return m
}

// utc normalizes a decoded time (BSON dates carry milliseconds, no zone).
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func ptr[T any](v T) *T { return &v }
