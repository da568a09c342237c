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

// The quick-reply library (store.QuickReplyStore): plain documents, finds
// and $set through findOneAndUpdate, inside the portable subset. A use is
// not a $inc — FerretDB v1 loses concurrent ones (see the package comment)
// — but an insert of its own small document into quick_reply_uses, counted
// with $group/$sum (which FerretDB v1 runs) when replies are read.

const (
	collQuickReplies   = "quick_replies"
	collQuickReplyUses = "quick_reply_uses"
)

type quickReplyUseDoc struct {
	ID    bson.ObjectID `bson:"_id"`
	Reply string        `bson:"reply"`
	At    time.Time     `bson:"at"`
}

func (db *DB) quickReplyUses() *mongo.Collection { return db.db.Collection(collQuickReplyUses) }

// prepareQuickReplies creates the index uses are counted by; Open calls it.
func (db *DB) prepareQuickReplies(ctx context.Context) error {
	return createMissingIndexes(ctx, db.quickReplyUses(), []mongo.IndexModel{
		{Keys: bson.D{{Key: "reply", Value: 1}}, Options: options.Index().SetName("reply")},
	})
}

// uses counts the uses of ids (every reply when ids is empty).
func (db *DB) uses(ctx context.Context, ids ...string) (map[string]int64, error) {
	pipe := mongo.Pipeline{}
	if len(ids) > 0 {
		pipe = append(pipe, bson.D{{Key: "$match", Value: bson.D{{Key: "reply", Value: bson.D{{Key: "$in", Value: ids}}}}}})
	}
	pipe = append(pipe, bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$reply"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}})
	cur, err := db.quickReplyUses().Aggregate(ctx, pipe)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		ID string `bson:"_id"`
		N  int64  `bson:"n"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.ID] = r.N
	}
	return out, nil
}

type quickReplyDoc struct {
	ID        string    `bson:"_id"`
	Group     string    `bson:"group"`
	Title     string    `bson:"title"`
	Text      string    `bson:"text"`
	Uses      int64     `bson:"uses"`
	CreatedBy string    `bson:"created_by"`
	CreatedAt time.Time `bson:"created_at"`
	UpdatedAt time.Time `bson:"updated_at"`
}

func (d *quickReplyDoc) out() *store.QuickReply {
	return &store.QuickReply{ID: d.ID, Group: d.Group, Title: d.Title, Text: d.Text, Uses: d.Uses,
		CreatedBy: d.CreatedBy, CreatedAt: utc(d.CreatedAt), UpdatedAt: utc(d.UpdatedAt)}
}

func (db *DB) quickReplies() *mongo.Collection { return db.db.Collection(collQuickReplies) }

// CreateQuickReply stores q; ErrConflict if its ID exists.
func (db *DB) CreateQuickReply(ctx context.Context, q *store.QuickReply) error {
	if q.ID == "" || q.Text == "" {
		return fmt.Errorf("mongo: create quick reply: needs id and text: %w", store.ErrInvalid)
	}
	_, err := db.quickReplies().InsertOne(ctx, &quickReplyDoc{ID: q.ID, Group: q.Group, Title: q.Title, Text: q.Text,
		Uses: q.Uses, CreatedBy: q.CreatedBy, CreatedAt: q.CreatedAt.UTC(), UpdatedAt: q.UpdatedAt.UTC()})
	if mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("mongo: create quick reply %s: %w", q.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("mongo: create quick reply %s: %w", q.ID, err)
	}
	return nil
}

// FindQuickReplyByID returns ErrNotFound if there is none.
func (db *DB) FindQuickReplyByID(ctx context.Context, id string) (*store.QuickReply, error) {
	var d quickReplyDoc
	err := db.quickReplies().FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if err == mongo.ErrNoDocuments {
		return nil, fmt.Errorf("mongo: find quick reply %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: find quick reply %s: %w", id, err)
	}
	n, err := db.uses(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("mongo: find quick reply %s: uses: %w", id, err)
	}
	d.Uses += n[id]
	return d.out(), nil
}

// FindQuickReplies returns every quick reply by group, title and ID.
func (db *DB) FindQuickReplies(ctx context.Context) ([]*store.QuickReply, error) {
	cur, err := db.quickReplies().Find(ctx, bson.D{},
		options.Find().SetSort(bson.D{{Key: "group", Value: 1}, {Key: "title", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: find quick replies: %w", err)
	}
	var docs []quickReplyDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo: find quick replies: %w", err)
	}
	n, err := db.uses(ctx)
	if err != nil {
		return nil, fmt.Errorf("mongo: find quick replies: uses: %w", err)
	}
	out := make([]*store.QuickReply, 0, len(docs))
	for i := range docs {
		docs[i].Uses += n[docs[i].ID]
		out = append(out, docs[i].out())
	}
	return out, nil
}

func (db *DB) modifyQuickReply(ctx context.Context, op, id string, update bson.D) (*quickReplyDoc, error) {
	var d quickReplyDoc
	err := db.quickReplies().FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: id}}, update,
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if err == mongo.ErrNoDocuments {
		return nil, fmt.Errorf("mongo: %s %s: %w", op, id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: %s %s: %w", op, id, err)
	}
	return &d, nil
}

// UpdateQuickReply applies upd; ErrNotFound if there is none.
func (db *DB) UpdateQuickReply(ctx context.Context, id string, upd store.QuickReplyUpdate) (*store.QuickReply, error) {
	set := bson.D{{Key: "updated_at", Value: upd.At.UTC()}}
	for _, f := range []struct {
		key string
		v   *string
	}{{"group", upd.Group}, {"title", upd.Title}, {"text", upd.Text}} {
		if f.v != nil {
			set = append(set, bson.E{Key: f.key, Value: *f.v})
		}
	}
	d, err := db.modifyQuickReply(ctx, "update quick reply", id, bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return nil, err
	}
	n, err := db.uses(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("mongo: update quick reply %s: uses: %w", id, err)
	}
	d.Uses += n[id]
	return d.out(), nil
}

// DeleteQuickReply removes it; ErrNotFound if there is none.
func (db *DB) DeleteQuickReply(ctx context.Context, id string) error {
	res, err := db.quickReplies().DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return fmt.Errorf("mongo: delete quick reply %s: %w", id, err)
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("mongo: delete quick reply %s: %w", id, store.ErrNotFound)
	}
	// Uses of a deleted reply count for nothing; a failure leaves orphans
	// that no read returns.
	_, _ = db.quickReplyUses().DeleteMany(ctx, bson.D{{Key: "reply", Value: id}})
	return nil
}

// CountQuickReplyUse records one use as its own document and returns the
// count including it.
func (db *DB) CountQuickReplyUse(ctx context.Context, id string) (int64, error) {
	if n, err := db.quickReplies().CountDocuments(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return 0, fmt.Errorf("mongo: count quick reply use %s: %w", id, err)
	} else if n == 0 {
		return 0, fmt.Errorf("mongo: count quick reply use %s: %w", id, store.ErrNotFound)
	}
	if _, err := db.quickReplyUses().InsertOne(ctx, &quickReplyUseDoc{ID: bson.NewObjectID(), Reply: id, At: time.Now().UTC()}); err != nil {
		return 0, fmt.Errorf("mongo: count quick reply use %s: %w", id, err)
	}
	q, err := db.FindQuickReplyByID(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("mongo: count quick reply use %s: %w", id, err)
	}
	return q.Uses, nil
}
