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

// Each follow carries its customer's stage and "waiting since" (the last
// customer message while it is newer than every staff touch, store.IsWaiting),
// written after every write that can change them (an upsert, an edit of the
// stage, a merge, a follow-up), so that the console's per-member counts read
// the follows alone: FerretDB has no $lookup (docs/architecture.md, invariant
// 3). Without transactions two writers may interleave; each re-reads the
// customer after writing the follows and writes again if it changed since,
// so the follows end at the customer's latest state. A crash between a
// customer's write and this one leaves its follows behind until the
// customer's next write: the counts are statistics, and crashes are rare.

// followState is the state a customer's follows carry.
type followState struct {
	stage   string
	waiting *time.Time
}

func (db *DB) followStateOf(ctx context.Context, cid string) (followState, error) {
	var c customerDoc
	err := db.customers.FindOne(ctx, bson.D{{Key: "_id", Value: cid}}, options.FindOne().SetProjection(bson.D{
		{Key: "stage", Value: 1}, {Key: "last_customer_msg_at", Value: 1}, {Key: "last_staff_touch_at", Value: 1}})).Decode(&c)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return followState{}, store.ErrNotFound
	}
	if err != nil {
		return followState{}, err
	}
	st := followState{stage: c.Stage}
	if docWaiting(&c) {
		w := utc(*c.LastCustomerMsgAt)
		st.waiting = &w
	}
	return st, nil
}

func (s followState) equal(o followState) bool {
	if s.stage != o.stage || (s.waiting == nil) != (o.waiting == nil) {
		return false
	}
	return s.waiting == nil || s.waiting.Equal(*o.waiting)
}

// syncFollows copies customer cid's state onto its follows. A customer that
// no longer exists (merged away, erased) has nothing to copy.
func (db *DB) syncFollows(ctx context.Context, cid string) error {
	st, err := db.followStateOf(ctx, cid)
	for range 5 {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("follow state of %s: %w", cid, err)
		}
		var waiting any
		if st.waiting != nil {
			waiting = *st.waiting
		}
		// Only follows that differ are written: most writes change neither.
		res, err := db.follows.UpdateMany(ctx, bson.D{{Key: "customer_id", Value: cid}, {Key: "$or", Value: bson.A{
			bson.D{{Key: "stage", Value: bson.D{{Key: "$ne", Value: st.stage}}}},
			bson.D{{Key: "waiting_since", Value: bson.D{{Key: "$ne", Value: waiting}}}},
		}}}, bson.D{{Key: "$set", Value: bson.D{{Key: "stage", Value: st.stage}, {Key: "waiting_since", Value: waiting}}}})
		if err != nil {
			return fmt.Errorf("follow state of %s: %w", cid, err)
		}
		if res.ModifiedCount == 0 {
			return nil // nothing was behind, so nothing this writer did can be stale
		}
		again, err2 := db.followStateOf(ctx, cid)
		if err2 == nil && again.equal(st) {
			return nil
		}
		st, err = again, err2
	}
	return nil // still changing: the writer changing it syncs after itself
}

// followStateReady marks a database whose follows all carry their state.
const followStateReady = "follow_state:v1"

// backfillFollowState gives the follows of a database from before the
// follow state their customers' state, once.
func (db *DB) backfillFollowState(ctx context.Context) error {
	done, err := db.GetCursor(ctx, followStateReady)
	if err != nil || done != "" {
		return err
	}
	cur, err := db.follows.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "customer_id", Value: 1}}).
		SetSort(bson.D{{Key: "customer_id", Value: 1}}))
	if err != nil {
		return fmt.Errorf("mongo: backfill follow state: %w", err)
	}
	var fs []followDoc
	if err := cur.All(ctx, &fs); err != nil {
		return fmt.Errorf("mongo: backfill follow state: %w", err)
	}
	last := ""
	for _, f := range fs {
		if f.CustomerID == last {
			continue
		}
		last = f.CustomerID
		if err := db.syncFollows(ctx, f.CustomerID); err != nil {
			return fmt.Errorf("mongo: backfill follow state: %w", err)
		}
	}
	return db.SetCursor(ctx, followStateReady, "done")
}
