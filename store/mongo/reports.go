package mongo

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scrmhq/scrm/store"
)

// ActivityByDay reads the staff members' messages and notes in the whole
// range once through the staff_at index and buckets them here: grouping by
// a computed day is beyond the portable subset.
func (db *DB) ActivityByDay(ctx context.Context, staffIDs []string, bounds []time.Time) (map[string][]store.DayActivity, error) {
	out := map[string][]store.DayActivity{}
	if len(staffIDs) == 0 || len(bounds) < 2 {
		return out, nil
	}
	filter := bson.D{
		{Key: "staff_id", Value: bson.D{{Key: "$in", Value: staffIDs}}},
		{Key: "at", Value: bson.D{{Key: "$gte", Value: bounds[0]}, {Key: "$lt", Value: bounds[len(bounds)-1]}}},
		{Key: "kind", Value: bson.D{{Key: "$in", Value: bson.A{store.EntryMessage, store.EntryNote}}}},
	}
	cur, err := db.timeline.Find(ctx, filter, options.Find().SetProjection(bson.D{
		{Key: "staff_id", Value: 1}, {Key: "at", Value: 1}, {Key: "kind", Value: 1}, {Key: "direction", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: activity by day: %w", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var d entryDoc
		if err := cur.Decode(&d); err != nil {
			return nil, fmt.Errorf("mongo: activity by day: %w", err)
		}
		e := store.TimelineEntry{Kind: d.Kind, Direction: d.Direction, StaffID: d.StaffID}
		// The period holding d.At: the last bound at or before it.
		i := sort.Search(len(bounds), func(i int) bool { return bounds[i].After(d.At) }) - 1
		if i < 0 || i >= len(bounds)-1 || d.StaffID == "" {
			continue
		}
		days, ok := out[d.StaffID]
		if !ok {
			days = make([]store.DayActivity, len(bounds)-1)
			out[d.StaffID] = days
		}
		switch {
		case store.IsFollowUp(&e):
			days[i].FollowUps++
			if e.Kind == store.EntryMessage {
				days[i].MessagesOut++
			}
		case store.IsCustomerMessage(&e):
			days[i].MessagesIn++
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("mongo: activity by day: %w", err)
	}
	return out, nil
}

// ResponseWaits finds the stamped follow-ups through the staff_at index.
func (db *DB) ResponseWaits(ctx context.Context, staffIDs []string, from, to time.Time) ([]store.ResponseWait, error) {
	if len(staffIDs) == 0 {
		return nil, nil
	}
	filter := bson.D{
		{Key: "staff_id", Value: bson.D{{Key: "$in", Value: staffIDs}}},
		{Key: "at", Value: bson.D{{Key: "$gte", Value: from}, {Key: "$lt", Value: to}}},
		{Key: "waited", Value: bson.D{{Key: "$exists", Value: true}}},
	}
	cur, err := db.timeline.Find(ctx, filter, options.Find().SetProjection(bson.D{
		{Key: "staff_id", Value: 1}, {Key: "at", Value: 1}, {Key: "waited", Value: 1}, {Key: "kind", Value: 1}, {Key: "direction", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: response waits: %w", err)
	}
	defer cur.Close(ctx)
	var out []store.ResponseWait
	for cur.Next(ctx) {
		var d entryDoc
		if err := cur.Decode(&d); err != nil {
			return nil, fmt.Errorf("mongo: response waits: %w", err)
		}
		if d.Waited == nil {
			continue
		}
		out = append(out, store.ResponseWait{StaffID: d.StaffID, At: d.At.UTC(), Waited: time.Duration(*d.Waited)})
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("mongo: response waits: %w", err)
	}
	// Sorted here: FerretDB v1 sorts in memory anyway, and the index serves the filter.
	slices.SortStableFunc(out, func(a, b store.ResponseWait) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.StaffID, b.StaffID)
	})
	return out, nil
}

// NewFollowsByDay reads the follows added in the whole period (staff_id
// and added_at only) and buckets them here: one find, not one per day.
func (db *DB) NewFollowsByDay(ctx context.Context, staffIDs []string, bounds []time.Time) (map[string][]int64, error) {
	out := map[string][]int64{}
	if len(staffIDs) == 0 || len(bounds) < 2 {
		return out, nil
	}
	filter := bson.D{
		{Key: "staff_id", Value: bson.D{{Key: "$in", Value: staffIDs}}},
		{Key: "added_at", Value: bson.D{{Key: "$gte", Value: bounds[0]}, {Key: "$lt", Value: bounds[len(bounds)-1]}}},
	}
	cur, err := db.follows.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "staff_id", Value: 1}, {Key: "added_at", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: new follows by day: %w", err)
	}
	var fs []followDoc
	if err := cur.All(ctx, &fs); err != nil {
		return nil, fmt.Errorf("mongo: new follows by day: %w", err)
	}
	for _, f := range fs {
		i := store.PeriodOf(bounds, f.AddedAt)
		if i < 0 {
			continue
		}
		if out[f.StaffID] == nil {
			out[f.StaffID] = make([]int64, len(bounds)-1)
		}
		out[f.StaffID][i]++
	}
	return out, nil
}

// SentimentByDay walks the customers in touch in the period like
// SentimentCounts, loading only their last contact and label.
func (db *DB) SentimentByDay(ctx context.Context, f store.CustomerFilter, bounds []time.Time) ([]map[string]int64, error) {
	out := store.NewPeriodCounts(len(bounds) - 1)
	if len(bounds) < 2 {
		return out, nil
	}
	f.LastContactAfter, f.LastContactBefore = bounds[0], bounds[len(bounds)-1]
	err := db.eachLabel(ctx, f, func(d *customerDoc, label string) {
		if i := store.PeriodOf(bounds, d.LastContactAt); i >= 0 {
			out[i][label]++
		}
	})
	if err != nil {
		return nil, fmt.Errorf("mongo: sentiment by day: %w", err)
	}
	return out, nil
}

// LostCounts reads the stage kept on the follows (staff_stage), ended
// follows included.
func (db *DB) LostCounts(ctx context.Context, staffIDs []string) (map[string]int64, int64, error) {
	out := map[string]int64{}
	if len(staffIDs) == 0 {
		return out, 0, nil
	}
	cur, err := db.follows.Find(ctx, bson.D{{Key: "staff_id", Value: bson.D{{Key: "$in", Value: staffIDs}}}, {Key: "stage", Value: store.StageLost}},
		options.Find().SetProjection(bson.D{{Key: "staff_id", Value: 1}, {Key: "customer_id", Value: 1}}))
	if err != nil {
		return nil, 0, fmt.Errorf("mongo: lost counts: %w", err)
	}
	var fs []followDoc
	if err := cur.All(ctx, &fs); err != nil {
		return nil, 0, fmt.Errorf("mongo: lost counts: %w", err)
	}
	lost := map[string]bool{}
	for _, f := range fs {
		out[f.StaffID]++
		lost[f.CustomerID] = true
	}
	return out, int64(len(lost)), nil
}

// followedCustomers reads the active follows of staffIDs and, a chunk at a
// time, the customers among them matching filter, projected to what keep
// needs; keep decides each (follow, customer) pair. A join in Go: $lookup
// is beyond the portable subset.
func (db *DB) followedCustomers(ctx context.Context, staffIDs []string, filter bson.D,
	keep func(f followDoc, c *customerDoc) (time.Time, bool)) ([]store.FollowedCustomer, error) {
	if len(staffIDs) == 0 {
		return nil, nil
	}
	cur, err := db.follows.Find(ctx, bson.D{{Key: "staff_id", Value: bson.D{{Key: "$in", Value: staffIDs}}}, {Key: "deleted", Value: false}},
		options.Find().SetProjection(bson.D{{Key: "staff_id", Value: 1}, {Key: "customer_id", Value: 1}}))
	if err != nil {
		return nil, err
	}
	var fs []followDoc
	if err := cur.All(ctx, &fs); err != nil {
		return nil, err
	}
	var out []store.FollowedCustomer
	for chunk := range slices.Chunk(fs, 1000) {
		ids := make([]string, len(chunk))
		for i, f := range chunk {
			ids[i] = f.CustomerID
		}
		q := append(bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, filter...)
		cur, err := db.customers.Find(ctx, q, options.Find().SetProjection(bson.D{{Key: "last_customer_msg_at", Value: 1},
			{Key: "last_staff_touch_at", Value: 1}, {Key: "insight", Value: 1}, {Key: "stage", Value: 1}}))
		if err != nil {
			return nil, err
		}
		var cs []customerDoc
		if err := cur.All(ctx, &cs); err != nil {
			return nil, err
		}
		byID := map[string]*customerDoc{}
		for i := range cs {
			byID[cs[i].ID] = &cs[i]
		}
		for _, f := range chunk {
			if c := byID[f.CustomerID]; c != nil {
				if at, ok := keep(f, c); ok {
					out = append(out, store.FollowedCustomer{StaffID: f.StaffID, CustomerID: f.CustomerID, Since: at})
				}
			}
		}
	}
	return out, nil
}

// WaitingFollows reads the waiting state kept on the follows
// (staff_waiting).
func (db *DB) WaitingFollows(ctx context.Context, staffIDs []string, after time.Time) ([]store.FollowedCustomer, error) {
	if len(staffIDs) == 0 {
		return nil, nil
	}
	cur, err := db.follows.Find(ctx, bson.D{{Key: "staff_id", Value: bson.D{{Key: "$in", Value: staffIDs}}},
		{Key: "waiting_since", Value: bson.D{{Key: "$gte", Value: after}}}, {Key: "deleted", Value: false}},
		options.Find().SetProjection(bson.D{{Key: "staff_id", Value: 1}, {Key: "customer_id", Value: 1}, {Key: "waiting_since", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: waiting follows: %w", err)
	}
	var fs []followDoc
	if err := cur.All(ctx, &fs); err != nil {
		return nil, fmt.Errorf("mongo: waiting follows: %w", err)
	}
	out := make([]store.FollowedCustomer, 0, len(fs))
	for _, f := range fs {
		if f.WaitingSince != nil {
			out = append(out, store.FollowedCustomer{StaffID: f.StaffID, CustomerID: f.CustomerID, Since: utc(*f.WaitingSince)})
		}
	}
	slices.SortFunc(out, func(x, y store.FollowedCustomer) int {
		return cmp.Or(strings.Compare(x.StaffID, y.StaffID), x.Since.Compare(y.Since), strings.Compare(x.CustomerID, y.CustomerID))
	})
	return out, nil
}

// OpenConcerns joins the follows with the customers in touch since after
// whose analysis matches.
func (db *DB) OpenConcerns(ctx context.Context, staffIDs []string, after time.Time) ([]store.FollowedCustomer, error) {
	or := bson.A{bson.D{{Key: "insight.sentiment_label", Value: store.ConcernLabel}}, bson.D{{Key: "insight.intent", Value: store.ConcernIntent}}}
	out, err := db.followedCustomers(ctx, staffIDs, bson.D{{Key: "last_contact_at", Value: bson.D{{Key: "$gte", Value: after}}}, {Key: "$or", Value: or}},
		func(_ followDoc, c *customerDoc) (time.Time, bool) {
			if c.Insight == nil || (c.LastStaffTouchAt != nil && !c.LastStaffTouchAt.Before(c.Insight.AnalyzedAt)) {
				return time.Time{}, false
			}
			return utc(c.Insight.AnalyzedAt), true
		})
	if err != nil {
		return nil, fmt.Errorf("mongo: open concerns: %w", err)
	}
	slices.SortFunc(out, func(x, y store.FollowedCustomer) int {
		return cmp.Or(strings.Compare(x.StaffID, y.StaffID), strings.Compare(x.CustomerID, y.CustomerID))
	})
	return out, nil
}

// StageCounts reads the stage kept on the follows (staff_stage), each
// customer once.
func (db *DB) StageCounts(ctx context.Context, staffIDs []string) (map[string]int64, error) {
	out := map[string]int64{}
	if len(staffIDs) == 0 {
		return out, nil
	}
	cur, err := db.follows.Find(ctx, bson.D{{Key: "staff_id", Value: bson.D{{Key: "$in", Value: staffIDs}}}, {Key: "deleted", Value: false}},
		options.Find().SetProjection(bson.D{{Key: "customer_id", Value: 1}, {Key: "stage", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: stage counts: %w", err)
	}
	var fs []followDoc
	if err := cur.All(ctx, &fs); err != nil {
		return nil, fmt.Errorf("mongo: stage counts: %w", err)
	}
	seen := map[string]bool{}
	for _, f := range fs {
		if !seen[f.CustomerID] {
			seen[f.CustomerID] = true
			out[f.Stage]++
		}
	}
	return out, nil
}
