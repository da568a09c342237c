package mongo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scrmhq/scrm/store"
)

// Jobs are kept without updating any shared document, because FerretDB v1
// runs every update as read-modify-write of the whole document, so a
// re-arm racing a completion could be lost. Each ScheduleJob inserts a
// schedule "<key>#<seq>" with the next sequence number (the Version); the
// job is pending while any schedule of its key exists, and the latest one
// gives its kind, payload and due time. CompleteJob deletes the schedules
// up to the version it ran, so a schedule inserted meanwhile survives and
// the job runs again. The lease is a generation in the leases collection.

type jobDoc struct {
	ID      string    `bson:"_id"` // jobDocID(Key, Seq)
	Key     string    `bson:"key"`
	Seq     int64     `bson:"seq"`
	Kind    string    `bson:"kind"`
	Payload string    `bson:"payload"`
	DueAt   time.Time `bson:"due_at"`
}

func jobDocID(key string, seq int64) string { return fmt.Sprintf("%s#%019d", key, seq) }

const jobSubjectPrefix = "j:"

func jobSubject(key string) string { return jobSubjectPrefix + key }

// latestSchedule returns the newest schedule of key, nil if there is none.
func (db *DB) latestSchedule(ctx context.Context, key string) (*jobDoc, error) {
	var d jobDoc
	err := db.crm.jobs.FindOne(ctx, bson.D{{Key: "key", Value: key}}, options.FindOne().SetSort(bson.D{{Key: "seq", Value: -1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read schedule: %w", err)
	}
	return &d, nil
}

// ScheduleJob inserts the next schedule of key and drops the ones it
// supersedes.
func (db *DB) ScheduleJob(ctx context.Context, key, kind, payload string, dueAt time.Time) error {
	if key == "" || kind == "" {
		return fmt.Errorf("mongo: schedule job %q: key and kind are required: %w", key, store.ErrInvalid)
	}
	for range maxAppendRounds {
		latest, err := db.latestSchedule(ctx, key)
		if err != nil {
			return fmt.Errorf("mongo: schedule job %s: %w", key, err)
		}
		seq := int64(1)
		if latest != nil {
			seq = latest.Seq + 1
		}
		_, err = db.crm.jobs.InsertOne(ctx, &jobDoc{ID: jobDocID(key, seq), Key: key, Seq: seq, Kind: kind, Payload: payload, DueAt: dueAt})
		if mongo.IsDuplicateKeyError(err) {
			continue // a concurrent schedule took seq: read again
		}
		if err != nil {
			return fmt.Errorf("mongo: schedule job %s: %w", key, err)
		}
		if _, err := db.crm.jobs.DeleteMany(ctx, bson.D{{Key: "key", Value: key}, {Key: "seq", Value: bson.D{{Key: "$lt", Value: seq}}}}); err != nil {
			return fmt.Errorf("mongo: schedule job %s: drop superseded: %w", key, err)
		}
		return nil
	}
	return fmt.Errorf("mongo: schedule job %s: too much contention: %w", key, store.ErrConflict)
}

// ClaimJobs leases due jobs of kind, earliest due first, each won by
// inserting its next lease generation.
func (db *DB) ClaimJobs(ctx context.Context, kind, owner string, now time.Time, lease time.Duration, limit int) ([]*store.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	cur, err := db.crm.jobs.Find(ctx, bson.D{{Key: "kind", Value: kind}, {Key: "due_at", Value: bson.D{{Key: "$lte", Value: now}}}},
		options.Find().SetSort(bson.D{{Key: "due_at", Value: 1}}).SetLimit(int64(3*limit)).SetProjection(bson.D{{Key: "key", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: claim %s jobs: %w", kind, err)
	}
	var cands []jobDoc
	if err := cur.All(ctx, &cands); err != nil {
		return nil, fmt.Errorf("mongo: claim %s jobs: %w", kind, err)
	}
	var keys []string
	for _, c := range cands {
		if !slices.Contains(keys, c.Key) {
			keys = append(keys, c.Key)
		}
	}
	var out []*store.Job
	for _, key := range keys {
		if len(out) == limit {
			break
		}
		j, err := db.claimJob(ctx, key, kind, owner, now, now.Add(lease))
		if err != nil {
			return out, fmt.Errorf("mongo: claim job %s: %w", key, err)
		}
		if j != nil {
			out = append(out, j)
		}
	}
	slices.SortFunc(out, func(a, b *store.Job) int { return cmp.Or(a.DueAt.Compare(b.DueAt), cmp.Compare(a.Key, b.Key)) })
	return out, nil
}

func (db *DB) claimJob(ctx context.Context, key, kind, owner string, now, until time.Time) (*store.Job, error) {
	l, err := db.acquire(ctx, jobSubject(key), 0, true, owner, 0, now, until)
	if err != nil || l == nil {
		return nil, err
	}
	// The candidate may have been completed or postponed since it was read.
	s, err := db.latestSchedule(ctx, key)
	if err != nil {
		return nil, err
	}
	if s == nil || s.Kind != kind || s.DueAt.After(now) {
		return nil, db.letGo(ctx, l, leaseVoid, epoch)
	}
	if _, err := db.crm.leases.UpdateOne(ctx, bson.D{{Key: "_id", Value: l.ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "ref", Value: s.Seq}}}}); err != nil {
		return nil, fmt.Errorf("record version: %w", err)
	}
	return &store.Job{Key: key, Kind: s.Kind, Payload: s.Payload, DueAt: utc(s.DueAt), Version: s.Seq,
		Attempts: l.Attempts, LastError: l.LastError}, nil
}

// heldJobLease returns owner's lease on key; ErrNotFound if the job does
// not exist, ErrConflict if owner does not hold it.
func (db *DB) heldJobLease(ctx context.Context, key, owner string) (*leaseDoc, error) {
	l, err := db.latestLease(ctx, jobSubject(key), 0)
	if err != nil {
		return nil, err
	}
	if held(l, owner) {
		return l, nil
	}
	s, err := db.latestSchedule(ctx, key)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, store.ErrNotFound
	}
	return nil, fmt.Errorf("lease not held by %s: %w", owner, store.ErrConflict)
}

// CompleteJob deletes the schedules up to version (a later one keeps the
// job pending), lets go of the lease and prunes older lease generations.
func (db *DB) CompleteJob(ctx context.Context, key string, version int64, owner string) error {
	l, err := db.heldJobLease(ctx, key, owner)
	if err != nil {
		return fmt.Errorf("mongo: complete job %s: %w", key, err)
	}
	if _, err := db.crm.jobs.DeleteMany(ctx, bson.D{{Key: "key", Value: key}, {Key: "seq", Value: bson.D{{Key: "$lte", Value: version}}}}); err != nil {
		return fmt.Errorf("mongo: complete job %s: %w", key, err)
	}
	if err := db.letGo(ctx, l, leaseDone, epoch); err != nil {
		return fmt.Errorf("mongo: complete job %s: %w", key, err)
	}
	// The latest generation stays as the floor; acquire's check after
	// inserting keeps a stale claimer from reviving a pruned one.
	if _, err := db.crm.leases.DeleteMany(ctx, bson.D{{Key: "subject", Value: l.Subject}, {Key: "gen", Value: bson.D{{Key: "$lt", Value: l.Gen}}}}); err != nil {
		return fmt.Errorf("mongo: complete job %s: prune leases: %w", key, err)
	}
	return nil
}

// FailJob lets go of owner's lease until retryAt.
func (db *DB) FailJob(ctx context.Context, key, owner, errText string, retryAt time.Time) error {
	l, err := db.heldJobLease(ctx, key, owner)
	if err != nil {
		return fmt.Errorf("mongo: fail job %s: %w", key, err)
	}
	if err := db.letGo(ctx, l, leaseFailed, retryAt, bson.E{Key: "last_error", Value: errText}); err != nil {
		return fmt.Errorf("mongo: fail job %s: %w", key, err)
	}
	return nil
}

// CountJobs counts the keys with a schedule.
func (db *DB) CountJobs(ctx context.Context, kind string) (int64, error) {
	filter := bson.D{}
	if kind != "" {
		filter = bson.D{{Key: "kind", Value: kind}}
	}
	// A key has one schedule but for a moment after a re-arm: count keys.
	cur, err := db.crm.jobs.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "key", Value: 1}}))
	if err != nil {
		return 0, fmt.Errorf("mongo: count jobs: %w", err)
	}
	keys := map[string]bool{}
	for cur.Next(ctx) {
		keys[cur.Current.Lookup("key").StringValue()] = true
	}
	if err := cur.Err(); err != nil {
		return 0, fmt.Errorf("mongo: count jobs: %w", err)
	}
	cur.Close(ctx)
	return int64(len(keys)), nil
}
