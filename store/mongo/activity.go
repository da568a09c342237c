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

// followUpFilter selects follow-ups (store.IsFollowUp) in the timeline.
func followUpFilter() bson.E {
	return bson.E{Key: "$or", Value: bson.A{
		bson.D{{Key: "kind", Value: store.EntryNote}},
		bson.D{{Key: "kind", Value: store.EntryMessage}, {Key: "direction", Value: store.DirectionOut}},
	}}
}

// awaitingAnswer returns, when e is a follow-up that answers customer cid's
// waiting message, when the wait began; nil otherwise.
func (db *DB) awaitingAnswer(ctx context.Context, cid string, e *store.TimelineEntry) (*time.Time, error) {
	if !store.IsFollowUp(e) {
		return nil, nil
	}
	var c customerDoc
	err := db.customers.FindOne(ctx, bson.D{{Key: "_id", Value: cid}},
		options.FindOne().SetProjection(bson.D{{Key: "awaiting_since", Value: 1}})).Decode(&c)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read awaiting: %w", err)
	}
	if c.AwaitingSince == nil || e.At.Before(*c.AwaitingSince) {
		return nil, nil
	}
	return c.AwaitingSince, nil
}

// trackActivity keeps customer cid's write-time activity current after e
// was inserted (see the SQLite backend for the rules). Without transactions
// a crash between the insert and this update loses one wait, and two
// follow-ups racing may both count as the answer: the overview is a
// statistic, and both are rare.
func (db *DB) trackActivity(ctx context.Context, cid string, e *store.TimelineEntry, awaiting *time.Time) error {
	switch {
	case store.IsCustomerMessage(e):
		// Start the wait unless one began earlier or a later follow-up
		// already answered (old messages imported late).
		filter := bson.D{{Key: "_id", Value: cid}, {Key: "$and", Value: bson.A{
			bson.D{{Key: "$or", Value: bson.A{
				bson.D{{Key: "awaiting_since", Value: nil}},
				bson.D{{Key: "awaiting_since", Value: bson.D{{Key: "$gt", Value: e.At}}}},
			}}},
			bson.D{{Key: "$or", Value: bson.A{
				bson.D{{Key: "last_staff_touch_at", Value: nil}},
				bson.D{{Key: "last_staff_touch_at", Value: bson.D{{Key: "$lte", Value: e.At}}}},
			}}},
		}}}
		if _, err := db.customers.UpdateOne(ctx, filter, bson.D{{Key: "$set", Value: bson.D{{Key: "awaiting_since", Value: e.At}}}}); err != nil {
			return fmt.Errorf("track activity: %w", err)
		}
	case store.IsFollowUp(e):
		if _, err := db.customers.UpdateOne(ctx, bson.D{{Key: "_id", Value: cid}}, bson.D{{Key: "$max", Value: bson.D{
			{Key: "last_staff_touch_at", Value: e.At}, {Key: "last_contact_at", Value: e.At},
		}}}); err != nil {
			return fmt.Errorf("track activity: %w", err)
		}
		if err := db.syncFollows(ctx, cid); err != nil { // a touch can end the wait
			return fmt.Errorf("track activity: %w", err)
		}
		if awaiting == nil {
			return nil
		}
		// Only the wait this follow-up answered ends: a newer one (a
		// message that arrived meanwhile) stays.
		if _, err := db.customers.UpdateOne(ctx, bson.D{{Key: "_id", Value: cid}, {Key: "awaiting_since", Value: *awaiting}},
			bson.D{{Key: "$unset", Value: bson.D{{Key: "awaiting_since", Value: ""}}}}); err != nil {
			return fmt.Errorf("track activity: %w", err)
		}
	}
	return nil
}

// FollowUpStats sums the follow-ups of staffIDs in [from, to), read through
// the staff_at index.
func (db *DB) FollowUpStats(ctx context.Context, staffIDs []string, from, to time.Time) (map[string]store.FollowUpStats, error) {
	out := map[string]store.FollowUpStats{}
	if len(staffIDs) == 0 {
		return out, nil
	}
	filter := bson.D{
		{Key: "staff_id", Value: bson.D{{Key: "$in", Value: staffIDs}}},
		{Key: "at", Value: bson.D{{Key: "$gte", Value: from}, {Key: "$lt", Value: to}}},
		followUpFilter(),
	}
	cur, err := db.timeline.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "staff_id", Value: 1}, {Key: "waited", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: follow-up stats: %w", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var d entryDoc
		if err := cur.Decode(&d); err != nil {
			return nil, fmt.Errorf("mongo: follow-up stats: %w", err)
		}
		s := out[d.StaffID]
		s.FollowUps++
		if d.Waited != nil {
			s.Responses++
			s.ResponseTime += time.Duration(*d.Waited)
		}
		out[d.StaffID] = s
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("mongo: follow-up stats: %w", err)
	}
	return out, nil
}

// NewFollowCounts counts follows added in [from, to) per staff member.
func (db *DB) NewFollowCounts(ctx context.Context, staffIDs []string, from, to time.Time) (map[string]int64, error) {
	out := map[string]int64{}
	if len(staffIDs) == 0 {
		return out, nil
	}
	filter := bson.D{
		{Key: "staff_id", Value: bson.D{{Key: "$in", Value: staffIDs}}},
		{Key: "added_at", Value: bson.D{{Key: "$gte", Value: from}, {Key: "$lt", Value: to}}},
	}
	cur, err := db.follows.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "staff_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: new follow counts: %w", err)
	}
	var fs []followDoc
	if err := cur.All(ctx, &fs); err != nil {
		return nil, fmt.Errorf("mongo: new follow counts: %w", err)
	}
	for _, f := range fs {
		out[f.StaffID]++
	}
	return out, nil
}

// FollowerCounts counts the customers each staff member follows: their
// active follows, in a stage by the stage kept on each follow.
func (db *DB) FollowerCounts(ctx context.Context, staffIDs []string, stage string) (map[string]int64, error) {
	out := map[string]int64{}
	if len(staffIDs) == 0 {
		return out, nil
	}
	filter := bson.D{{Key: "staff_id", Value: bson.D{{Key: "$in", Value: staffIDs}}}, {Key: "deleted", Value: false}}
	if stage != "" { // kept on the follows (followstate.go)
		filter = append(filter, bson.E{Key: "stage", Value: stage})
	}
	cur, err := db.follows.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "staff_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: follower counts: %w", err)
	}
	var fs []followDoc
	if err := cur.All(ctx, &fs); err != nil {
		return nil, fmt.Errorf("mongo: follower counts: %w", err)
	}
	for _, f := range fs {
		out[f.StaffID]++
	}
	return out, nil
}

// SentimentCounts groups the customers matching f by their latest
// sentiment label, walked like CountCustomers (FerretDB v1 has no $group
// over nested fields we can rely on, and only labels are loaded).
func (db *DB) SentimentCounts(ctx context.Context, f store.CustomerFilter) (map[string]int64, error) {
	out := map[string]int64{}
	if err := db.eachLabel(ctx, f, func(_ *customerDoc, label string) { out[label]++ }); err != nil {
		return nil, fmt.Errorf("mongo: sentiment counts: %w", err)
	}
	return out, nil
}

// eachLabel calls fn with each customer matching f (AfterID and Limit
// ignored), loaded with its last contact and sentiment label only.
func (db *DB) eachLabel(ctx context.Context, f store.CustomerFilter, fn func(d *customerDoc, label string)) error {
	drive, check, none := staffScope(f)
	if none {
		return nil
	}
	f.AfterID, f.Limit = "", 0
	filter := customerFilter(f)
	proj := options.Find().SetProjection(bson.D{{Key: "insight.sentiment_label", Value: 1}, {Key: "last_contact_at", Value: 1}})
	each := func(filter bson.D) error {
		cur, err := db.customers.Find(ctx, filter, proj)
		if err != nil {
			return err
		}
		var docs []customerDoc
		if err := cur.All(ctx, &docs); err != nil {
			return err
		}
		for i := range docs {
			label := ""
			if docs[i].Insight != nil {
				label = docs[i].Insight.SentimentLabel
			}
			fn(&docs[i], label)
		}
		return nil
	}
	if len(drive) == 0 {
		return each(filter)
	}
	err := db.walkFollowed(ctx, drive, check, "", 1000, func(ids []string) (bool, error) {
		return true, each(append(bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, filter...))
	})
	if err != nil {
		return fmt.Errorf("of %v: %w", drive, err)
	}
	return nil
}
