package mongo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scrmhq/scrm/store"
)

// reminderDoc is a reminder. Its lease lives in the leases collection;
// Attempts and FreeAt here are a cache for picking claim candidates.
type reminderDoc struct {
	ID         string     `bson:"_id"` // eventKey(Reminder.ID): a string, so FerretDB finds it by index
	Key        string     `bson:"key"` // Reminder.Key, or "auto:<id>" (every document needs a unique key)
	AutoKey    bool       `bson:"auto_key,omitempty"`
	CustomerID string     `bson:"customer_id"`
	StaffID    string     `bson:"staff_id"`
	Kind       string     `bson:"kind"`
	Text       string     `bson:"text"`
	Script     string     `bson:"script,omitempty"`
	DueAt      time.Time  `bson:"due_at"`
	Status     string     `bson:"status"`
	SentAt     *time.Time `bson:"sent_at,omitempty"`
	SentBy     string     `bson:"sent_by,omitempty"`
	DoneAt     *time.Time `bson:"done_at,omitempty"`
	Attempts   int64      `bson:"attempts"`
	Arm        int64      `bson:"arm"` // bumped when status or due time change: a claim is for one arm
	FreeAt     time.Time  `bson:"free_at"`
	CreatedAt  time.Time  `bson:"created_at"`
	UpdatedAt  time.Time  `bson:"updated_at"`
}

func (d *reminderDoc) reminder() *store.Reminder {
	r := &store.Reminder{
		ID: parseEventKey(d.ID), Key: d.Key, CustomerID: d.CustomerID, StaffID: d.StaffID, Kind: d.Kind, Text: d.Text,
		Script: d.Script, DueAt: utc(d.DueAt), Status: d.Status, SentAt: utcPtr(d.SentAt), DoneAt: utcPtr(d.DoneAt), Attempts: int(d.Attempts),
		CreatedAt: utc(d.CreatedAt), UpdatedAt: utc(d.UpdatedAt),
	}
	if d.AutoKey {
		r.Key = ""
	}
	return r
}

func reminderSubject(docID string) string { return "r:" + docID }

// CreateReminder inserts r; the unique key index makes concurrent creates
// of one key end with one document.
func (db *DB) CreateReminder(ctx context.Context, r *store.Reminder) (bool, error) {
	if r.StaffID == "" || r.Kind == "" || r.DueAt.IsZero() {
		return false, fmt.Errorf("mongo: create reminder: staff, kind and due time are required: %w", store.ErrInvalid)
	}
	status := cmp.Or(r.Status, store.ReminderPending)
	if !store.ValidReminderStatus(status) {
		return false, fmt.Errorf("mongo: create reminder: status %q: %w", status, store.ErrInvalid)
	}
	cid := r.CustomerID
	if cid != "" {
		var err error
		if cid, err = db.resolve(ctx, cid, time.Time{}, false); err != nil {
			return false, fmt.Errorf("mongo: create reminder %s: customer %s: %w", r.Key, r.CustomerID, err)
		}
	}
	now := time.Now()
	created, updated := cmp.Or(r.CreatedAt, now), cmp.Or(r.UpdatedAt, r.CreatedAt, now)
	for range maxAppendRounds {
		id, err := db.reserveIDs(ctx, collReminders, 1)
		if err != nil {
			return false, fmt.Errorf("mongo: create reminder: %w", err)
		}
		doc := &reminderDoc{
			ID: eventKey(id), Key: r.Key, CustomerID: cid, StaffID: r.StaffID, Kind: r.Kind, Text: r.Text, Script: r.Script,
			DueAt: r.DueAt, Status: status, SentAt: r.SentAt, DoneAt: r.DoneAt, FreeAt: epoch, CreatedAt: created, UpdatedAt: updated,
		}
		if doc.Key == "" {
			doc.Key, doc.AutoKey = fmt.Sprintf("auto:%d", id), true
		}
		_, err = db.crm.reminders.InsertOne(ctx, doc)
		if mongo.IsDuplicateKeyError(err) {
			if r.Key != "" {
				if existing, ok, err := db.reminderByKey(ctx, r.Key); err != nil {
					return false, fmt.Errorf("mongo: create reminder %s: %w", r.Key, err)
				} else if ok {
					r.ID = existing
					return false, nil
				}
			}
			continue // an ID collision (FerretDB's racy counter): take a new ID
		}
		if err != nil {
			return false, fmt.Errorf("mongo: create reminder %s: %w", r.Key, err)
		}
		r.ID, r.CustomerID, r.Status, r.CreatedAt, r.UpdatedAt = id, cid, status, utc(created), utc(updated)
		return true, nil
	}
	return false, fmt.Errorf("mongo: create reminder: ids kept colliding: %w", store.ErrConflict)
}

func (db *DB) reminderByKey(ctx context.Context, key string) (int64, bool, error) {
	var d struct {
		ID string `bson:"_id"`
	}
	err := db.crm.reminders.FindOne(ctx, bson.D{{Key: "key", Value: key}}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("find by key: %w", err)
	}
	return parseEventKey(d.ID), true, nil
}

func (db *DB) reminderDoc(ctx context.Context, id int64) (*reminderDoc, error) {
	var d reminderDoc
	err := db.crm.reminders.FindOne(ctx, bson.D{{Key: "_id", Value: eventKey(id)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// FindReminderByID returns ErrNotFound if it does not exist.
func (db *DB) FindReminderByID(ctx context.Context, id int64) (*store.Reminder, error) {
	d, err := db.reminderDoc(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("mongo: find reminder %d: %w", id, err)
	}
	return d.reminder(), nil
}

// FindReminders returns matching reminders ordered by DueAt then ID.
func (db *DB) FindReminders(ctx context.Context, f store.ReminderFilter) ([]*store.Reminder, error) {
	filter := bson.D{}
	if f.StaffID != "" {
		filter = append(filter, bson.E{Key: "staff_id", Value: f.StaffID})
	}
	if f.CustomerID != "" {
		filter = append(filter, bson.E{Key: "customer_id", Value: f.CustomerID})
	}
	if len(f.Statuses) > 0 {
		filter = append(filter, bson.E{Key: "status", Value: bson.D{{Key: "$in", Value: f.Statuses}}})
	}
	if !f.DueBefore.IsZero() {
		filter = append(filter, bson.E{Key: "due_at", Value: bson.D{{Key: "$lt", Value: f.DueBefore}}})
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	cur, err := db.crm.reminders.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "due_at", Value: 1}, {Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("mongo: find reminders: %w", err)
	}
	var docs []reminderDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo: find reminders: %w", err)
	}
	out := make([]*store.Reminder, len(docs))
	for i := range docs {
		out[i] = docs[i].reminder()
	}
	return out, nil
}

// UpdateReminder applies upd. A change of status or due time re-arms the
// reminder: its arm is bumped (a push in flight then fails to mark it
// sent) and a live lease is superseded so the new arm is claimable at once.
func (db *DB) UpdateReminder(ctx context.Context, id int64, upd store.ReminderUpdate) (*store.Reminder, error) {
	if upd.Status != nil && !store.ValidReminderStatus(*upd.Status) {
		return nil, fmt.Errorf("mongo: update reminder %d: status %q: %w", id, *upd.Status, store.ErrInvalid)
	}
	now := upd.Now
	if now.IsZero() {
		now = time.Now()
	}
	d, err := db.reminderDoc(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("mongo: update reminder %d: %w", id, err)
	}
	set := bson.D{{Key: "updated_at", Value: now}}
	unset := bson.D{}
	if upd.Text != nil {
		set = append(set, bson.E{Key: "text", Value: *upd.Text})
	}
	if upd.DueAt != nil {
		set = append(set, bson.E{Key: "due_at", Value: *upd.DueAt})
	}
	if s := upd.Status; s != nil {
		set = append(set, bson.E{Key: "status", Value: *s})
		if *s == store.ReminderPending {
			unset = append(unset, bson.E{Key: "sent_at", Value: ""}, bson.E{Key: "sent_by", Value: ""})
		}
		switch {
		case *s != store.ReminderDone:
			unset = append(unset, bson.E{Key: "done_at", Value: ""})
		case d.DoneAt == nil:
			set = append(set, bson.E{Key: "done_at", Value: now})
		}
	}
	u := bson.D{{Key: "$set", Value: set}}
	if len(unset) > 0 {
		u = append(u, bson.E{Key: "$unset", Value: unset})
	}
	rearm := upd.Status != nil || upd.DueAt != nil
	if rearm {
		u = append(u, bson.E{Key: "$inc", Value: bson.D{{Key: "arm", Value: 1}}})
		set = append(set, bson.E{Key: "free_at", Value: epoch})
		u[0].Value = set
	}
	if _, err := db.crm.reminders.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, u); err != nil {
		return nil, fmt.Errorf("mongo: update reminder %d: %w", id, err)
	}
	if rearm {
		if err := db.supersede(ctx, reminderSubject(d.ID), d.Attempts, now); err != nil {
			return nil, fmt.Errorf("mongo: update reminder %d: %w", id, err)
		}
	}
	d, err = db.reminderDoc(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("mongo: update reminder %d: %w", id, err)
	}
	return d.reminder(), nil
}

// supersede ends a live lease on subject by inserting the next generation
// as already void. Losing that insert to a claimer is fine: either way the
// old holder no longer holds the latest generation.
func (db *DB) supersede(ctx context.Context, subject string, hint int64, now time.Time) error {
	cur, err := db.latestLease(ctx, subject, hint)
	if err != nil || cur == nil || !cur.FreeAt.After(now) {
		return err
	}
	doc := leaseDoc{ID: leaseID(subject, cur.Gen+1), Subject: subject, Gen: cur.Gen + 1, FreeAt: epoch,
		Outcome: leaseVoid, Attempts: cur.Attempts, LastError: cur.LastError}
	if _, err := db.crm.leases.InsertOne(ctx, &doc); err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("supersede lease: %w", err)
	}
	return nil
}

// ClaimDueReminders leases due reminders. Candidates are the 3*limit
// earliest due; each is won by inserting its next lease generation.
func (db *DB) ClaimDueReminders(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*store.Reminder, error) {
	if limit <= 0 {
		return nil, nil
	}
	cur, err := db.crm.reminders.Find(ctx,
		bson.D{{Key: "status", Value: store.ReminderPending}, {Key: "due_at", Value: bson.D{{Key: "$lte", Value: now}}},
			{Key: "free_at", Value: bson.D{{Key: "$lte", Value: now}}}},
		options.Find().SetSort(bson.D{{Key: "due_at", Value: 1}, {Key: "_id", Value: 1}}).SetLimit(int64(3*limit)))
	if err != nil {
		return nil, fmt.Errorf("mongo: claim reminders: %w", err)
	}
	var cands []reminderDoc
	if err := cur.All(ctx, &cands); err != nil {
		return nil, fmt.Errorf("mongo: claim reminders: %w", err)
	}
	// Concurrent claimers read the same earliest candidates; each tries them
	// in its own random order so they spread out instead of colliding.
	rand.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	var out []*store.Reminder
	until := now.Add(lease)
	for _, c := range cands {
		if len(out) == limit {
			break
		}
		r, err := db.claimReminder(ctx, &c, owner, now, until)
		if err != nil {
			return out, fmt.Errorf("mongo: claim reminder %s: %w", c.ID, err)
		}
		if r != nil {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *store.Reminder) int {
		return cmp.Or(a.DueAt.Compare(b.DueAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func (db *DB) claimReminder(ctx context.Context, c *reminderDoc, owner string, now, until time.Time) (*store.Reminder, error) {
	l, err := db.acquire(ctx, reminderSubject(c.ID), max(c.Attempts, 1), false, owner, c.Arm, now, until)
	if err != nil || l == nil {
		return nil, err
	}
	// Record the claim in the cache fields, so other claimers stop picking
	// the reminder, and read it back: it may have been sent or changed
	// since it was a candidate.
	var d reminderDoc
	err = db.crm.reminders.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: c.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "free_at", Value: until}, {Key: "attempts", Value: l.Gen}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, db.letGo(ctx, l, leaseVoid, epoch)
	}
	if err != nil {
		return nil, err
	}
	if d.Status != store.ReminderPending || d.DueAt.After(now) || d.Arm != c.Arm {
		if _, err := db.crm.reminders.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.ID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "free_at", Value: epoch}}}}); err != nil {
			return nil, err
		}
		return nil, db.letGo(ctx, l, leaseVoid, epoch)
	}
	return d.reminder(), nil
}

// MarkReminderSent records the push if owner holds the latest lease and the
// reminder is still the arm it claimed.
func (db *DB) MarkReminderSent(ctx context.Context, id int64, owner string, at time.Time) error {
	d, err := db.reminderDoc(ctx, id)
	if err != nil {
		return fmt.Errorf("mongo: mark reminder %d sent: %w", id, err)
	}
	if d.Status == store.ReminderSent && d.SentBy == owner {
		return nil
	}
	l, err := db.latestLease(ctx, reminderSubject(d.ID), max(d.Attempts, 1))
	if err != nil {
		return fmt.Errorf("mongo: mark reminder %d sent: %w", id, err)
	}
	if !held(l, owner) || d.Status != store.ReminderPending || d.Arm != l.Ref {
		return fmt.Errorf("mongo: mark reminder %d sent: lease not held by %s: %w", id, owner, store.ErrConflict)
	}
	// The write is keyed by _id alone (the only filter FerretDB runs by
	// index) and checked against the state it replaced: if the reminder was
	// re-armed after the read above, that state is put back.
	var pre reminderDoc
	err = db.crm.reminders.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: d.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: store.ReminderSent}, {Key: "sent_at", Value: at},
			{Key: "sent_by", Value: owner}, {Key: "updated_at", Value: at}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.Before)).Decode(&pre)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("mongo: mark reminder %d sent: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("mongo: mark reminder %d sent: %w", id, err)
	}
	if pre.Status != store.ReminderPending || pre.Arm != l.Ref {
		restore := bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: pre.Status}, {Key: "updated_at", Value: pre.UpdatedAt}}}}
		unset := bson.D{}
		for _, f := range []struct {
			field string
			value any
			set   bool
		}{{"sent_at", pre.SentAt, pre.SentAt != nil}, {"sent_by", pre.SentBy, pre.SentBy != ""}} {
			if f.set {
				restore[0].Value = append(restore[0].Value.(bson.D), bson.E{Key: f.field, Value: f.value})
			} else {
				unset = append(unset, bson.E{Key: f.field, Value: ""})
			}
		}
		if len(unset) > 0 {
			restore = append(restore, bson.E{Key: "$unset", Value: unset})
		}
		if _, err := db.crm.reminders.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, restore); err != nil {
			return fmt.Errorf("mongo: mark reminder %d sent: restore: %w", id, err)
		}
		return fmt.Errorf("mongo: mark reminder %d sent: changed since the claim: %w", id, store.ErrConflict)
	}
	// The lease simply runs out: a sent reminder is no claim candidate,
	// and a re-arm supersedes the lease.
	return nil
}

// ReleaseReminder lets go of owner's lease until retryAt.
func (db *DB) ReleaseReminder(ctx context.Context, id int64, owner string, retryAt time.Time) error {
	d, err := db.reminderDoc(ctx, id)
	if err != nil {
		return fmt.Errorf("mongo: release reminder %d: %w", id, err)
	}
	l, err := db.latestLease(ctx, reminderSubject(d.ID), max(d.Attempts, 1))
	if err != nil {
		return fmt.Errorf("mongo: release reminder %d: %w", id, err)
	}
	if !held(l, owner) || d.Status != store.ReminderPending {
		return fmt.Errorf("mongo: release reminder %d: lease not held by %s: %w", id, owner, store.ErrConflict)
	}
	if err := db.letGo(ctx, l, leaseFailed, retryAt); err != nil {
		return fmt.Errorf("mongo: release reminder %d: %w", id, err)
	}
	if _, err := db.crm.reminders.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "free_at", Value: retryAt}}}}); err != nil {
		return fmt.Errorf("mongo: release reminder %d: %w", id, err)
	}
	return nil
}
