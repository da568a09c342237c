package mongo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scrmhq/scrm/store"
)

// errRetry makes UpsertCustomer start over: a concurrent writer changed who
// owns one of the identities.
var errRetry = errors.New("retry")

type customerDoc struct {
	ID                string     `bson:"_id"`
	Name              string     `bson:"name"`
	Avatar            string     `bson:"avatar"`
	Stage             string     `bson:"stage"`
	Tier              string     `bson:"tier"`
	Fields            []kv       `bson:"fields,omitempty"`
	Tags              []string   `bson:"tags"`
	LastCustomerMsgAt *time.Time `bson:"last_customer_msg_at,omitempty"`
	LastStaffTouchAt  *time.Time `bson:"last_staff_touch_at,omitempty"`
	// LastContactAt is the later of the two (the epoch if never), kept at
	// write time with $max because FerretDB cannot compute it in a query.
	LastContactAt time.Time `bson:"last_contact_at"`
	// AwaitingSince is the first customer message no follow-up has answered
	// yet (store.ActivityStore).
	AwaitingSince *time.Time  `bson:"awaiting_since,omitempty"`
	Insight       *insightDoc `bson:"insight,omitempty"`
	CreatedAt     time.Time   `bson:"created_at"`
	UpdatedAt     time.Time   `bson:"updated_at"`
}

type identityDoc struct {
	ID         string `bson:"_id"` // identityKey
	Kind       string `bson:"kind"`
	Value      string `bson:"value"`
	CustomerID string `bson:"customer_id"`
}

// followDoc is one staff member's follow of one customer. Follows live in
// their own collection so that concurrent follows of one customer by
// different staff never write the same document.
type followDoc struct {
	ID         string    `bson:"_id"` // followKey
	CustomerID string    `bson:"customer_id"`
	StaffID    string    `bson:"staff_id"`
	Remark     string    `bson:"remark"`
	State      string    `bson:"state"`
	AddedAt    time.Time `bson:"added_at"`
	Deleted    bool      `bson:"deleted"`
	// The customer's stage and waiting state, kept by syncFollows.
	Stage        string     `bson:"stage"`
	WaitingSince *time.Time `bson:"waiting_since"`
}

type mergeDoc struct {
	ID   string    `bson:"_id"` // the merged-away customer
	Into string    `bson:"into"`
	At   time.Time `bson:"at"`
}

// Kinds never contain ':', so "kind:value" is unambiguous.
func identityKey(id store.Identity) string { return id.Kind + ":" + id.Value }

// Customer IDs have a fixed length, so "customer/staff" is unambiguous.
func followKey(customerID, staffID string) string { return customerID + "/" + staffID }

func newCustomerID() string { return bson.NewObjectID().Hex() }

const maxUpsertRounds = 40

// UpsertCustomer finds or creates the customer owning u's identities, merges
// customers the links join, and applies u. Without transactions, the
// identities collection (unique _id per identity) decides ownership: creating
// a customer starts by inserting its first identity, so concurrent upserts of
// one new identity agree on one customer and the losers retry.
func (db *DB) UpsertCustomer(ctx context.Context, u store.CustomerUpsert) (*store.Customer, error) {
	if u.Identity.Kind == "" || u.Identity.Value == "" {
		return nil, fmt.Errorf("mongo: upsert customer: identity kind and value are required: %w", store.ErrInvalid)
	}
	now := u.Now
	if now.IsZero() {
		now = time.Now()
	}
	ids := u.Identities()
	for round := range maxUpsertRounds {
		c, err := db.upsertOnce(ctx, u, ids, now)
		if errors.Is(err, errRetry) {
			// Jitter so that racing instances stop colliding.
			wait := time.Duration(rand.IntN(1+round)) * time.Millisecond
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("mongo: upsert customer %s: %w", u.Identity.Kind, ctx.Err())
			case <-time.After(wait):
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("mongo: upsert customer %s: %w", u.Identity.Kind, err)
		}
		if err := db.syncFollows(ctx, c.ID); err != nil {
			return nil, fmt.Errorf("mongo: upsert customer %s: %w", u.Identity.Kind, err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("mongo: upsert customer %s: too much contention: %w", u.Identity.Kind, store.ErrConflict)
}

func (db *DB) upsertOnce(ctx context.Context, u store.CustomerUpsert, ids []store.Identity, now time.Time) (*store.Customer, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = identityKey(id)
	}
	cur, err := db.identities.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: keys}}}})
	if err != nil {
		return nil, fmt.Errorf("find identities: %w", err)
	}
	var docs []identityDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("find identities: %w", err)
	}
	mapped := map[string]bool{}
	var owners []string
	for _, d := range docs {
		cid, err := db.resolve(ctx, d.CustomerID, now, true)
		if err != nil {
			return nil, err
		}
		if cid != d.CustomerID {
			// The owner was merged away: point the identity at the survivor.
			if _, err := db.identities.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}, {Key: "customer_id", Value: d.CustomerID}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "customer_id", Value: cid}}}}); err != nil {
				return nil, fmt.Errorf("repoint identity: %w", err)
			}
		}
		mapped[d.ID] = true
		if !slices.Contains(owners, cid) {
			owners = append(owners, cid)
		}
	}
	if len(owners) == 0 {
		cid := newCustomerID()
		if err := db.insertIdentity(ctx, ids[0], cid); err != nil {
			return nil, err
		}
		if err := db.ensureCustomer(ctx, cid, now); err != nil {
			return nil, err
		}
		mapped[keys[0]] = true
		owners = []string{cid}
	}
	target, err := db.oldest(ctx, owners)
	if err != nil {
		return nil, err
	}
	for _, o := range owners {
		if o == target {
			continue
		}
		if err := db.merge(ctx, o, target, now); err != nil {
			return nil, err
		}
	}
	for i, id := range ids {
		if !mapped[keys[i]] {
			if err := db.insertIdentity(ctx, id, target); err != nil {
				return nil, err
			}
		}
	}
	if err := db.apply(ctx, target, u, now); err != nil {
		return nil, err
	}
	// If a concurrent upsert merged target away meanwhile, some of our
	// writes may have landed after the merge moved things: redo the merge and
	// start over on the survivor.
	var m mergeDoc
	if err := db.merges.FindOne(ctx, bson.D{{Key: "_id", Value: target}}).Decode(&m); err == nil {
		if err := db.finishMerge(ctx, target, m.Into); err != nil {
			return nil, err
		}
		return nil, errRetry
	} else if !errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("check merge: %w", err)
	}
	c, err := db.loadOne(ctx, target)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errRetry
	}
	return c, err
}

// insertIdentity claims id for customer cid; errRetry if someone else has it.
func (db *DB) insertIdentity(ctx context.Context, id store.Identity, cid string) error {
	_, err := db.identities.InsertOne(ctx, &identityDoc{ID: identityKey(id), Kind: id.Kind, Value: id.Value, CustomerID: cid})
	if mongo.IsDuplicateKeyError(err) {
		return errRetry
	}
	if err != nil {
		return fmt.Errorf("insert identity %s: %w", id.Kind, err)
	}
	return nil
}

// ensureCustomer creates the customer document unless it exists. A writer
// can get here late: another may have found cid's identity meanwhile, made
// the document and merged cid away, deleting it. The merge is recorded
// before the delete, so a document made after the delete sees the record:
// it would be an orphan with no identities, and is deleted again (errRetry:
// the caller starts over and follows the merge).
func (db *DB) ensureCustomer(ctx context.Context, cid string, now time.Time) error {
	_, err := db.customers.InsertOne(ctx, &customerDoc{ID: cid, Stage: store.StageLead, Tags: []string{}, LastContactAt: epoch,
		CreatedAt: now, UpdatedAt: now})
	if mongo.IsDuplicateKeyError(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create customer: %w", err)
	}
	err = db.merges.FindOne(ctx, bson.D{{Key: "_id", Value: cid}}).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create customer: check merge: %w", err)
	}
	if _, err := db.customers.DeleteOne(ctx, bson.D{{Key: "_id", Value: cid}}); err != nil {
		return fmt.Errorf("create customer: delete merged %s: %w", cid, err)
	}
	return errRetry
}

// resolve follows merge records from cid to the live customer. In the write
// path (heal) it also finishes merges a crashed writer left behind and
// recreates a customer whose identity was inserted by a writer that died
// before creating it; the read path reports ErrNotFound instead.
func (db *DB) resolve(ctx context.Context, cid string, now time.Time, heal bool) (string, error) {
	for range 16 {
		var m mergeDoc
		err := db.merges.FindOne(ctx, bson.D{{Key: "_id", Value: cid}}).Decode(&m)
		if err == nil {
			if heal {
				if err := db.finishMerge(ctx, cid, m.Into); err != nil {
					return "", err
				}
			}
			cid = m.Into
			continue
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return "", fmt.Errorf("find merge of %s: %w", cid, err)
		}
		err = db.customers.FindOne(ctx, bson.D{{Key: "_id", Value: cid}}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
		switch {
		case err == nil:
			return cid, nil
		case !errors.Is(err, mongo.ErrNoDocuments):
			return "", fmt.Errorf("find customer %s: %w", cid, err)
		case !heal:
			return "", store.ErrNotFound
		}
		if err := db.ensureCustomer(ctx, cid, now); err != nil {
			return "", err
		}
		return cid, nil
	}
	return "", fmt.Errorf("merge chain from %s too long", cid)
}

// oldest returns the owner created first (ties: smallest ID): merges always
// go from younger to older, so concurrent merges never run in circles.
func (db *DB) oldest(ctx context.Context, owners []string) (string, error) {
	if len(owners) == 1 {
		return owners[0], nil
	}
	cur, err := db.customers.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: owners}}}},
		options.Find().SetProjection(bson.D{{Key: "created_at", Value: 1}}))
	if err != nil {
		return "", fmt.Errorf("find owners: %w", err)
	}
	var docs []customerDoc
	if err := cur.All(ctx, &docs); err != nil {
		return "", fmt.Errorf("find owners: %w", err)
	}
	if len(docs) != len(owners) {
		return "", errRetry // one was merged away meanwhile
	}
	best := slices.MinFunc(docs, func(a, b customerDoc) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return best.ID, nil
}

// merge records that src merges into dst, then moves src's data. The record
// is inserted first: it makes the decision once, and any writer that later
// finds src's ID redoes the (idempotent) move.
func (db *DB) merge(ctx context.Context, src, dst string, now time.Time) error {
	if err := db.claimMergePair(ctx, src, dst, now); err != nil {
		return err
	}
	if err := db.recordMerge(ctx, src, dst, now); err != nil {
		return err
	}
	return db.syncFollows(ctx, dst) // the moved follows carried src's state
}

// recordMerge is merge once the pair's direction is settled.
func (db *DB) recordMerge(ctx context.Context, src, dst string, now time.Time) error {
	_, err := db.merges.InsertOne(ctx, &mergeDoc{ID: src, Into: dst, At: now})
	if mongo.IsDuplicateKeyError(err) {
		var m mergeDoc
		if err := db.merges.FindOne(ctx, bson.D{{Key: "_id", Value: src}}).Decode(&m); err != nil {
			return fmt.Errorf("read merge of %s: %w", src, err)
		}
		if m.Into != dst {
			return errRetry
		}
	} else if err != nil {
		return fmt.Errorf("record merge of %s: %w", src, err)
	}
	return db.finishMerge(ctx, src, dst)
}

// finishMerge moves identities, follows, tags, fields and timeline entries
// of src to dst and deletes src. Every step is idempotent.
func (db *DB) finishMerge(ctx context.Context, src, dst string) error {
	if _, err := db.identities.UpdateMany(ctx, bson.D{{Key: "customer_id", Value: src}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "customer_id", Value: dst}}}}); err != nil {
		return fmt.Errorf("merge %s: move identities: %w", src, err)
	}
	var s customerDoc
	err := db.customers.FindOne(ctx, bson.D{{Key: "_id", Value: src}}).Decode(&s)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
	case err != nil:
		return fmt.Errorf("merge %s: read: %w", src, err)
	default:
		if err := db.mergeFields(ctx, &s, dst); err != nil {
			return fmt.Errorf("merge %s: %w", src, err)
		}
	}
	if err := db.mergeFollows(ctx, src, dst); err != nil {
		return fmt.Errorf("merge %s: %w", src, err)
	}
	if _, err := db.timeline.UpdateMany(ctx, bson.D{{Key: "customer_id", Value: src}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "customer_id", Value: dst}}}}); err != nil {
		return fmt.Errorf("merge %s: move timeline: %w", src, err)
	}
	if _, err := db.crm.reminders.UpdateMany(ctx, bson.D{{Key: "customer_id", Value: src}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "customer_id", Value: dst}}}}); err != nil {
		return fmt.Errorf("merge %s: move reminders: %w", src, err)
	}
	if _, err := db.customers.DeleteOne(ctx, bson.D{{Key: "_id", Value: src}}); err != nil {
		return fmt.Errorf("merge %s: delete: %w", src, err)
	}
	// A follow written to src while it was being moved (FerretDB runs an
	// upsert as read-then-write, so it can land after the listing above)
	// would be stranded on a deleted customer: move stragglers until none
	// are left. On MongoDB this almost always finds nothing.
	for range 8 {
		n, err := db.follows.CountDocuments(ctx, bson.D{{Key: "customer_id", Value: src}})
		if err != nil {
			return fmt.Errorf("merge %s: count follows: %w", src, err)
		}
		if n == 0 {
			break
		}
		if err := db.mergeFollows(ctx, src, dst); err != nil {
			return fmt.Errorf("merge %s: %w", src, err)
		}
	}
	return nil
}

// mergeFields folds s into dst: dst keeps its values, s fills the blanks,
// tags are united and times take the extremes.
func (db *DB) mergeFields(ctx context.Context, s *customerDoc, dst string) error {
	maxes := bson.D{{Key: "updated_at", Value: s.UpdatedAt}, {Key: "last_contact_at", Value: s.lastContact()}}
	if s.LastCustomerMsgAt != nil {
		maxes = append(maxes, bson.E{Key: "last_customer_msg_at", Value: *s.LastCustomerMsgAt})
	}
	if s.LastStaffTouchAt != nil {
		maxes = append(maxes, bson.E{Key: "last_staff_touch_at", Value: *s.LastStaffTouchAt})
	}
	mins := bson.D{{Key: "created_at", Value: s.CreatedAt}}
	if s.AwaitingSince != nil {
		mins = append(mins, bson.E{Key: "awaiting_since", Value: *s.AwaitingSince})
	}
	upd := bson.D{
		{Key: "$max", Value: maxes},
		{Key: "$min", Value: mins},
	}
	if len(s.Tags) > 0 {
		upd = append(upd, bson.E{Key: "$addToSet", Value: bson.D{{Key: "tags", Value: bson.D{{Key: "$each", Value: s.Tags}}}}})
	}
	if _, err := db.customers.UpdateOne(ctx, bson.D{{Key: "_id", Value: dst}}, upd); err != nil {
		return fmt.Errorf("fold into %s: %w", dst, err)
	}
	if s.Insight != nil {
		if _, err := db.customers.UpdateOne(ctx, bson.D{{Key: "_id", Value: dst}, {Key: "insight", Value: bson.D{{Key: "$exists", Value: false}}}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "insight", Value: s.Insight}}}}); err != nil {
			return fmt.Errorf("fill insight of %s: %w", dst, err)
		}
	}
	// Each blank is filled only if still blank, so a concurrent set wins.
	for _, f := range []struct{ field, value string }{{"name", s.Name}, {"avatar", s.Avatar}, {"tier", s.Tier}} {
		if f.value == "" {
			continue
		}
		if _, err := db.customers.UpdateOne(ctx, bson.D{{Key: "_id", Value: dst}, {Key: f.field, Value: ""}},
			bson.D{{Key: "$set", Value: bson.D{{Key: f.field, Value: f.value}}}}); err != nil {
			return fmt.Errorf("fill %s of %s: %w", f.field, dst, err)
		}
	}
	if len(s.Fields) > 0 {
		var d customerDoc
		if err := db.customers.FindOne(ctx, bson.D{{Key: "_id", Value: dst}}).Decode(&d); err != nil {
			return fmt.Errorf("read %s: %w", dst, err)
		}
		fields := fromKVs(s.Fields)
		for k, v := range fromKVs(d.Fields) {
			fields[k] = v
		}
		if _, err := db.customers.UpdateOne(ctx, bson.D{{Key: "_id", Value: dst}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "fields", Value: toKVs(fields)}}}}); err != nil {
			return fmt.Errorf("merge fields into %s: %w", dst, err)
		}
	}
	return nil
}

// mergeFollows moves src's follows to dst. A staff member following both
// keeps one follow: active if either is, the earlier add time, and the remark
// and state dst lacks.
func (db *DB) mergeFollows(ctx context.Context, src, dst string) error {
	cur, err := db.follows.Find(ctx, bson.D{{Key: "customer_id", Value: src}})
	if err != nil {
		return fmt.Errorf("find follows: %w", err)
	}
	var list []followDoc
	if err := cur.All(ctx, &list); err != nil {
		return fmt.Errorf("find follows: %w", err)
	}
	for _, f := range list {
		key := followKey(dst, f.StaffID)
		for attempt := 0; ; attempt++ {
			var d followDoc
			err := db.follows.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&d)
			if errors.Is(err, mongo.ErrNoDocuments) {
				moved := f
				moved.ID, moved.CustomerID = key, dst
				_, err = db.follows.InsertOne(ctx, &moved)
				if mongo.IsDuplicateKeyError(err) && attempt < 3 {
					continue // a concurrent writer added it; merge into theirs
				}
				if err != nil {
					return fmt.Errorf("move follow: %w", err)
				}
				break
			}
			if err != nil {
				return fmt.Errorf("read follow: %w", err)
			}
			set := bson.D{{Key: "deleted", Value: d.Deleted && f.Deleted}}
			if d.Remark == "" && f.Remark != "" {
				set = append(set, bson.E{Key: "remark", Value: f.Remark})
			}
			if d.State == "" && f.State != "" {
				set = append(set, bson.E{Key: "state", Value: f.State})
			}
			if f.AddedAt.Before(d.AddedAt) {
				set = append(set, bson.E{Key: "added_at", Value: f.AddedAt})
			}
			if _, err := db.follows.UpdateOne(ctx, bson.D{{Key: "_id", Value: key}}, bson.D{{Key: "$set", Value: set}}); err != nil {
				return fmt.Errorf("merge follow: %w", err)
			}
			break
		}
		if _, err := db.follows.DeleteOne(ctx, bson.D{{Key: "_id", Value: f.ID}}); err != nil {
			return fmt.Errorf("drop moved follow: %w", err)
		}
	}
	return nil
}

// apply writes u's fields to customer cid with update operators only, so
// writes of different fields never overwrite each other on MongoDB.
func (db *DB) apply(ctx context.Context, cid string, u store.CustomerUpsert, now time.Time) error {
	set := bson.D{}
	for _, f := range []struct{ field, value string }{{"name", u.Name}, {"avatar", u.Avatar}, {"stage", u.Stage}} {
		if f.value != "" {
			set = append(set, bson.E{Key: f.field, Value: f.value})
		}
	}
	maxes := bson.D{{Key: "updated_at", Value: now}}
	if !u.CustomerAt.IsZero() {
		maxes = append(maxes, bson.E{Key: "last_customer_msg_at", Value: u.CustomerAt})
	}
	if !u.StaffAt.IsZero() {
		maxes = append(maxes, bson.E{Key: "last_staff_touch_at", Value: u.StaffAt})
	}
	if !u.CustomerAt.IsZero() || !u.StaffAt.IsZero() {
		maxes = append(maxes, bson.E{Key: "last_contact_at", Value: laterOf(u.CustomerAt, u.StaffAt)})
	}
	upd := bson.D{{Key: "$max", Value: maxes}}
	if len(set) > 0 {
		upd = append(upd, bson.E{Key: "$set", Value: set})
	}
	var add []string
	for _, t := range u.AddTags {
		if t != "" && !slices.Contains(add, t) {
			add = append(add, t)
		}
	}
	if len(add) > 0 {
		upd = append(upd, bson.E{Key: "$addToSet", Value: bson.D{{Key: "tags", Value: bson.D{{Key: "$each", Value: add}}}}})
	}
	res, err := db.customers.UpdateOne(ctx, bson.D{{Key: "_id", Value: cid}}, upd)
	if err != nil {
		return fmt.Errorf("update customer: %w", err)
	}
	if res.MatchedCount == 0 {
		return errRetry // merged away and deleted meanwhile
	}
	if len(u.RemoveTags) > 0 {
		if _, err := db.customers.UpdateOne(ctx, bson.D{{Key: "_id", Value: cid}},
			bson.D{{Key: "$pullAll", Value: bson.D{{Key: "tags", Value: u.RemoveTags}}}}); err != nil {
			return fmt.Errorf("remove tags: %w", err)
		}
	}
	if f := u.Follow; f != nil && f.StaffID != "" {
		// Empty remark/state and a zero add time keep what is stored.
		set := bson.D{{Key: "customer_id", Value: cid}, {Key: "staff_id", Value: f.StaffID}, {Key: "deleted", Value: f.Deleted}}
		onInsert := bson.D{}
		for _, x := range []struct{ field, value string }{{"remark", f.Remark}, {"state", f.State}} {
			if x.value != "" {
				set = append(set, bson.E{Key: x.field, Value: x.value})
			} else {
				onInsert = append(onInsert, bson.E{Key: x.field, Value: ""})
			}
		}
		if f.AddedAt.IsZero() {
			onInsert = append(onInsert, bson.E{Key: "added_at", Value: now})
		} else {
			set = append(set, bson.E{Key: "added_at", Value: f.AddedAt})
		}
		upd := bson.D{{Key: "$set", Value: set}}
		if len(onInsert) > 0 {
			upd = append(upd, bson.E{Key: "$setOnInsert", Value: onInsert})
		}
		err := retryDup(func() error {
			_, err := db.follows.UpdateOne(ctx, bson.D{{Key: "_id", Value: followKey(cid, f.StaffID)}}, upd, options.UpdateOne().SetUpsert(true))
			return err
		})
		if err != nil {
			return fmt.Errorf("follow %s: %w", f.StaffID, err)
		}
	}
	if u.Unfollow != "" {
		if _, err := db.follows.UpdateOne(ctx, bson.D{{Key: "_id", Value: followKey(cid, u.Unfollow)}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "deleted", Value: true}}}}); err != nil {
			return fmt.Errorf("unfollow %s: %w", u.Unfollow, err)
		}
	}
	return nil
}

// FindCustomerByID returns ErrNotFound if the customer does not exist.
func (db *DB) FindCustomerByID(ctx context.Context, id string) (*store.Customer, error) {
	c, err := db.loadOne(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("mongo: find customer %q: %w", id, err)
	}
	return c, nil
}

// FindCustomerByIdentity returns ErrNotFound if no customer has the identity.
func (db *DB) FindCustomerByIdentity(ctx context.Context, id store.Identity) (*store.Customer, error) {
	var d identityDoc
	err := db.identities.FindOne(ctx, bson.D{{Key: "_id", Value: identityKey(id)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("mongo: find customer by %s: %w", id.Kind, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: find customer by %s: %w", id.Kind, err)
	}
	cid, err := db.resolve(ctx, d.CustomerID, time.Time{}, false)
	if err != nil {
		return nil, fmt.Errorf("mongo: find customer by %s: %w", id.Kind, err)
	}
	c, err := db.loadOne(ctx, cid)
	if err != nil {
		return nil, fmt.Errorf("mongo: find customer by %s: %w", id.Kind, err)
	}
	return c, nil
}

func (db *DB) loadOne(ctx context.Context, id string) (*store.Customer, error) {
	var d customerDoc
	err := db.customers.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	list, err := db.hydrate(ctx, []customerDoc{d})
	if err != nil {
		return nil, err
	}
	return list[0], nil
}

// hydrate turns customer documents into customers with their identities and
// follows, two queries for the whole page.
func (db *DB) hydrate(ctx context.Context, docs []customerDoc) ([]*store.Customer, error) {
	if len(docs) == 0 {
		return nil, nil
	}
	byID := make(map[string]*store.Customer, len(docs))
	ids := make([]string, len(docs))
	out := make([]*store.Customer, len(docs))
	for i, d := range docs {
		tags := slices.Clone(d.Tags)
		if tags == nil {
			tags = []string{}
		}
		sort.Strings(tags)
		c := &store.Customer{
			ID: d.ID, Name: d.Name, Avatar: d.Avatar, Stage: d.Stage, Tier: d.Tier, Fields: fromKVs(d.Fields),
			Tags: tags, Identities: []store.Identity{}, Follows: []store.Follow{},
			LastCustomerMsgAt: utcPtr(d.LastCustomerMsgAt), LastStaffTouchAt: utcPtr(d.LastStaffTouchAt),
			Insight: d.Insight.insight(), CreatedAt: utc(d.CreatedAt), UpdatedAt: utc(d.UpdatedAt),
		}
		out[i], byID[d.ID], ids[i] = c, c, d.ID
	}
	in := bson.D{{Key: "customer_id", Value: bson.D{{Key: "$in", Value: ids}}}}
	cur, err := db.identities.Find(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("load identities: %w", err)
	}
	var idDocs []identityDoc
	if err := cur.All(ctx, &idDocs); err != nil {
		return nil, fmt.Errorf("load identities: %w", err)
	}
	for _, d := range idDocs {
		c := byID[d.CustomerID]
		c.Identities = append(c.Identities, store.Identity{Kind: d.Kind, Value: d.Value})
	}
	cur, err = db.follows.Find(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("load follows: %w", err)
	}
	var fDocs []followDoc
	if err := cur.All(ctx, &fDocs); err != nil {
		return nil, fmt.Errorf("load follows: %w", err)
	}
	for _, d := range fDocs {
		c := byID[d.CustomerID]
		c.Follows = append(c.Follows, store.Follow{StaffID: d.StaffID, Remark: d.Remark, State: d.State, AddedAt: utc(d.AddedAt), Deleted: d.Deleted})
	}
	for _, c := range out {
		slices.SortFunc(c.Identities, func(a, b store.Identity) int {
			return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Value, b.Value))
		})
		slices.SortFunc(c.Follows, func(a, b store.Follow) int { return cmp.Compare(a.StaffID, b.StaffID) })
	}
	return out, nil
}
