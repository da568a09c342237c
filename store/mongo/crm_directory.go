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

// This file holds the small CRM records: staff, tags and the audit log.

type staffDoc struct {
	ID          string   `bson:"_id"`
	Name        string   `bson:"name"`
	Role        string   `bson:"role"`
	Departments []int64  `bson:"departments,omitempty"`
	Team        []string `bson:"team,omitempty"`
	Active      bool     `bson:"active"`
	Source      string   `bson:"source,omitempty"`
	Manual      []string `bson:"manual,omitempty"`
}

// UpsertStaff creates or replaces a staff member by ID.
func (db *DB) UpsertStaff(ctx context.Context, s *store.Staff) error {
	if s.ID == "" {
		return fmt.Errorf("mongo: upsert staff: empty id: %w", store.ErrInvalid)
	}
	doc := &staffDoc{ID: s.ID, Name: s.Name, Role: s.Role, Departments: s.Departments, Team: s.Team, Active: s.Active,
		Source: s.Source, Manual: s.Manual}
	err := retryDup(func() error {
		_, err := db.crm.staff.ReplaceOne(ctx, bson.D{{Key: "_id", Value: s.ID}}, doc, options.Replace().SetUpsert(true))
		return err
	})
	if err != nil {
		return fmt.Errorf("mongo: upsert staff %s: %w", s.ID, err)
	}
	return nil
}

// FindStaffByID returns ErrNotFound if there is no such member.
func (db *DB) FindStaffByID(ctx context.Context, id string) (*store.Staff, error) {
	var d staffDoc
	err := db.crm.staff.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("mongo: find staff %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: find staff %s: %w", id, err)
	}
	return d.staff(), nil
}

// FindStaff returns every staff member ordered by ID.
func (db *DB) FindStaff(ctx context.Context) ([]*store.Staff, error) {
	cur, err := db.crm.staff.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: find staff: %w", err)
	}
	var docs []staffDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo: find staff: %w", err)
	}
	out := make([]*store.Staff, len(docs))
	for i := range docs {
		out[i] = docs[i].staff()
	}
	return out, nil
}

func (d *staffDoc) staff() *store.Staff {
	return &store.Staff{ID: d.ID, Name: d.Name, Role: d.Role, Departments: d.Departments, Team: d.Team, Active: d.Active,
		Source: d.Source, Manual: d.Manual}
}

type tagDoc struct {
	ID        string `bson:"_id"`
	Name      string `bson:"name"`
	GroupID   string `bson:"group_id"`
	GroupName string `bson:"group_name"`
	Order     int64  `bson:"order"`
	Local     bool   `bson:"local"`
	Deleted   bool   `bson:"deleted"`
}

// UpsertTags creates or replaces tags by ID.
func (db *DB) UpsertTags(ctx context.Context, tags []store.Tag) error {
	for _, t := range tags {
		if t.ID == "" || t.Name == "" {
			return fmt.Errorf("mongo: upsert tags: tag %q/%q: %w", t.ID, t.Name, store.ErrInvalid)
		}
	}
	for _, t := range tags {
		doc := &tagDoc{ID: t.ID, Name: t.Name, GroupID: t.GroupID, GroupName: t.GroupName, Order: t.Order, Local: t.Local, Deleted: t.Deleted}
		err := retryDup(func() error {
			_, err := db.crm.tags.ReplaceOne(ctx, bson.D{{Key: "_id", Value: t.ID}}, doc, options.Replace().SetUpsert(true))
			return err
		})
		if err != nil {
			return fmt.Errorf("mongo: upsert tag %s: %w", t.ID, err)
		}
	}
	return nil
}

// DeleteTags marks tags deleted.
func (db *DB) DeleteTags(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := db.crm.tags.UpdateMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "deleted", Value: true}}}}); err != nil {
		return fmt.Errorf("mongo: delete tags: %w", err)
	}
	return nil
}

// FindTags returns the tags not deleted.
func (db *DB) FindTags(ctx context.Context) ([]store.Tag, error) {
	cur, err := db.crm.tags.Find(ctx, bson.D{{Key: "deleted", Value: false}},
		options.Find().SetSort(bson.D{{Key: "group_id", Value: 1}, {Key: "order", Value: -1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: find tags: %w", err)
	}
	var docs []tagDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo: find tags: %w", err)
	}
	out := make([]store.Tag, len(docs))
	for i, d := range docs {
		out[i] = store.Tag{ID: d.ID, Name: d.Name, GroupID: d.GroupID, GroupName: d.GroupName, Order: d.Order, Local: d.Local}
	}
	return out, nil
}

type auditDoc struct {
	ID     int64     `bson:"_id"`
	Actor  string    `bson:"actor"`
	Action string    `bson:"action"`
	Target string    `bson:"target"`
	Detail string    `bson:"detail,omitempty"`
	At     time.Time `bson:"at"`
}

// AppendAudit stores e and sets e.ID.
func (db *DB) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	if e.Actor == "" || e.Action == "" {
		return fmt.Errorf("mongo: append audit: actor and action are required: %w", store.ErrInvalid)
	}
	at := e.At
	if at.IsZero() {
		at = time.Now()
	}
	for range maxAppendRounds {
		id, err := db.reserveIDs(ctx, collAudit, 1)
		if err != nil {
			return fmt.Errorf("mongo: append audit: %w", err)
		}
		_, err = db.crm.audit.InsertOne(ctx, &auditDoc{ID: id, Actor: e.Actor, Action: e.Action, Target: e.Target, Detail: e.Detail, At: at})
		if mongo.IsDuplicateKeyError(err) {
			continue // an ID collision (FerretDB's racy counter): take a new ID
		}
		if err != nil {
			return fmt.Errorf("mongo: append audit %s: %w", e.Action, err)
		}
		e.ID, e.At = id, utc(at)
		return nil
	}
	return fmt.Errorf("mongo: append audit: ids kept colliding: %w", store.ErrConflict)
}

// FindAudit returns entries newest first.
func (db *DB) FindAudit(ctx context.Context, target string, beforeID int64, limit int) ([]*store.AuditEntry, error) {
	if limit <= 0 {
		limit = 50
	}
	filter := bson.D{}
	if target != "" {
		filter = append(filter, bson.E{Key: "target", Value: target})
	}
	if beforeID > 0 {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$lt", Value: beforeID}}})
	}
	out, err := db.findAuditDocs(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("mongo: find audit: %w", err)
	}
	return out, nil
}

// FindAuditByAction returns action's entries in [from, to), oldest first.
func (db *DB) FindAuditByAction(ctx context.Context, action string, from, to time.Time, limit int) ([]*store.AuditEntry, error) {
	if limit <= 0 {
		limit = 1000
	}
	filter := bson.D{{Key: "action", Value: action}, {Key: "at", Value: bson.D{{Key: "$gte", Value: from.UTC()}, {Key: "$lt", Value: to.UTC()}}}}
	out, err := db.findAuditDocs(ctx, filter, options.Find().SetSort(bson.D{{Key: "at", Value: 1}, {Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("mongo: find audit by action: %w", err)
	}
	return out, nil
}

func (db *DB) findAuditDocs(ctx context.Context, filter bson.D, opts *options.FindOptionsBuilder) ([]*store.AuditEntry, error) {
	cur, err := db.crm.audit.Find(ctx, filter, opts)
	if err != nil {
		return nil, err
	}
	var docs []auditDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := make([]*store.AuditEntry, len(docs))
	for i, d := range docs {
		out[i] = &store.AuditEntry{ID: d.ID, Actor: d.Actor, Action: d.Action, Target: d.Target, Detail: d.Detail, At: utc(d.At)}
	}
	return out, nil
}
