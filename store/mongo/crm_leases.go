package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Leases on reminders and jobs follow the events' claim scheme (see
// claimDoc): a lease is one generation document "<subject>#<gen>", won by
// inserting it, which is atomic on MongoDB and FerretDB alike. Generation
// gen+1 may only be inserted once gen is free (expired or released), and a
// winner checks afterwards that no later generation exists, so two owners
// never hold live leases on one subject. Only the holder writes its own
// generation document after inserting it.

// Lease outcomes, set by the holder when it lets go.
const (
	leaseHeld   = ""       // held, or expired without a word from the holder
	leaseDone   = "done"   // the work was done
	leaseFailed = "failed" // the work failed; retry at FreeAt
	leaseVoid   = "void"   // claimed, but there was nothing to do
)

type leaseDoc struct {
	ID      string    `bson:"_id"` // leaseID(Subject, Gen)
	Subject string    `bson:"subject"`
	Gen     int64     `bson:"gen"`
	Owner   string    `bson:"owner"`
	FreeAt  time.Time `bson:"free_at"` // lease end; once let go, when the subject may be claimed again
	Outcome string    `bson:"outcome"`
	// Ref is what the holder claimed: a reminder's arm, a job's version.
	Ref int64 `bson:"ref"`
	// Attempts counts claims since the subject's work was last done,
	// this one included; LastError is the latest failure among them.
	Attempts  int    `bson:"attempts"`
	LastError string `bson:"last_error,omitempty"`
}

func leaseID(subject string, gen int64) string { return fmt.Sprintf("%s#%019d", subject, gen) }

// latestLease returns the highest generation of subject, nil if there is
// none. With hint > 0 it walks up from generation hint by _id (cheap on
// FerretDB, which looks up only _ids by index); subjects whose old
// generations are pruned pass hint 0 and get an indexed sort instead.
func (db *DB) latestLease(ctx context.Context, subject string, hint int64) (*leaseDoc, error) {
	return db.walkLeases(ctx, subject, hint, time.Time{})
}

// walkLeases is latestLease, but when liveAt is set it stops at the first
// generation still live then: nothing can follow a live generation but a
// void one from a re-arm, and missing that only delays a claim.
func (db *DB) walkLeases(ctx context.Context, subject string, hint int64, liveAt time.Time) (*leaseDoc, error) {
	if hint > 0 {
		var latest *leaseDoc
		for gen := hint; ; gen++ {
			var d leaseDoc
			err := db.crm.leases.FindOne(ctx, bson.D{{Key: "_id", Value: leaseID(subject, gen)}}).Decode(&d)
			if errors.Is(err, mongo.ErrNoDocuments) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("read lease %s: %w", subject, err)
			}
			latest = &d
			if !liveAt.IsZero() && d.FreeAt.After(liveAt) {
				break
			}
		}
		if latest != nil || hint == 1 {
			return latest, nil
		}
		// The hint pointed past the end or at a pruned generation.
	}
	var d leaseDoc
	err := db.crm.leases.FindOne(ctx, bson.D{{Key: "subject", Value: subject}},
		options.FindOne().SetSort(bson.D{{Key: "gen", Value: -1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lease %s: %w", subject, err)
	}
	return &d, nil
}

// acquire tries to take the next lease generation of subject for owner
// until `until`. It returns nil, nil when the subject is held by someone
// else, waiting for a retry time, or taken in a race. pruned says whether
// old generations of subject are ever deleted (see CompleteJob): only then
// can a stale claimer re-insert one, which the winner must check for.
func (db *DB) acquire(ctx context.Context, subject string, hint int64, pruned bool, owner string, ref int64, now, until time.Time) (*leaseDoc, error) {
	for range 4 {
		cur, err := db.walkLeases(ctx, subject, hint, now)
		if err != nil {
			return nil, err
		}
		doc := leaseDoc{Subject: subject, Gen: 1, Owner: owner, FreeAt: until, Ref: ref, Attempts: 1}
		if cur != nil {
			if cur.FreeAt.After(now) {
				return nil, nil // held, or a retry not yet due
			}
			doc.Gen = cur.Gen + 1
			switch cur.Outcome {
			case leaseDone:
			case leaseVoid:
				doc.Attempts, doc.LastError = cur.Attempts, cur.LastError
			default:
				doc.Attempts, doc.LastError = cur.Attempts+1, cur.LastError
			}
		}
		doc.ID = leaseID(subject, doc.Gen)
		_, err = db.crm.leases.InsertOne(ctx, &doc)
		if mongo.IsDuplicateKeyError(err) {
			hint = doc.Gen // someone else won it: look again from there
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("insert lease %s: %w", subject, err)
		}
		if !pruned {
			return &doc, nil
		}
		// A claimer that read a stale generation may have re-inserted a
		// pruned one below the live lease: it must not count.
		top, err := db.latestLease(ctx, subject, doc.Gen)
		if err != nil {
			return nil, err
		}
		if top == nil || top.Gen != doc.Gen {
			if _, err := db.crm.leases.DeleteOne(ctx, bson.D{{Key: "_id", Value: doc.ID}}); err != nil {
				return nil, fmt.Errorf("drop stale lease %s: %w", subject, err)
			}
			return nil, nil
		}
		return &doc, nil
	}
	return nil, nil
}

// letGo records how the holder of l let it go and when the subject is
// free again.
func (db *DB) letGo(ctx context.Context, l *leaseDoc, outcome string, freeAt time.Time, set ...bson.E) error {
	s := append(bson.D{{Key: "outcome", Value: outcome}, {Key: "free_at", Value: freeAt}}, set...)
	if _, err := db.crm.leases.UpdateOne(ctx, bson.D{{Key: "_id", Value: l.ID}}, bson.D{{Key: "$set", Value: s}}); err != nil {
		return fmt.Errorf("let go of lease %s: %w", l.Subject, err)
	}
	l.Outcome, l.FreeAt = outcome, freeAt
	return nil
}

// held returns l if owner holds it: the latest generation, not let go.
func held(l *leaseDoc, owner string) bool {
	return l != nil && owner != "" && l.Owner == owner && l.Outcome == leaseHeld
}
