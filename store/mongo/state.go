package mongo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scrmhq/scrm/store"
)

// The typed state of handovers and the inbox (store.HandoverStateStore,
// store.InboxStateStore), and its move out of the cursors of older
// databases. Each document is written whole by an upsert on its _id; the
// ones of a customer carry customer_id so that an erase finds them.
const (
	collHandovers   = "handovers"
	collOffers      = "inbox_offers"
	collInboxClaims = "inbox_claims"
	collKFAccounts  = "kf_accounts"
)

type handoverDoc struct {
	CustomerID     string     `bson:"customer_id"`
	From           string     `bson:"from"`
	HandoverID     string     `bson:"handover_id"`
	ExternalUserID string     `bson:"external_userid"`
	To             string     `bson:"to"`
	Resigned       bool       `bson:"resigned"`
	Message        string     `bson:"message"`
	By             string     `bson:"by"`
	Status         string     `bson:"status"`
	Reason         string     `bson:"reason"`
	Submitted      bool       `bson:"submitted"`
	StartedAt      time.Time  `bson:"started_at"`
	TakeoverAt     *time.Time `bson:"takeover_at"`
	FinishedAt     *time.Time `bson:"finished_at"`
}

type offerDoc struct {
	CustomerID string    `bson:"customer_id"`
	Round      int       `bson:"round"`
	To         []string  `bson:"to"`
	At         time.Time `bson:"at"`
	Opener     string    `bson:"opener"`
	ClaimedBy  string    `bson:"claimed_by"`
}

type inboxClaimDoc struct {
	CustomerID string `bson:"customer_id"`
	Round      int    `bson:"round"`
	StaffID    string `bson:"staff_id"`
}

type kfAccountDoc struct {
	OpenKfID string `bson:"open_kfid"`
}

// prepareState creates the erase's indexes; Open calls it.
func (db *DB) prepareState(ctx context.Context) error {
	for _, name := range []string{collHandovers, collInboxClaims} {
		if err := createMissingIndexes(ctx, db.coll(name), []mongo.IndexModel{{Keys: bson.D{{Key: "customer_id", Value: 1}},
			Options: options.Index().SetName("customer")}}); err != nil {
			return err
		}
	}
	return nil
}

func handoverID(customerID, from string) string        { return customerID + ":" + from }
func inboxClaimID(customerID string, round int) string { return customerID + ":" + strconv.Itoa(round) }

// FindHandover returns ErrNotFound when customerID has no handover by from.
func (db *DB) FindHandover(ctx context.Context, customerID, from string) (*store.Handover, error) {
	var d handoverDoc
	if err := db.findState(ctx, collHandovers, handoverID(customerID, from), &d); err != nil {
		return nil, fmt.Errorf("mongo: find handover of %s by %s: %w", customerID, from, err)
	}
	return &store.Handover{ID: d.HandoverID, CustomerID: d.CustomerID, ExternalUserID: d.ExternalUserID, From: d.From,
		To: d.To, Resigned: d.Resigned, Message: d.Message, By: d.By, Status: d.Status, Reason: d.Reason,
		Submitted: d.Submitted, StartedAt: d.StartedAt.UTC(), TakeoverAt: utcOrNil(d.TakeoverAt), FinishedAt: utcOrNil(d.FinishedAt)}, nil
}

// PutHandover replaces the handover of h's customer by h.From.
func (db *DB) PutHandover(ctx context.Context, h *store.Handover) error {
	if err := db.putState(ctx, "$set", h); err != nil {
		return fmt.Errorf("mongo: put handover: %w", err)
	}
	return nil
}

// FindInboxOffer returns ErrNotFound when customerID was never offered.
func (db *DB) FindInboxOffer(ctx context.Context, customerID string) (*store.InboxOffer, error) {
	var d offerDoc
	if err := db.findState(ctx, collOffers, customerID, &d); err != nil {
		return nil, fmt.Errorf("mongo: find inbox offer of %s: %w", customerID, err)
	}
	return &store.InboxOffer{CustomerID: d.CustomerID, Round: d.Round, To: d.To, At: d.At.UTC(), Opener: d.Opener,
		ClaimedBy: d.ClaimedBy}, nil
}

// PutInboxOffer replaces the offer of o's customer.
func (db *DB) PutInboxOffer(ctx context.Context, o *store.InboxOffer) error {
	if err := db.putState(ctx, "$set", o); err != nil {
		return fmt.Errorf("mongo: put inbox offer: %w", err)
	}
	return nil
}

// SetClaimWinner records who won round's claim of customerID.
func (db *DB) SetClaimWinner(ctx context.Context, customerID string, round int, staffID string) error {
	if err := db.putState(ctx, "$set", store.ClaimRecord{CustomerID: customerID, Round: round, StaffID: staffID}); err != nil {
		return fmt.Errorf("mongo: set claim winner: %w", err)
	}
	return nil
}

// ClaimWinner returns who won round's claim of customerID, "" if nobody.
func (db *DB) ClaimWinner(ctx context.Context, customerID string, round int) (string, error) {
	var d inboxClaimDoc
	if err := db.findState(ctx, collInboxClaims, inboxClaimID(customerID, round), &d); errors.Is(err, store.ErrNotFound) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("mongo: claim winner: %w", err)
	}
	return d.StaffID, nil
}

// SetKFAccount records the 微信客服 account externalUserID last wrote to.
func (db *DB) SetKFAccount(ctx context.Context, externalUserID, openKfID string) error {
	if err := db.putState(ctx, "$set", store.KFAccountRecord{ExternalUserID: externalUserID, OpenKfID: openKfID}); err != nil {
		return fmt.Errorf("mongo: set kf account: %w", err)
	}
	return nil
}

// KFAccount returns the account SetKFAccount recorded, "" if none.
func (db *DB) KFAccount(ctx context.Context, externalUserID string) (string, error) {
	var d kfAccountDoc
	if err := db.findState(ctx, collKFAccounts, externalUserID, &d); errors.Is(err, store.ErrNotFound) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("mongo: kf account: %w", err)
	}
	return d.OpenKfID, nil
}

func (db *DB) findState(ctx context.Context, coll, id string, into any) error {
	err := db.coll(coll).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(into)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return store.ErrNotFound
	}
	return err
}

// putState upserts the document of rec (a *store.Handover, an
// *store.InboxOffer, a store.ClaimRecord or a store.KFAccountRecord): op
// "$set" replaces what is there, "$setOnInsert" keeps it.
func (db *DB) putState(ctx context.Context, op string, rec any) error {
	var coll, id string
	var doc any
	switch r := rec.(type) {
	case *store.Handover:
		if r.CustomerID == "" || r.From == "" || r.ID == "" {
			return fmt.Errorf("handover needs id, customer and from: %w", store.ErrInvalid)
		}
		coll, id = collHandovers, handoverID(r.CustomerID, r.From)
		doc = handoverDoc{CustomerID: r.CustomerID, From: r.From, HandoverID: r.ID, ExternalUserID: r.ExternalUserID,
			To: r.To, Resigned: r.Resigned, Message: r.Message, By: r.By, Status: r.Status, Reason: r.Reason,
			Submitted: r.Submitted, StartedAt: r.StartedAt.UTC(), TakeoverAt: utcOrNil(r.TakeoverAt), FinishedAt: utcOrNil(r.FinishedAt)}
	case *store.InboxOffer:
		if r.CustomerID == "" {
			return fmt.Errorf("inbox offer needs a customer: %w", store.ErrInvalid)
		}
		coll, id = collOffers, r.CustomerID
		doc = offerDoc{CustomerID: r.CustomerID, Round: r.Round, To: r.To, At: r.At.UTC(), Opener: r.Opener, ClaimedBy: r.ClaimedBy}
	case store.ClaimRecord:
		coll, id = collInboxClaims, inboxClaimID(r.CustomerID, r.Round)
		doc = inboxClaimDoc(r)
	case store.KFAccountRecord:
		coll, id = collKFAccounts, r.ExternalUserID
		doc = kfAccountDoc{OpenKfID: r.OpenKfID}
	default:
		return fmt.Errorf("unknown state %T", rec)
	}
	return retryDup(func() error {
		_, err := db.coll(coll).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: op, Value: doc}},
			options.UpdateOne().SetUpsert(true))
		if op == "$setOnInsert" && mongo.IsDuplicateKeyError(err) {
			return nil // inserted meanwhile: kept as well
		}
		return err
	})
}

func utcOrNil(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// moveCursorState moves the state a database kept in cursors before it was
// typed (store.DecodeLegacyState) into its collections, at every Open. Each
// record is written (kept if already there, so the move never sets state
// back) before its cursor is deleted: a crash halfway loses nothing and the
// next Open finishes the move.
func (db *DB) moveCursorState(ctx context.Context) error {
	for _, prefix := range store.LegacyStatePrefixes {
		lo, hi := prefix, prefix[:len(prefix)-1]+";" // every name "<prefix>…": ':' + 1 is ';'
		cur, err := db.cursors.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$gte", Value: lo}, {Key: "$lt", Value: hi}}}})
		if err != nil {
			return fmt.Errorf("mongo: move state out of cursors: %w", err)
		}
		var docs []struct {
			Name  string `bson:"_id"`
			Value string `bson:"value"`
		}
		if err := cur.All(ctx, &docs); err != nil {
			return fmt.Errorf("mongo: move state out of cursors: %w", err)
		}
		for _, d := range docs {
			rec, ok := store.DecodeLegacyState(d.Name, d.Value)
			if !ok {
				continue
			}
			if err := db.putState(ctx, "$setOnInsert", rec); err != nil {
				return fmt.Errorf("mongo: move state %s: %w", d.Name, err)
			}
			if _, err := db.cursors.DeleteOne(ctx, bson.D{{Key: "_id", Value: d.Name}}); err != nil {
				return fmt.Errorf("mongo: move state %s: %w", d.Name, err)
			}
		}
	}
	return nil
}
