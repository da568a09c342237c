package mongo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scrmhq/scrm/store"
)

// Channels are kept as one document each: the fields they are found by
// beside the channel as JSON, which keeps its nested staff, schedule and
// welcome out of the query surface (and inside FerretDB's subset).
const (
	collChannels      = "channels"
	collChannelEvents = "channel_events"
)

type channelDoc struct {
	ID        string    `bson:"_id"`
	State     string    `bson:"state"`
	Kind      string    `bson:"kind"`
	Deleted   bool      `bson:"deleted"`
	CreatedAt time.Time `bson:"created_at"`
	Doc       string    `bson:"doc"`
}

type channelEventDoc struct {
	Key        string    `bson:"_id"`
	ChannelID  string    `bson:"channel_id"`
	Kind       string    `bson:"kind"`
	CustomerID string    `bson:"customer_id"`
	StaffID    string    `bson:"staff_id"`
	At         time.Time `bson:"at"`
}

func (db *DB) channels() *mongo.Collection      { return db.db.Collection(collChannels) }
func (db *DB) channelEvents() *mongo.Collection { return db.db.Collection(collChannelEvents) }

// prepareChannels creates the channel indexes; Open calls it.
func (db *DB) prepareChannels(ctx context.Context) error {
	if err := createMissingIndexes(ctx, db.channels(), []mongo.IndexModel{
		{Keys: bson.D{{Key: "state", Value: 1}}, Options: options.Index().SetName("state").SetUnique(true)},
		{Keys: bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("created")},
	}); err != nil {
		return err
	}
	return createMissingIndexes(ctx, db.channelEvents(), []mongo.IndexModel{
		{Keys: bson.D{{Key: "channel_id", Value: 1}, {Key: "at", Value: 1}}, Options: options.Index().SetName("channel_at")},
		{Keys: bson.D{{Key: "customer_id", Value: 1}, {Key: "at", Value: 1}}, Options: options.Index().SetName("customer_at")},
	})
}

func toChannelDoc(c *store.Channel) (*channelDoc, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return &channelDoc{ID: c.ID, State: c.State, Kind: c.Kind, Deleted: c.DeletedAt != nil, CreatedAt: c.CreatedAt, Doc: string(raw)}, nil
}

func (d *channelDoc) channel() (*store.Channel, error) {
	var c store.Channel
	if err := json.Unmarshal([]byte(d.Doc), &c); err != nil {
		return nil, fmt.Errorf("decode channel %s: %w", d.ID, err)
	}
	return &c, nil
}

// CreateChannel implements store.ChannelStore.
func (db *DB) CreateChannel(ctx context.Context, c *store.Channel) error {
	if err := store.ValidateChannel(c); err != nil {
		return fmt.Errorf("mongo: create channel: %w", err)
	}
	d, err := toChannelDoc(c)
	if err != nil {
		return fmt.Errorf("mongo: create channel: %w", err)
	}
	if _, err := db.channels().InsertOne(ctx, d); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("mongo: create channel %s: id or state taken: %w", c.ID, store.ErrConflict)
		}
		return fmt.Errorf("mongo: create channel: %w", err)
	}
	return nil
}

// UpdateChannel implements store.ChannelStore.
func (db *DB) UpdateChannel(ctx context.Context, c *store.Channel) error {
	if err := store.ValidateChannel(c); err != nil {
		return fmt.Errorf("mongo: update channel: %w", err)
	}
	d, err := toChannelDoc(c)
	if err != nil {
		return fmt.Errorf("mongo: update channel: %w", err)
	}
	res, err := db.channels().UpdateOne(ctx, bson.D{{Key: "_id", Value: c.ID}, {Key: "state", Value: c.State}, {Key: "deleted", Value: false}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "kind", Value: d.Kind}, {Key: "doc", Value: d.Doc}}}})
	if err != nil {
		return fmt.Errorf("mongo: update channel: %w", err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("mongo: update channel %s: %w", c.ID, store.ErrNotFound)
	}
	return nil
}

// DeleteChannel implements store.ChannelStore.
func (db *DB) DeleteChannel(ctx context.Context, id string, at time.Time) error {
	var d channelDoc
	err := db.channels().FindOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "deleted", Value: false}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("mongo: delete channel %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("mongo: delete channel: %w", err)
	}
	c, err := d.channel()
	if err != nil {
		return fmt.Errorf("mongo: delete channel: %w", err)
	}
	at = at.UTC()
	c.DeletedAt = &at
	nd, err := toChannelDoc(c)
	if err != nil {
		return fmt.Errorf("mongo: delete channel: %w", err)
	}
	res, err := db.channels().UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "deleted", Value: false}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "deleted", Value: true}, {Key: "doc", Value: nd.Doc}}}})
	if err != nil {
		return fmt.Errorf("mongo: delete channel: %w", err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("mongo: delete channel %s: %w", id, store.ErrNotFound)
	}
	return nil
}

func (db *DB) findChannel(ctx context.Context, filter bson.D) (*store.Channel, error) {
	var d channelDoc
	err := db.channels().FindOne(ctx, filter).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return d.channel()
}

// FindChannelByID implements store.ChannelStore.
func (db *DB) FindChannelByID(ctx context.Context, id string) (*store.Channel, error) {
	c, err := db.findChannel(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return nil, fmt.Errorf("mongo: find channel %s: %w", id, err)
	}
	return c, nil
}

// FindChannelByState implements store.ChannelStore.
func (db *DB) FindChannelByState(ctx context.Context, state string) (*store.Channel, error) {
	c, err := db.findChannel(ctx, bson.D{{Key: "state", Value: state}})
	if err != nil {
		return nil, fmt.Errorf("mongo: find channel by state: %w", err)
	}
	return c, nil
}

// FindChannels implements store.ChannelStore.
func (db *DB) FindChannels(ctx context.Context, f store.ChannelFilter) ([]*store.Channel, error) {
	filter := bson.D{}
	if f.Kind != "" {
		filter = append(filter, bson.E{Key: "kind", Value: f.Kind})
	}
	if !f.IncludeDeleted {
		filter = append(filter, bson.E{Key: "deleted", Value: false})
	}
	cur, err := db.channels().Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: find channels: %w", err)
	}
	var docs []channelDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo: find channels: %w", err)
	}
	out := make([]*store.Channel, 0, len(docs))
	for i := range docs {
		c, err := docs[i].channel()
		if err != nil {
			return nil, fmt.Errorf("mongo: find channels: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// RecordChannelEvent implements store.ChannelStore.
func (db *DB) RecordChannelEvent(ctx context.Context, e store.ChannelEvent) (bool, error) {
	if err := store.ValidateChannelEvent(e); err != nil {
		return false, fmt.Errorf("mongo: record channel event: %w", err)
	}
	_, err := db.channelEvents().InsertOne(ctx, &channelEventDoc{Key: e.Key, ChannelID: e.ChannelID, Kind: e.Kind,
		CustomerID: e.CustomerID, StaffID: e.StaffID, At: e.At.UTC()})
	if mongo.IsDuplicateKeyError(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mongo: record channel event: %w", err)
	}
	return true, nil
}

// FindChannelEvents implements store.ChannelStore.
func (db *DB) FindChannelEvents(ctx context.Context, f store.ChannelEventFilter) ([]store.ChannelEvent, error) {
	filter := bson.D{}
	eq := func(k, v string) {
		if v != "" {
			filter = append(filter, bson.E{Key: k, Value: v})
		}
	}
	eq("channel_id", f.ChannelID)
	eq("customer_id", f.CustomerID)
	eq("staff_id", f.StaffID)
	eq("kind", f.Kind)
	at := bson.D{}
	if !f.From.IsZero() {
		at = append(at, bson.E{Key: "$gte", Value: f.From.UTC()})
	}
	if !f.To.IsZero() {
		at = append(at, bson.E{Key: "$lt", Value: f.To.UTC()})
	}
	if len(at) > 0 {
		filter = append(filter, bson.E{Key: "at", Value: at})
	}
	cur, err := db.channelEvents().Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "at", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: find channel events: %w", err)
	}
	var docs []channelEventDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo: find channel events: %w", err)
	}
	out := make([]store.ChannelEvent, len(docs))
	for i, d := range docs {
		out[i] = store.ChannelEvent{Key: d.Key, ChannelID: d.ChannelID, Kind: d.Kind, CustomerID: d.CustomerID, StaffID: d.StaffID, At: utc(d.At)}
	}
	return out, nil
}
