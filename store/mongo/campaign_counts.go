package mongo

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scrmhq/scrm/store"
)

// sendCountChunk is how many IDs one find names with $in.
const sendCountChunk = 500

// prepareCampaignCounts creates the index the caps of a small audience
// count its customers' sends by (CountCampaignSendsOf); Open calls it.
func (db *DB) prepareCampaignCounts(ctx context.Context) error {
	return createMissingIndexes(ctx, db.coll(collCampaignSends), []mongo.IndexModel{
		{Keys: bson.D{{Key: "customer_id", Value: 1}, {Key: "at", Value: 1}}, Options: options.Index().SetName("customer_at")},
	})
}

// CountCampaignSendsOf implements store.CampaignStore: the sends are read
// by customer and counted in Go, as CountCampaignSends counts them.
func (db *DB) CountCampaignSendsOf(ctx context.Context, ids []string, from, to time.Time) (map[string]int, error) {
	out := map[string]int{}
	// An ID listed twice in two chunks would be counted twice.
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	for chunk := range slices.Chunk(ids, sendCountChunk) {
		cur, err := db.coll(collCampaignSends).Find(ctx, bson.D{
			{Key: "customer_id", Value: bson.D{{Key: "$in", Value: chunk}}},
			{Key: "at", Value: bson.D{{Key: "$gte", Value: from.UTC()}, {Key: "$lt", Value: to.UTC()}}},
			{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{store.SendPending, store.SendDelivered}}}},
		}, options.Find().SetProjection(bson.D{{Key: "customer_id", Value: 1}}))
		if err != nil {
			return nil, fmt.Errorf("mongo: count campaign sends: %w", err)
		}
		var docs []struct {
			CustomerID string `bson:"customer_id"`
		}
		if err := cur.All(ctx, &docs); err != nil {
			return nil, fmt.Errorf("mongo: count campaign sends: %w", err)
		}
		for _, d := range docs {
			out[d.CustomerID]++
		}
	}
	return out, nil
}
