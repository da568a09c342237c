package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scrmhq/scrm/store"
)

// Sign-in records (store.SessionStore). A login link is used up by
// inserting its ID into login_links_used: an insert into a unique index is
// the one write atomic on MongoDB and FerretDB v1 alike (see the package
// comment), so of two instances redeeming one link at once exactly one
// inserts. The marker lives as long as the link could be valid; the sweep
// drops both once they have expired.
const (
	collSessions  = "sessions"
	collLinks     = "login_links"
	collLinksUsed = "login_links_used"
)

type sessionDoc struct {
	ID         string    `bson:"_id"`
	StaffID    string    `bson:"staff_id"`
	CSRF       string    `bson:"csrf"`
	Method     string    `bson:"method"`
	CreatedAt  time.Time `bson:"created_at"`
	LastSeenAt time.Time `bson:"last_seen_at"`
	ExpiresAt  time.Time `bson:"expires_at"`
}

type linkDoc struct {
	ID        string    `bson:"_id"`
	StaffID   string    `bson:"staff_id"`
	Next      string    `bson:"next"`
	CreatedAt time.Time `bson:"created_at"`
	ExpiresAt time.Time `bson:"expires_at"`
}

type linkUsedDoc struct {
	ID        string    `bson:"_id"`
	UsedAt    time.Time `bson:"used_at"`
	ExpiresAt time.Time `bson:"expires_at"`
}

func (db *DB) sessions() *mongo.Collection  { return db.db.Collection(collSessions) }
func (db *DB) links() *mongo.Collection     { return db.db.Collection(collLinks) }
func (db *DB) linksUsed() *mongo.Collection { return db.db.Collection(collLinksUsed) }

// prepareSessions creates the sweep's indexes; Open calls it.
func (db *DB) prepareSessions(ctx context.Context) error {
	plain := func(name string, keys bson.D) mongo.IndexModel {
		return mongo.IndexModel{Keys: keys, Options: options.Index().SetName(name)}
	}
	if err := createMissingIndexes(ctx, db.sessions(), []mongo.IndexModel{
		plain("expires_at", bson.D{{Key: "expires_at", Value: 1}}),
		plain("last_seen_at", bson.D{{Key: "last_seen_at", Value: 1}}),
	}); err != nil {
		return err
	}
	for _, c := range []*mongo.Collection{db.links(), db.linksUsed()} {
		if err := createMissingIndexes(ctx, c, []mongo.IndexModel{plain("expires_at", bson.D{{Key: "expires_at", Value: 1}})}); err != nil {
			return err
		}
	}
	return nil
}

// CreateSession stores s; ErrConflict if its ID exists.
func (db *DB) CreateSession(ctx context.Context, s *store.Session) error {
	if s.ID == "" || s.StaffID == "" || s.ExpiresAt.IsZero() {
		return fmt.Errorf("mongo: create session: needs id, staff and expiry: %w", store.ErrInvalid)
	}
	_, err := db.sessions().InsertOne(ctx, &sessionDoc{ID: s.ID, StaffID: s.StaffID, CSRF: s.CSRF, Method: s.Method,
		CreatedAt: s.CreatedAt.UTC(), LastSeenAt: s.LastSeenAt.UTC(), ExpiresAt: s.ExpiresAt.UTC()})
	if mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("mongo: create session: %w", store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("mongo: create session: %w", err)
	}
	return nil
}

// FindSession returns ErrNotFound if there is no session id.
func (db *DB) FindSession(ctx context.Context, id string) (*store.Session, error) {
	var d sessionDoc
	err := db.sessions().FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if err == mongo.ErrNoDocuments {
		return nil, fmt.Errorf("mongo: find session: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: find session: %w", err)
	}
	return &store.Session{ID: d.ID, StaffID: d.StaffID, CSRF: d.CSRF, Method: d.Method,
		CreatedAt: utc(d.CreatedAt), LastSeenAt: utc(d.LastSeenAt), ExpiresAt: utc(d.ExpiresAt)}, nil
}

// TouchSession raises LastSeenAt to at. Two touches racing on FerretDB may
// leave the earlier time; both are within moments of each other, which is
// all the idle limit needs.
func (db *DB) TouchSession(ctx context.Context, id string, at time.Time) error {
	res, err := db.sessions().UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: "last_seen_at", Value: bson.D{{Key: "$lt", Value: at.UTC()}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "last_seen_at", Value: at.UTC()}}}})
	if err != nil {
		return fmt.Errorf("mongo: touch session: %w", err)
	}
	if res.MatchedCount > 0 {
		return nil
	}
	n, err := db.sessions().CountDocuments(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return fmt.Errorf("mongo: touch session: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("mongo: touch session: %w", store.ErrNotFound)
	}
	return nil
}

// DeleteSession removes a session; an absent one is no error.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	if _, err := db.sessions().DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("mongo: delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes ended sessions and expired login links.
func (db *DB) DeleteExpiredSessions(ctx context.Context, idleBefore, now time.Time) (int64, error) {
	res, err := db.sessions().DeleteMany(ctx, bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "expires_at", Value: bson.D{{Key: "$lte", Value: now.UTC()}}}},
		bson.D{{Key: "last_seen_at", Value: bson.D{{Key: "$lt", Value: idleBefore.UTC()}}}},
	}}})
	if err != nil {
		return 0, fmt.Errorf("mongo: delete expired sessions: %w", err)
	}
	expired := bson.D{{Key: "expires_at", Value: bson.D{{Key: "$lte", Value: now.UTC()}}}}
	// Links before their markers: a marker outliving its link refuses
	// nothing, a link outliving its marker would be good once more (were
	// it not expired, which the redemption checks too).
	for _, c := range []*mongo.Collection{db.links(), db.linksUsed()} {
		if _, err := c.DeleteMany(ctx, expired); err != nil {
			return 0, fmt.Errorf("mongo: delete expired login links: %w", err)
		}
	}
	return res.DeletedCount, nil
}

// CreateLoginLink stores l; ErrConflict if its ID exists.
func (db *DB) CreateLoginLink(ctx context.Context, l *store.LoginLink) error {
	if l.ID == "" || l.StaffID == "" || l.ExpiresAt.IsZero() {
		return fmt.Errorf("mongo: create login link: needs id, staff and expiry: %w", store.ErrInvalid)
	}
	_, err := db.links().InsertOne(ctx, &linkDoc{ID: l.ID, StaffID: l.StaffID, Next: l.Next,
		CreatedAt: l.CreatedAt.UTC(), ExpiresAt: l.ExpiresAt.UTC()})
	if mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("mongo: create login link: %w", store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("mongo: create login link: %w", err)
	}
	return nil
}

// RedeemLoginLink marks the link used by inserting its marker and returns
// it, if it is still valid.
func (db *DB) RedeemLoginLink(ctx context.Context, id string, now time.Time) (*store.LoginLink, error) {
	var d linkDoc
	err := db.links().FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if err == mongo.ErrNoDocuments || (err == nil && !utc(d.ExpiresAt).After(now)) {
		return nil, fmt.Errorf("mongo: redeem login link: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: redeem login link: %w", err)
	}
	_, err = db.linksUsed().InsertOne(ctx, &linkUsedDoc{ID: id, UsedAt: now.UTC(), ExpiresAt: d.ExpiresAt})
	if mongo.IsDuplicateKeyError(err) {
		return nil, fmt.Errorf("mongo: redeem login link: used: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: redeem login link: %w", err)
	}
	// The marker decides; deleting the link only tidies up (a failure
	// leaves it for the sweep, still refused by its marker).
	_, _ = db.links().DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	return &store.LoginLink{ID: d.ID, StaffID: d.StaffID, Next: d.Next, CreatedAt: utc(d.CreatedAt), ExpiresAt: utc(d.ExpiresAt)}, nil
}
