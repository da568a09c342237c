package mongo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scrmhq/scrm/store"
)

// Segments, campaigns and tasks are documents holding the record as JSON
// beside the keys they are found by; sends are plain documents whose
// counts per customer are taken in Go (FerretDB v1's $group has only
// $sum/$count, and a month's sends are few per customer).
const (
	collSegments      = "segments"
	collCampaigns     = "campaigns" // versioned records (versioned.go)
	collCampaignTasks = "campaign_tasks"
	collCampaignSends = "campaign_sends"
)

type jsonDoc struct {
	ID         string    `bson:"_id"`
	CampaignID string    `bson:"campaign_id,omitempty"`
	JourneyID  string    `bson:"journey_id,omitempty"` // a journey's campaign: not listed with the others
	CreatedAt  time.Time `bson:"created_at"`
	Version    int64     `bson:"version,omitempty"` // a versioned record's (versioned.go)
	Doc        string    `bson:"doc"`
}

type sendDoc struct {
	ID             string    `bson:"_id"` // campaign|customer
	CampaignID     string    `bson:"campaign_id"`
	CustomerID     string    `bson:"customer_id"`
	ExternalUserID string    `bson:"external_userid"`
	ChatID         string    `bson:"chat_id,omitempty"`
	Sender         string    `bson:"sender"`
	Status         string    `bson:"status"`
	At             time.Time `bson:"at"`
}

func (db *DB) coll(name string) *mongo.Collection { return db.db.Collection(name) }

// prepareCampaigns creates the campaign indexes; Open calls it.
func (db *DB) prepareCampaigns(ctx context.Context) error {
	if err := createMissingIndexes(ctx, db.coll(collCampaigns), []mongo.IndexModel{
		{Keys: bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}, Options: options.Index().SetName("created")},
		{Keys: bson.D{{Key: "journey_id", Value: 1}, {Key: "created_at", Value: -1}}, Options: options.Index().SetName("journey")},
	}); err != nil {
		return err
	}
	if err := createMissingIndexes(ctx, db.coll(collCampaignTasks), []mongo.IndexModel{
		{Keys: bson.D{{Key: "campaign_id", Value: 1}}, Options: options.Index().SetName("campaign")},
	}); err != nil {
		return err
	}
	return createMissingIndexes(ctx, db.coll(collCampaignSends), []mongo.IndexModel{
		{Keys: bson.D{{Key: "campaign_id", Value: 1}, {Key: "customer_id", Value: 1}}, Options: options.Index().SetName("campaign")},
		{Keys: bson.D{{Key: "at", Value: 1}}, Options: options.Index().SetName("at")},
	})
}

func (db *DB) insertJSON(ctx context.Context, coll, what, id, campaignID string, at time.Time, v any) error {
	return db.insertJSONDoc(ctx, coll, what, jsonDoc{ID: id, CampaignID: campaignID, CreatedAt: at}, v)
}

// insertJSONDoc stores v as d's document; d holds the keys it is found by.
func (db *DB) insertJSONDoc(ctx context.Context, coll, what string, d jsonDoc, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("mongo: create %s: %w", what, err)
	}
	d.Doc = string(raw)
	if _, err := db.coll(coll).InsertOne(ctx, d); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("mongo: create %s %s: id taken: %w", what, d.ID, store.ErrConflict)
		}
		return fmt.Errorf("mongo: create %s: %w", what, err)
	}
	return nil
}

func findJSON[T any](ctx context.Context, c *mongo.Collection, what, id string) (*T, error) {
	d, err := findJSONDoc(ctx, c, what, id)
	if err != nil {
		return nil, err
	}
	return decodeJSON[T](what, d)
}

func findJSONDoc(ctx context.Context, c *mongo.Collection, what, id string) (*jsonDoc, error) {
	var d jsonDoc
	err := c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("mongo: %s %s: %w", what, id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: %s %s: %w", what, id, err)
	}
	return &d, nil
}

func decodeJSON[T any](what string, d *jsonDoc) (*T, error) {
	var v T
	if err := json.Unmarshal([]byte(d.Doc), &v); err != nil {
		return nil, fmt.Errorf("mongo: decode %s %s: %w", what, d.ID, err)
	}
	return &v, nil
}

func findJSONs[T any](ctx context.Context, c *mongo.Collection, what string, filter bson.D, opts *options.FindOptionsBuilder) ([]*T, error) {
	cur, err := c.Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("mongo: find %s: %w", what, err)
	}
	var docs []jsonDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo: find %s: %w", what, err)
	}
	out := make([]*T, 0, len(docs))
	for i := range docs {
		v, err := decodeJSON[T](what, &docs[i])
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// CreateSegment implements store.CampaignStore.
func (db *DB) CreateSegment(ctx context.Context, s *store.Segment) error {
	if s == nil || s.ID == "" || s.Name == "" {
		return fmt.Errorf("mongo: create segment: id and name required: %w", store.ErrInvalid)
	}
	return db.insertJSON(ctx, collSegments, "segment", s.ID, "", s.CreatedAt, s)
}

// FindSegmentByID implements store.CampaignStore.
func (db *DB) FindSegmentByID(ctx context.Context, id string) (*store.Segment, error) {
	return findJSON[store.Segment](ctx, db.coll(collSegments), "segment", id)
}

// FindSegments implements store.CampaignStore.
func (db *DB) FindSegments(ctx context.Context) ([]*store.Segment, error) {
	return findJSONs[store.Segment](ctx, db.coll(collSegments), "segments", bson.D{},
		options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}))
}

// DeleteSegment implements store.CampaignStore.
func (db *DB) DeleteSegment(ctx context.Context, id string) error {
	res, err := db.coll(collSegments).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return fmt.Errorf("mongo: delete segment: %w", err)
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("mongo: delete segment %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// CreateCampaign implements store.CampaignStore.
func (db *DB) CreateCampaign(ctx context.Context, c *store.Campaign) error {
	if c == nil || c.ID == "" || c.Name == "" {
		return fmt.Errorf("mongo: create campaign: id and name required: %w", store.ErrInvalid)
	}
	c.Version = 1
	return db.insertJSONDoc(ctx, collCampaigns, "campaign", jsonDoc{ID: c.ID, JourneyID: c.JourneyID, CreatedAt: c.CreatedAt, Version: c.Version}, c)
}

// UpdateCampaign implements store.CampaignStore: a compare-and-set of the
// version c was read at (versioned.go).
func (db *DB) UpdateCampaign(ctx context.Context, c *store.Campaign) error {
	next := *c
	next.Version++
	if err := db.updateJSON(ctx, collCampaigns, "campaign", c.ID, c.Version, &next); err != nil {
		return err
	}
	c.Version = next.Version
	return nil
}

// FindCampaignByID implements store.CampaignStore.
func (db *DB) FindCampaignByID(ctx context.Context, id string) (*store.Campaign, error) {
	return findVersionedJSON[store.Campaign](ctx, db, collCampaigns, "campaign", id)
}

// FindCampaigns implements store.CampaignStore.
func (db *DB) FindCampaigns(ctx context.Context, limit int) ([]*store.Campaign, error) {
	if limit <= 0 {
		limit = 100
	}
	notJourney := bson.D{{Key: "journey_id", Value: bson.D{{Key: "$exists", Value: false}}}}
	return findJSONs[store.Campaign](ctx, db.coll(collCampaigns), "campaigns", notJourney,
		options.Find().SetSort(bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(int64(limit)))
}

// PutCampaignTask implements store.CampaignStore.
func (db *DB) PutCampaignTask(ctx context.Context, t *store.CampaignTask) error {
	raw, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("mongo: put campaign task: %w", err)
	}
	// The chunk is zero-padded so the IDs sort by sender, then chunk.
	id := t.CampaignID + "|" + t.Sender + "|" + fmt.Sprintf("%06d", t.Chunk)
	if _, err := db.coll(collCampaignTasks).ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}},
		jsonDoc{ID: id, CampaignID: t.CampaignID, Doc: string(raw)}, options.Replace().SetUpsert(true)); err != nil {
		return fmt.Errorf("mongo: put campaign task: %w", err)
	}
	return nil
}

// FindCampaignTasks implements store.CampaignStore.
func (db *DB) FindCampaignTasks(ctx context.Context, campaignID string) ([]*store.CampaignTask, error) {
	return findJSONs[store.CampaignTask](ctx, db.coll(collCampaignTasks), "campaign tasks",
		bson.D{{Key: "campaign_id", Value: campaignID}}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
}

// PutCampaignSends implements store.CampaignStore: upserts in ordered
// batches (each batch one command).
func (db *DB) PutCampaignSends(ctx context.Context, sends []store.CampaignSend) error {
	const batch = 1000
	for i := 0; i < len(sends); i += batch {
		end := min(i+batch, len(sends))
		models := make([]mongo.WriteModel, 0, end-i)
		for _, s := range sends[i:end] {
			id := s.CampaignID + "|" + s.CustomerID
			// The time a campaign first targeted the customer stays.
			models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).SetUpsert(true).
				SetUpdate(bson.D{
					{Key: "$set", Value: bson.D{{Key: "campaign_id", Value: s.CampaignID}, {Key: "customer_id", Value: s.CustomerID},
						{Key: "external_userid", Value: s.ExternalUserID}, {Key: "chat_id", Value: s.ChatID}, {Key: "sender", Value: s.Sender},
						{Key: "status", Value: s.Status}}},
					{Key: "$setOnInsert", Value: bson.D{{Key: "at", Value: s.At.UTC()}}},
				}))
		}
		if _, err := db.coll(collCampaignSends).BulkWrite(ctx, models); err != nil {
			return fmt.Errorf("mongo: put campaign sends: %w", err)
		}
	}
	return nil
}

// FindCampaignSends implements store.CampaignStore.
func (db *DB) FindCampaignSends(ctx context.Context, campaignID string) ([]store.CampaignSend, error) {
	return db.findSends(ctx, bson.D{{Key: "campaign_id", Value: campaignID}}, bson.D{{Key: "customer_id", Value: 1}})
}

func (db *DB) findSends(ctx context.Context, filter, sort bson.D) ([]store.CampaignSend, error) {
	cur, err := db.coll(collCampaignSends).Find(ctx, filter, options.Find().SetSort(sort))
	if err != nil {
		return nil, fmt.Errorf("mongo: find campaign sends: %w", err)
	}
	var docs []sendDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo: find campaign sends: %w", err)
	}
	out := make([]store.CampaignSend, len(docs))
	for i, d := range docs {
		out[i] = store.CampaignSend{CampaignID: d.CampaignID, CustomerID: d.CustomerID, ExternalUserID: d.ExternalUserID,
			ChatID: d.ChatID, Sender: d.Sender, Status: d.Status, At: d.At.UTC()}
	}
	return out, nil
}

// CountCampaignSends implements store.CampaignStore.
func (db *DB) CountCampaignSends(ctx context.Context, from, to time.Time) (map[string]int, error) {
	sends, err := db.findSends(ctx, bson.D{
		{Key: "at", Value: bson.D{{Key: "$gte", Value: from.UTC()}, {Key: "$lt", Value: to.UTC()}}},
		{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{store.SendPending, store.SendDelivered}}}},
	}, bson.D{{Key: "at", Value: 1}})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, s := range sends {
		out[s.CustomerID]++
	}
	return out, nil
}

// scrubCampaignTasks takes an erased customer's identity values out of the
// campaign tasks that list them (EraseCustomer).
func (db *DB) scrubCampaignTasks(ctx context.Context, values []string) error {
	for _, v := range values {
		if v == "" {
			continue
		}
		filter := bson.D{{Key: "doc", Value: bson.Regex{Pattern: regexp.QuoteMeta(`"` + v + `"`)}}}
		var docs []jsonDoc
		cur, err := db.coll(collCampaignTasks).Find(ctx, filter)
		if err == nil {
			err = cur.All(ctx, &docs)
		}
		if err != nil {
			return fmt.Errorf("find campaign tasks: %w", err)
		}
		for _, d := range docs {
			var t store.CampaignTask
			if err := json.Unmarshal([]byte(d.Doc), &t); err != nil {
				return fmt.Errorf("decode campaign task %s: %w", d.ID, err)
			}
			if !store.ScrubCampaignTask(&t, values) {
				continue
			}
			raw, err := json.Marshal(&t)
			if err != nil {
				return err
			}
			if _, err := db.coll(collCampaignTasks).UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "doc", Value: string(raw)}}}}); err != nil {
				return fmt.Errorf("scrub campaign task %s: %w", d.ID, err)
			}
		}
	}
	return nil
}
