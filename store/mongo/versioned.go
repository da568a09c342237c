package mongo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scrmhq/scrm/store"
)

// Versioned records — campaigns, journeys, journey runs — are written by
// compare-and-set: an update names the version it read and writes version
// v+1 only if the record is still at v, so of two writers who read v one
// wins and the other gets store.ErrConflict. On MongoDB an update filtered
// on the version would do that. FerretDB v1 runs an update as a read, then
// a write of the whole document, so two updates filtered on one version can
// both match (the contract's race tests saw two winners many times a
// second). The one write it makes atomic is an insert into a unique index,
// so this file is the one way those records are updated:
//
//   - writing version v+1 of a record inserts its token
//     "<collection>:<id>#<v+1>" into the versions collection, holding what
//     the write sets; of two writers who read v one inserts it and the
//     other gets a duplicate key;
//   - the winner checks that no later token exists (a token pruned from
//     under a stale writer can be inserted again), then sets the record —
//     FerretDB's update is not atomic, but only the winner writes — and
//     prunes the tokens before v (the token of v stays, so a writer still
//     holding v finds v+1 taken);
//   - a record found behind its latest token (a crash between the insert
//     and the set) is set from the token when read by ID or when a write to
//     it conflicts. Lists read the records as they are.
const collVersions = "versions"

// versionToken is the token of one version of a versioned record.
type versionToken struct {
	ID       string `bson:"_id"` // versionTokenID(Coll, Record, Version)
	Coll     string `bson:"coll"`
	Record   string `bson:"record"`
	Version  int64  `bson:"version"`
	Customer string `bson:"customer_id,omitempty"` // a journey run's: erased with the customer
	Set      bson.D `bson:"set"`                   // what the write sets on the record
}

func versionTokenID(coll, record string, version int64) string {
	return fmt.Sprintf("%s:%s#%019d", coll, record, version)
}

// prepareVersions creates the token indexes; Open calls it.
func (db *DB) prepareVersions(ctx context.Context) error {
	return createMissingIndexes(ctx, db.coll(collVersions), []mongo.IndexModel{
		{Keys: bson.D{{Key: "coll", Value: 1}, {Key: "record", Value: 1}, {Key: "version", Value: -1}}, Options: options.Index().SetName("record")},
		{Keys: bson.D{{Key: "customer_id", Value: 1}}, Options: options.Index().SetName("customer")},
	})
}

// latestToken is the latest token of a record, nil if it has none.
func (db *DB) latestToken(ctx context.Context, coll, record string) (*versionToken, error) {
	var v versionToken
	err := db.coll(collVersions).FindOne(ctx, bson.D{{Key: "coll", Value: coll}, {Key: "record", Value: record}},
		options.FindOne().SetSort(bson.D{{Key: "version", Value: -1}})).Decode(&v)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: versions of %s %s: %w", coll, record, err)
	}
	return &v, nil
}

// catchUp sets the record from its latest token if the record is behind
// it (version is the record's), and reports the token it applied.
func (db *DB) catchUp(ctx context.Context, coll, record string, version int64) (*versionToken, error) {
	v, err := db.latestToken(ctx, coll, record)
	if err != nil || v == nil || v.Version <= version {
		return nil, err
	}
	if _, err := db.coll(coll).UpdateOne(ctx, bson.D{{Key: "_id", Value: record}, {Key: "version", Value: bson.D{{Key: "$lt", Value: v.Version}}}},
		bson.D{{Key: "$set", Value: v.Set}}); err != nil {
		return nil, fmt.Errorf("mongo: catch up %s %s: %w", coll, record, err)
	}
	return v, nil
}

// compareAndSet writes set (which must set "version" to version+1) on the
// record id of coll if its version is still version: ErrConflict if another
// write came first, ErrNotFound if there is no such record. customer names
// the customer the record belongs to, if any, so an erase finds its tokens.
func (db *DB) compareAndSet(ctx context.Context, coll, what, id, customer string, version int64, set bson.D) error {
	var head struct {
		Version int64 `bson:"version"`
	}
	err := db.coll(coll).FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(bson.D{{Key: "version", Value: 1}})).Decode(&head)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("mongo: update %s %s: %w", what, id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("mongo: update %s: %w", what, err)
	}
	conflict := func() error {
		if _, err := db.catchUp(ctx, coll, id, head.Version); err != nil {
			return err
		}
		return fmt.Errorf("mongo: update %s %s: changed meanwhile: %w", what, id, store.ErrConflict)
	}
	if head.Version > version {
		return conflict()
	}
	next := version + 1
	token := versionToken{ID: versionTokenID(coll, id, next), Coll: coll, Record: id, Version: next, Customer: customer, Set: set}
	if _, err := db.coll(collVersions).InsertOne(ctx, &token); mongo.IsDuplicateKeyError(err) {
		return conflict()
	} else if err != nil {
		return fmt.Errorf("mongo: update %s: %w", what, err)
	}
	if later, err := db.latestToken(ctx, coll, id); err != nil {
		return err
	} else if later.Version > next {
		// Our token was pruned once and stood again: a stale write.
		_, _ = db.coll(collVersions).DeleteOne(ctx, bson.D{{Key: "_id", Value: token.ID}})
		return conflict()
	}
	if _, err := db.coll(coll).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "version", Value: bson.D{{Key: "$lt", Value: next}}}},
		bson.D{{Key: "$set", Value: set}}); err != nil {
		return fmt.Errorf("mongo: update %s: %w", what, err)
	}
	if _, err := db.coll(collVersions).DeleteMany(ctx, bson.D{{Key: "coll", Value: coll}, {Key: "record", Value: id},
		{Key: "version", Value: bson.D{{Key: "$lt", Value: version}}}}); err != nil {
		return fmt.Errorf("mongo: prune versions of %s: %w", what, err)
	}
	return nil
}

// latestDoc is the JSON of the record read at version, or of its latest
// token when the record is behind it (which it then catches up).
func (db *DB) latestDoc(ctx context.Context, coll, id string, version int64, doc string) (string, error) {
	v, err := db.catchUp(ctx, coll, id, version)
	if err != nil || v == nil {
		return doc, err
	}
	for _, e := range v.Set {
		if s, ok := e.Value.(string); ok && e.Key == "doc" {
			return s, nil
		}
	}
	return doc, nil
}

// jsonVersionSet is what writing next, the JSON record's version version+1,
// sets on its document.
func jsonVersionSet(version int64, next any) (bson.D, error) {
	raw, err := json.Marshal(next)
	if err != nil {
		return nil, err
	}
	return bson.D{{Key: "version", Value: version + 1}, {Key: "doc", Value: string(raw)}}, nil
}

// updateJSON writes next as version version+1 of the JSON record id (a
// jsonDoc) of coll, over version.
func (db *DB) updateJSON(ctx context.Context, coll, what, id string, version int64, next any) error {
	set, err := jsonVersionSet(version, next)
	if err != nil {
		return fmt.Errorf("mongo: update %s: %w", what, err)
	}
	return db.compareAndSet(ctx, coll, what, id, "", version, set)
}

// findVersionedJSON reads the JSON record id (a jsonDoc) of coll at its
// latest version.
func findVersionedJSON[T any](ctx context.Context, db *DB, coll, what, id string) (*T, error) {
	d, err := findJSONDoc(ctx, db.coll(coll), what, id)
	if err != nil {
		return nil, err
	}
	if d.Doc, err = db.latestDoc(ctx, coll, id, d.Version, d.Doc); err != nil {
		return nil, err
	}
	return decodeJSON[T](what, d)
}
