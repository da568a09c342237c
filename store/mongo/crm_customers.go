package mongo

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scrmhq/scrm/store"
)

// Collections of the CRM records (store/crm.go).
const (
	collMergePairs = "customer_merge_pairs" // _id "<a>|<b>": which way a pair of customers merges
	collStaff      = "staff"
	collTags       = "tags"
	collReminders  = "reminders"
	collJobs       = "job_schedules" // one document per ScheduleJob not yet completed
	collLeases     = "leases"        // one document per lease generation of a reminder or job
	collAudit      = "audit"
)

type crmCollections struct {
	mergePairs, staff, tags, reminders, jobs, leases, audit *mongo.Collection
}

func newCRMCollections(d *mongo.Database) crmCollections {
	return crmCollections{
		mergePairs: d.Collection(collMergePairs),
		staff:      d.Collection(collStaff),
		tags:       d.Collection(collTags),
		reminders:  d.Collection(collReminders),
		jobs:       d.Collection(collJobs),
		leases:     d.Collection(collLeases),
		audit:      d.Collection(collAudit),
	}
}

// prepareCRM creates the CRM indexes and fills last_contact_at in customer
// documents written before it existed.
func (db *DB) prepareCRM(ctx context.Context) error {
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
		{db.customers, []mongo.IndexModel{
			plain("last_contact_id", bson.D{{Key: "last_contact_at", Value: 1}, {Key: "_id", Value: 1}}),
		}},
		{db.crm.reminders, []mongo.IndexModel{
			unique("key", bson.D{{Key: "key", Value: 1}}),
			plain("due", bson.D{{Key: "status", Value: 1}, {Key: "due_at", Value: 1}, {Key: "_id", Value: 1}}),
			plain("staff_due", bson.D{{Key: "staff_id", Value: 1}, {Key: "due_at", Value: 1}, {Key: "_id", Value: 1}}),
			plain("customer_due", bson.D{{Key: "customer_id", Value: 1}, {Key: "due_at", Value: 1}, {Key: "_id", Value: 1}}),
		}},
		{db.crm.jobs, []mongo.IndexModel{
			plain("key_seq", bson.D{{Key: "key", Value: 1}, {Key: "seq", Value: -1}}),
			plain("kind_due", bson.D{{Key: "kind", Value: 1}, {Key: "due_at", Value: 1}}),
		}},
		{db.crm.leases, []mongo.IndexModel{
			plain("subject_gen", bson.D{{Key: "subject", Value: 1}, {Key: "gen", Value: -1}}),
		}},
		{db.crm.tags, []mongo.IndexModel{
			plain("order", bson.D{{Key: "deleted", Value: 1}, {Key: "group_id", Value: 1}, {Key: "order", Value: -1}, {Key: "_id", Value: 1}}),
		}},
		{db.crm.audit, []mongo.IndexModel{
			plain("target_id", bson.D{{Key: "target", Value: 1}, {Key: "_id", Value: -1}}),
			plain("action_at", bson.D{{Key: "action", Value: 1}, {Key: "at", Value: 1}}),
		}},
	}
	for _, ix := range indexes {
		if err := createMissingIndexes(ctx, ix.coll, ix.models); err != nil {
			return err
		}
	}
	cur, err := db.customers.Find(ctx, bson.D{{Key: "last_contact_at", Value: bson.D{{Key: "$exists", Value: false}}}})
	if err != nil {
		return fmt.Errorf("mongo: backfill last contact: %w", err)
	}
	var docs []customerDoc
	if err := cur.All(ctx, &docs); err != nil {
		return fmt.Errorf("mongo: backfill last contact: %w", err)
	}
	for _, d := range docs {
		if _, err := db.customers.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}},
			bson.D{{Key: "$max", Value: bson.D{{Key: "last_contact_at", Value: d.lastContact()}}}}); err != nil {
			return fmt.Errorf("mongo: backfill last contact of %s: %w", d.ID, err)
		}
	}
	return nil
}

// createMissingIndexes creates the indexes of models that coll lacks, by
// name. Instances that start while others run then only read the index
// list: FerretDB v1 can fail a createIndexes that races queries on the
// same collection, and on MongoDB a no-op createIndexes still takes locks.
func createMissingIndexes(ctx context.Context, coll *mongo.Collection, models []mongo.IndexModel) error {
	specs, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		return fmt.Errorf("mongo: list indexes of %s: %w", coll.Name(), err)
	}
	var missing []mongo.IndexModel
	for _, m := range models {
		var o options.IndexOptions
		if m.Options != nil {
			for _, set := range m.Options.Opts {
				if err := set(&o); err != nil {
					return fmt.Errorf("mongo: index options: %w", err)
				}
			}
		}
		if o.Name == nil || !slices.ContainsFunc(specs, func(s mongo.IndexSpecification) bool { return s.Name == *o.Name }) {
			missing = append(missing, m)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := coll.Indexes().CreateMany(ctx, missing); err != nil {
		return fmt.Errorf("mongo: create indexes on %s: %w", coll.Name(), err)
	}
	return nil
}

// epoch stands for "never" in date fields that queries compare: it is
// last_contact_at of a customer never contacted and free_at of a lease
// that is free, and unlike a missing field it works with ranges and $max.
var epoch = time.Unix(0, 0).UTC()

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// lastContact computes what last_contact_at must be from the two times.
func (d *customerDoc) lastContact() time.Time {
	t := epoch
	for _, p := range []*time.Time{d.LastCustomerMsgAt, d.LastStaffTouchAt} {
		if p != nil {
			t = laterOf(t, *p)
		}
	}
	return t
}

// insightDoc is store.Insight with stable field names.
type insightDoc struct {
	Summary        string    `bson:"summary"`
	SentimentLabel string    `bson:"sentiment_label"`
	SentimentScore float64   `bson:"sentiment_score"`
	SentimentTrend float64   `bson:"sentiment_trend"`
	Intent         string    `bson:"intent"`
	Model          string    `bson:"model"`
	AnalyzedAt     time.Time `bson:"analyzed_at"`
	Through        int64     `bson:"through"`
}

func toInsightDoc(in *store.Insight) *insightDoc {
	if in == nil {
		return nil
	}
	return &insightDoc{Summary: in.Summary, SentimentLabel: in.SentimentLabel, SentimentScore: in.SentimentScore,
		SentimentTrend: in.SentimentTrend, Intent: in.Intent, Model: in.Model, AnalyzedAt: in.AnalyzedAt, Through: in.Through}
}

func (d *insightDoc) insight() *store.Insight {
	if d == nil {
		return nil
	}
	return &store.Insight{Summary: d.Summary, SentimentLabel: d.SentimentLabel, SentimentScore: d.SentimentScore,
		SentimentTrend: d.SentimentTrend, Intent: d.Intent, Model: d.Model, AnalyzedAt: utc(d.AnalyzedAt), Through: d.Through}
}

// mergePairDoc decides which way two customers merge. Merges found through
// shared identities always go from younger to older, but an explicit
// MergeCustomers may go the other way; without this record, two opposite
// merges of one pair could both proceed and each delete the other.
type mergePairDoc struct {
	ID   string `bson:"_id"`
	From string `bson:"from"`
	Into string `bson:"into"`
}

func mergePairID(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return a + "|" + b
}

// claimMergePair records that src merges into dst. If the pair was already
// decided the other way, it carries out that merge (its decider may have
// died before doing so) and returns errRetry: the caller starts over from
// the survivor.
func (db *DB) claimMergePair(ctx context.Context, src, dst string, now time.Time) error {
	_, err := db.crm.mergePairs.InsertOne(ctx, &mergePairDoc{ID: mergePairID(src, dst), From: src, Into: dst})
	if err == nil {
		return nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("record merge pair: %w", err)
	}
	var p mergePairDoc
	if err := db.crm.mergePairs.FindOne(ctx, bson.D{{Key: "_id", Value: mergePairID(src, dst)}}).Decode(&p); err != nil {
		return fmt.Errorf("read merge pair: %w", err)
	}
	if p.From == src {
		return nil
	}
	if err := db.recordMerge(ctx, p.From, p.Into, now); err != nil && !errors.Is(err, errRetry) {
		return err
	}
	return errRetry
}

// customerFilter is the part of f that customer documents answer.
func customerFilter(f store.CustomerFilter) bson.D {
	filter := bson.D{}
	if f.Stage != "" {
		filter = append(filter, bson.E{Key: "stage", Value: f.Stage})
	}
	if f.Tag != "" {
		filter = append(filter, bson.E{Key: "tags", Value: f.Tag})
	}
	if f.Sentiment != "" {
		filter = append(filter, bson.E{Key: "insight.sentiment_label", Value: f.Sentiment})
	}
	if f.Waiting {
		// The rest of store.IsWaiting compares two fields, which needs
		// $expr (beyond the portable subset): matchWaiting checks it on
		// the documents read.
		filter = append(filter, bson.E{Key: "last_customer_msg_at", Value: bson.D{{Key: "$ne", Value: nil}}})
	}
	if f.Query != "" {
		filter = append(filter, bson.E{Key: "name", Value: bson.Regex{Pattern: regexp.QuoteMeta(f.Query), Options: "i"}})
	}
	contact := bson.D{}
	if !f.LastContactBefore.IsZero() {
		contact = append(contact, bson.E{Key: "$lt", Value: f.LastContactBefore})
	}
	if !f.LastContactAfter.IsZero() {
		contact = append(contact, bson.E{Key: "$gte", Value: f.LastContactAfter})
	}
	if len(contact) > 0 {
		filter = append(filter, bson.E{Key: "last_contact_at", Value: contact})
	}
	return filter
}

// staffScope returns the staff IDs whose follows drive the query: the one
// staff member if set, else the team. The team is also returned to check
// per customer when both are set. none reports an empty team.
func staffScope(f store.CustomerFilter) (drive, check []string, none bool) {
	if f.StaffIDs != nil && len(f.StaffIDs) == 0 {
		return nil, nil, true
	}
	team := slices.Compact(slices.Sorted(slices.Values(f.StaffIDs)))
	if f.StaffID != "" {
		return []string{f.StaffID}, team, false
	}
	return team, nil, false
}

// FindCustomers returns customers matching f ordered by ID. A staff or team
// filter walks those staff members' follows (indexed by staff and customer)
// and checks the other filters on the customers of each chunk.
func (db *DB) FindCustomers(ctx context.Context, f store.CustomerFilter) ([]*store.Customer, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	drive, check, none := staffScope(f)
	if none {
		return nil, nil
	}
	filter := customerFilter(f)
	var docs []customerDoc
	if len(drive) == 0 {
		after := f.AfterID
		for {
			page := filter
			if after != "" {
				page = append(bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}}}, filter...)
			}
			want := limit - len(docs)
			cur, err := db.customers.Find(ctx, page, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(want)))
			if err != nil {
				return nil, fmt.Errorf("mongo: find customers: %w", err)
			}
			var cs []customerDoc
			if err := cur.All(ctx, &cs); err != nil {
				return nil, fmt.Errorf("mongo: find customers: %w", err)
			}
			docs = append(docs, keepMatching(f, cs)...)
			if len(cs) < want || len(docs) >= limit {
				break
			}
			after = cs[len(cs)-1].ID
		}
	} else {
		err := db.walkFollowed(ctx, drive, check, f.AfterID, max(limit, 100), func(ids []string) (bool, error) {
			cf := append(bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, filter...)
			cur, err := db.customers.Find(ctx, cf, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit-len(docs))))
			if err != nil {
				return false, err
			}
			var cs []customerDoc
			if err := cur.All(ctx, &cs); err != nil {
				return false, err
			}
			docs = append(docs, keepMatching(f, cs)...)
			return len(docs) < limit, nil
		})
		if err != nil {
			return nil, fmt.Errorf("mongo: find customers of %v: %w", drive, err)
		}
	}
	list, err := db.hydrate(ctx, docs)
	if err != nil {
		return nil, fmt.Errorf("mongo: find customers: %w", err)
	}
	return list, nil
}

// CountCustomers counts customers matching f, ignoring AfterID and Limit.
func (db *DB) CountCustomers(ctx context.Context, f store.CustomerFilter) (int64, error) {
	drive, check, none := staffScope(f)
	if none {
		return 0, nil
	}
	filter := customerFilter(f)
	if f.Waiting {
		return db.countWaiting(ctx, f, filter, drive, check)
	}
	if len(drive) == 0 {
		n, err := db.customers.CountDocuments(ctx, filter)
		if err != nil {
			return 0, fmt.Errorf("mongo: count customers: %w", err)
		}
		return n, nil
	}
	var n int64
	err := db.walkFollowed(ctx, drive, check, "", 1000, func(ids []string) (bool, error) {
		k, err := db.customers.CountDocuments(ctx, append(bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, filter...))
		n += k
		return true, err
	})
	if err != nil {
		return 0, fmt.Errorf("mongo: count customers of %v: %w", drive, err)
	}
	return n, nil
}

// keepMatching drops the documents that fail what customerFilter could not
// ask the database: the waiting test.
func keepMatching(f store.CustomerFilter, cs []customerDoc) []customerDoc {
	if !f.Waiting {
		return cs
	}
	return slices.DeleteFunc(cs, func(c customerDoc) bool { return !docWaiting(&c) })
}

// docWaiting is store.IsWaiting on a document.
func docWaiting(c *customerDoc) bool {
	return c.LastCustomerMsgAt != nil && (c.LastStaffTouchAt == nil || c.LastStaffTouchAt.Before(*c.LastCustomerMsgAt))
}

// countWaiting counts the waiting customers matching filter by reading
// their two contact times.
func (db *DB) countWaiting(ctx context.Context, f store.CustomerFilter, filter bson.D, drive, check []string) (int64, error) {
	proj := options.Find().SetProjection(bson.D{{Key: "last_customer_msg_at", Value: 1}, {Key: "last_staff_touch_at", Value: 1}})
	var n int64
	count := func(q bson.D) error {
		cur, err := db.customers.Find(ctx, q, proj)
		if err != nil {
			return err
		}
		var cs []customerDoc
		if err := cur.All(ctx, &cs); err != nil {
			return err
		}
		n += int64(len(keepMatching(f, cs)))
		return nil
	}
	var err error
	if len(drive) == 0 {
		err = count(filter)
	} else {
		err = db.walkFollowed(ctx, drive, check, "", 1000, func(ids []string) (bool, error) {
			return true, count(append(bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, filter...))
		})
	}
	if err != nil {
		return 0, fmt.Errorf("mongo: count waiting customers: %w", err)
	}
	return n, nil
}

// walkFollowed calls fn with chunks of the IDs, in order and without
// repeats, of customers after `after` that any of staff actively follows
// (and, when check is set, any of check too), until fn returns false.
func (db *DB) walkFollowed(ctx context.Context, staff, check []string, after string, chunk int, fn func(ids []string) (bool, error)) error {
	for {
		ff := bson.D{{Key: "staff_id", Value: bson.D{{Key: "$in", Value: staff}}}, {Key: "deleted", Value: false}}
		if after != "" {
			ff = append(ff, bson.E{Key: "customer_id", Value: bson.D{{Key: "$gt", Value: after}}})
		}
		cur, err := db.follows.Find(ctx, ff, options.Find().SetSort(bson.D{{Key: "customer_id", Value: 1}}).
			SetLimit(int64(chunk)).SetProjection(bson.D{{Key: "customer_id", Value: 1}}))
		if err != nil {
			return err
		}
		var fs []followDoc
		if err := cur.All(ctx, &fs); err != nil {
			return err
		}
		if len(fs) == 0 {
			return nil
		}
		var ids []string
		for _, f := range fs {
			if len(ids) == 0 || ids[len(ids)-1] != f.CustomerID {
				ids = append(ids, f.CustomerID)
			}
		}
		last := fs[len(fs)-1].CustomerID
		if len(check) > 0 {
			if ids, err = db.followedBy(ctx, ids, check); err != nil {
				return err
			}
		}
		if len(ids) > 0 {
			more, err := fn(ids)
			if err != nil || !more {
				return err
			}
		}
		if len(fs) < chunk {
			return nil
		}
		after = last
	}
}

// followedBy keeps the IDs that any of staff actively follows, in order.
func (db *DB) followedBy(ctx context.Context, ids, staff []string) ([]string, error) {
	cur, err := db.follows.Find(ctx, bson.D{{Key: "customer_id", Value: bson.D{{Key: "$in", Value: ids}}},
		{Key: "staff_id", Value: bson.D{{Key: "$in", Value: staff}}}, {Key: "deleted", Value: false}},
		options.Find().SetProjection(bson.D{{Key: "customer_id", Value: 1}}))
	if err != nil {
		return nil, err
	}
	var fs []followDoc
	if err := cur.All(ctx, &fs); err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for _, f := range fs {
		keep[f.CustomerID] = true
	}
	return slices.DeleteFunc(ids, func(id string) bool { return !keep[id] }), nil
}

// UpdateCustomer applies upd with update operators. Identities are checked
// before anything is written, so a conflict changes nothing. A merged-away
// ID resolves to the survivor.
func (db *DB) UpdateCustomer(ctx context.Context, id string, upd store.CustomerUpdate) (*store.Customer, error) {
	if upd.Stage != nil && *upd.Stage == "" {
		return nil, fmt.Errorf("mongo: update customer %s: empty stage: %w", id, store.ErrInvalid)
	}
	for _, ident := range upd.AddIdentities {
		if err := store.ValidIdentity(ident); err != nil {
			return nil, fmt.Errorf("mongo: update customer %s: %w", id, err)
		}
	}
	now := upd.Now
	if now.IsZero() {
		now = time.Now()
	}
	c, err := db.updateCustomer(ctx, id, upd, now)
	if err != nil {
		return nil, fmt.Errorf("mongo: update customer %s: %w", id, err)
	}
	if upd.Stage != nil {
		if err := db.syncFollows(ctx, c.ID); err != nil {
			return nil, fmt.Errorf("mongo: update customer %s: %w", id, err)
		}
	}
	return c, nil
}

func (db *DB) updateCustomer(ctx context.Context, id string, upd store.CustomerUpdate, now time.Time) (*store.Customer, error) {
	cid, err := db.resolve(ctx, id, time.Time{}, false)
	if err != nil {
		return nil, err
	}
	var missing []store.Identity
	for _, ident := range upd.AddIdentities {
		owner, err := db.identityOwner(ctx, ident)
		switch {
		case err != nil:
			return nil, err
		case owner == "":
			missing = append(missing, ident)
		case owner != cid:
			return nil, fmt.Errorf("identity %s belongs to another customer: %w", ident.Kind, store.ErrConflict)
		}
	}
	for _, ident := range missing {
		if err := db.insertIdentity(ctx, ident, cid); errors.Is(err, errRetry) {
			// Taken meanwhile: fine only if it was taken for this customer.
			if owner, err := db.identityOwner(ctx, ident); err != nil {
				return nil, err
			} else if owner != cid {
				return nil, fmt.Errorf("identity %s belongs to another customer: %w", ident.Kind, store.ErrConflict)
			}
		} else if err != nil {
			return nil, err
		}
	}
	set := bson.D{}
	for _, f := range []struct {
		field string
		value *string
	}{{"name", upd.Name}, {"stage", upd.Stage}, {"tier", upd.Tier}} {
		if f.value != nil {
			set = append(set, bson.E{Key: f.field, Value: *f.value})
		}
	}
	if upd.Insight != nil {
		set = append(set, bson.E{Key: "insight", Value: toInsightDoc(upd.Insight)})
	}
	u := bson.D{{Key: "$max", Value: bson.D{{Key: "updated_at", Value: now}}}}
	if len(set) > 0 {
		u = append(u, bson.E{Key: "$set", Value: set})
	}
	var add []string
	for _, t := range upd.AddTags {
		if t != "" && !slices.Contains(add, t) {
			add = append(add, t)
		}
	}
	if len(add) > 0 {
		u = append(u, bson.E{Key: "$addToSet", Value: bson.D{{Key: "tags", Value: bson.D{{Key: "$each", Value: add}}}}})
	}
	res, err := db.customers.UpdateOne(ctx, bson.D{{Key: "_id", Value: cid}}, u)
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	if res.MatchedCount == 0 {
		return nil, store.ErrNotFound
	}
	if len(upd.RemoveTags) > 0 {
		if _, err := db.customers.UpdateOne(ctx, bson.D{{Key: "_id", Value: cid}},
			bson.D{{Key: "$pullAll", Value: bson.D{{Key: "tags", Value: upd.RemoveTags}}}}); err != nil {
			return nil, fmt.Errorf("remove tags: %w", err)
		}
	}
	if len(upd.Fields) > 0 {
		if err := db.updateFields(ctx, cid, upd.Fields); err != nil {
			return nil, err
		}
	}
	return db.loadOne(ctx, cid)
}

// identityOwner returns the live customer owning ident, "" if none.
func (db *DB) identityOwner(ctx context.Context, ident store.Identity) (string, error) {
	var d identityDoc
	err := db.identities.FindOne(ctx, bson.D{{Key: "_id", Value: identityKey(ident)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find identity %s: %w", ident.Kind, err)
	}
	owner, err := db.resolve(ctx, d.CustomerID, time.Time{}, false)
	if errors.Is(err, store.ErrNotFound) {
		return d.CustomerID, nil
	}
	return owner, err
}

// updateFields merges upd into the stored fields. Fields are one array, so
// the write is conditional on the array read: a concurrent edit makes it
// read again instead of being overwritten.
func (db *DB) updateFields(ctx context.Context, cid string, upd map[string]string) error {
	for range 20 {
		var d struct {
			Fields []kv `bson:"fields"`
		}
		if err := db.customers.FindOne(ctx, bson.D{{Key: "_id", Value: cid}}).Decode(&d); err != nil {
			return fmt.Errorf("read fields: %w", err)
		}
		m := fromKVs(d.Fields)
		if m == nil {
			m = map[string]string{}
		}
		for k, v := range upd {
			if v == "" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		var old any = d.Fields
		if len(d.Fields) == 0 {
			old = bson.D{{Key: "$exists", Value: false}}
			if d.Fields != nil {
				old = bson.A{}
			}
		}
		u := bson.D{{Key: "$set", Value: bson.D{{Key: "fields", Value: toKVs(m)}}}}
		if len(m) == 0 {
			u = bson.D{{Key: "$unset", Value: bson.D{{Key: "fields", Value: ""}}}}
		}
		res, err := db.customers.UpdateOne(ctx, bson.D{{Key: "_id", Value: cid}, {Key: "fields", Value: old}}, u)
		if err != nil {
			return fmt.Errorf("update fields: %w", err)
		}
		if res.MatchedCount == 1 {
			return nil
		}
	}
	return fmt.Errorf("update fields: too much contention: %w", store.ErrConflict)
}

// MergeCustomers merges from into into: the pair record fixes the
// direction, the merge record makes later writes for from land on into,
// and finishMerge moves the data (idempotently, so a crash is repaired by
// the next writer that meets from's ID).
func (db *DB) MergeCustomers(ctx context.Context, into, from string) (*store.Customer, error) {
	if into == from {
		return nil, fmt.Errorf("mongo: merge customer %s into itself: %w", into, store.ErrInvalid)
	}
	now := time.Now()
	for _, id := range []string{into, from} {
		live, err := db.resolve(ctx, id, now, false)
		if errors.Is(err, store.ErrNotFound) || (err == nil && live != id) {
			return nil, fmt.Errorf("mongo: merge customer %s into %s: customer %s: %w", from, into, id, store.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("mongo: merge customer %s into %s: %w", from, into, err)
		}
	}
	if err := db.merge(ctx, from, into, now); errors.Is(err, errRetry) {
		return nil, fmt.Errorf("mongo: merge customer %s into %s: merging the other way already: %w", from, into, store.ErrConflict)
	} else if err != nil {
		return nil, fmt.Errorf("mongo: merge customer %s into %s: %w", from, into, err)
	}
	c, err := db.loadOne(ctx, into)
	if err != nil {
		return nil, fmt.Errorf("mongo: merge customer %s into %s: %w", from, into, err)
	}
	return c, nil
}

// componentRegex matches a ':'-separated key with a component equal to v.
func componentRegex(prefix, v string) bson.Regex {
	return bson.Regex{Pattern: "^" + regexp.QuoteMeta(prefix) + "(.*:)?" + regexp.QuoteMeta(v) + "(:.*)?$"}
}

// EraseCustomer removes every record of the customer. Without transactions
// the order matters: events are redacted while the identities that find
// them still exist, and the customer document goes last, so erasing again
// after a crash finishes the job.
func (db *DB) EraseCustomer(ctx context.Context, id string) error {
	if err := db.erase(ctx, id); err != nil {
		return fmt.Errorf("mongo: erase customer %q: %w", id, err)
	}
	return nil
}

func (db *DB) erase(ctx context.Context, id string) error {
	if err := db.customers.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Err(); errors.Is(err, mongo.ErrNoDocuments) {
		return store.ErrNotFound
	} else if err != nil {
		return fmt.Errorf("find customer: %w", err)
	}
	var idents []identityDoc
	cur, err := db.identities.Find(ctx, bson.D{{Key: "customer_id", Value: id}})
	if err != nil {
		return fmt.Errorf("find identities: %w", err)
	}
	if err := cur.All(ctx, &idents); err != nil {
		return fmt.Errorf("find identities: %w", err)
	}
	var values []string
	for _, d := range idents {
		if !slices.Contains(values, d.Value) {
			values = append(values, d.Value)
		}
	}
	if err := db.redactEvents(ctx, values); err != nil {
		return err
	}
	if err := db.eraseGroupMembers(ctx, values); err != nil { // groups.go
		return err
	}
	var reminders []struct {
		ID string `bson:"_id"`
	}
	cur, err = db.crm.reminders.Find(ctx, bson.D{{Key: "customer_id", Value: id}}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return fmt.Errorf("find reminders: %w", err)
	}
	if err := cur.All(ctx, &reminders); err != nil {
		return fmt.Errorf("find reminders: %w", err)
	}
	subjects := make([]string, len(reminders))
	for i, r := range reminders {
		subjects[i] = reminderSubject(r.ID)
	}
	byCustomer := bson.D{{Key: "customer_id", Value: id}}
	// Cursors are named after what they track, e.g. "bot-reply:<dedup key>"
	// whose dedup key may hold an identity value.
	// Markers likewise: their keys are made of the same parts.
	cursors := bson.A{bson.D{{Key: "_id", Value: componentRegex("", id)}}}
	markers := bson.A{bson.D{{Key: "key", Value: componentRegex("", id)}}}
	for _, v := range values {
		cursors = append(cursors, bson.D{{Key: "_id", Value: componentRegex("", v)}})
		markers = append(markers, bson.D{{Key: "key", Value: componentRegex("", v)}})
	}
	if err := db.scrubCampaignTasks(ctx, values); err != nil {
		return err
	}
	deletes := []struct {
		what   string
		coll   *mongo.Collection
		filter bson.D
	}{
		{"timeline", db.timeline, byCustomer},
		{"reminder leases", db.crm.leases, bson.D{{Key: "subject", Value: bson.D{{Key: "$in", Value: subjects}}}}},
		{"reminders", db.crm.reminders, byCustomer},
		{"jobs", db.crm.jobs, bson.D{{Key: "key", Value: componentRegex("", id)}}},
		{"job leases", db.crm.leases, bson.D{{Key: "subject", Value: componentRegex(jobSubjectPrefix, id)}}},
		{"cursors", db.cursors, bson.D{{Key: "$or", Value: cursors}}},
		{"markers", db.markers, bson.D{{Key: "$or", Value: markers}}},
		{"handovers", db.coll(collHandovers), byCustomer},
		{"inbox offers", db.coll(collOffers), bson.D{{Key: "_id", Value: id}}},
		{"inbox claims", db.coll(collInboxClaims), byCustomer},
		{"kf accounts", db.coll(collKFAccounts), bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: append([]string{}, values...)}}}}},
		{"follows", db.follows, byCustomer},
		{"channel events", db.channelEvents(), byCustomer},
		{"campaign sends", db.coll(collCampaignSends), byCustomer},
		{"journey runs", db.coll(collJourneyRuns), byCustomer},
		{"journey run version tokens", db.coll(collVersions), byCustomer},
		{"merge records", db.merges, bson.D{{Key: "$or", Value: bson.A{bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "into", Value: id}}}}}},
		{"merge pairs", db.crm.mergePairs, bson.D{{Key: "$or", Value: bson.A{bson.D{{Key: "from", Value: id}}, bson.D{{Key: "into", Value: id}}}}}},
		{"identities", db.identities, byCustomer},
		{"customer", db.customers, bson.D{{Key: "_id", Value: id}}},
		// A callback racing the erase may have added to what was deleted.
		{"late timeline", db.timeline, byCustomer},
		{"late follows", db.follows, byCustomer},
		{"late channel events", db.channelEvents(), byCustomer},
		{"late identities", db.identities, byCustomer},
	}
	for _, d := range deletes {
		if _, err := d.coll.DeleteMany(ctx, d.filter); err != nil {
			return fmt.Errorf("delete %s: %w", d.what, err)
		}
	}
	return nil
}

// redactEvents clears the events whose customer or sender is one of values,
// and customer-group changes that name one of them: their words, raw XML, attributes and those identity values go; the
// documents stay. An unprocessed one is completed, or the pipeline would
// recreate the customer from it.
func (db *DB) redactEvents(ctx context.Context, values []string) error {
	if len(values) == 0 {
		return nil
	}
	in := bson.D{{Key: "$in", Value: values}}
	cur, err := db.events.Find(ctx, bson.D{{Key: "$or", Value: bson.A{bson.D{{Key: "customer_id", Value: in}}, bson.D{{Key: "from_id", Value: in}}}}},
		options.Find().SetProjection(bson.D{{Key: "customer_id", Value: 1}, {Key: "from_id", Value: 1}, {Key: "pending", Value: 1}}))
	if err != nil {
		return fmt.Errorf("find events: %w", err)
	}
	type eventRef struct {
		ID         string `bson:"_id"`
		CustomerID string `bson:"customer_id"`
		FromID     string `bson:"from_id"`
		Pending    bool   `bson:"pending"`
		Attrs      []kv   `bson:"attrs"`
	}
	var evs []eventRef
	if err := cur.All(ctx, &evs); err != nil {
		return fmt.Errorf("find events: %w", err)
	}
	// A customer-group change names every member it concerns in one event
	// (MemChangeList): those events carry the customer without being
	// theirs. Erasing is rare, so they are matched here rather than indexed.
	cur, err = db.events.Find(ctx, bson.D{{Key: "kind", Value: bson.D{{Key: "$regex", Value: `^event\.change_external_chat\.`}}}},
		options.Find().SetProjection(bson.D{{Key: "customer_id", Value: 1}, {Key: "from_id", Value: 1}, {Key: "pending", Value: 1}, {Key: "attrs", Value: 1}}))
	if err != nil {
		return fmt.Errorf("find group events: %w", err)
	}
	var group []eventRef
	if err := cur.All(ctx, &group); err != nil {
		return fmt.Errorf("find group events: %w", err)
	}
	for _, e := range group {
		if slices.ContainsFunc(e.Attrs, func(a kv) bool {
			return slices.ContainsFunc(values, func(v string) bool { return strings.Contains(a.V, v) })
		}) {
			evs = append(evs, e)
		}
	}
	now := time.Now()
	for _, e := range evs {
		id := parseEventKey(e.ID)
		set := bson.D{{Key: "text", Value: ""}, {Key: "dedup_key", Value: fmt.Sprintf("erased:%d", id)}}
		if slices.Contains(values, e.CustomerID) {
			set = append(set, bson.E{Key: "customer_id", Value: ""})
		}
		if slices.Contains(values, e.FromID) {
			set = append(set, bson.E{Key: "from_id", Value: ""})
		}
		if e.Pending {
			if _, err := db.done.InsertOne(ctx, &doneDoc{ID: doneID(id), Owner: "erase", At: now}); err != nil && !mongo.IsDuplicateKeyError(err) {
				return fmt.Errorf("complete event %d: %w", id, err)
			}
			set = append(set, bson.E{Key: "pending", Value: false}, bson.E{Key: "processed_at", Value: now}, bson.E{Key: "lease_owner", Value: ""})
		}
		_, err := db.events.UpdateOne(ctx, bson.D{{Key: "_id", Value: e.ID}},
			bson.D{{Key: "$set", Value: set}, {Key: "$unset", Value: bson.D{{Key: "raw", Value: ""}, {Key: "attrs", Value: ""}}}})
		if err != nil {
			return fmt.Errorf("redact event %d: %w", id, err)
		}
	}
	return nil
}

// DumpAll renders every document of every collection as one line of
// extended JSON, followed by the text of its binary values (which extended
// JSON shows as base64), for tests that prove an erase left nothing behind.
func (db *DB) DumpAll(ctx context.Context) (string, error) {
	names, err := db.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return "", fmt.Errorf("mongo: dump: list collections: %w", err)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, name := range names {
		cur, err := db.db.Collection(name).Find(ctx, bson.D{})
		if err != nil {
			return "", fmt.Errorf("mongo: dump %s: %w", name, err)
		}
		for cur.Next(ctx) {
			js, err := bson.MarshalExtJSON(cur.Current, false, false)
			if err != nil {
				cur.Close(ctx)
				return "", fmt.Errorf("mongo: dump %s: %w", name, err)
			}
			b.WriteString(name + ": ")
			b.Write(js)
			binaryText(&b, cur.Current)
			b.WriteByte('\n')
		}
		if err := cur.Err(); err != nil {
			return "", fmt.Errorf("mongo: dump %s: %w", name, err)
		}
		cur.Close(ctx)
	}
	return b.String(), nil
}

// binaryText appends the bytes of every binary value in doc, with
// newlines flattened so one document stays one line.
func binaryText(b *strings.Builder, doc bson.Raw) {
	elems, err := doc.Elements()
	if err != nil {
		return
	}
	for _, e := range elems {
		v := e.Value()
		switch v.Type {
		case bson.TypeBinary:
			_, data := v.Binary()
			b.WriteString(" binary=" + strings.ReplaceAll(string(data), "\n", " "))
		case bson.TypeEmbeddedDocument:
			binaryText(b, v.Document())
		case bson.TypeArray:
			binaryText(b, bson.Raw(v.Array()))
		}
	}
}
