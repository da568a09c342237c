package store

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Typed state of two long-running flows that used to live in the cursors as
// JSON: handovers (在职继承 / 离职继承) and the inbox's offers and claims of
// unassigned customers, with the 微信客服 account each kf user wrote to.
// Each record names its customer (or the customer's identity), so erasing
// the customer deletes it. A database from before keeps its state: each
// backend's Open moves the old cursors here (handover:<customer>:<from>,
// inbox:offer:<customer>, inbox:claimed:<customer>:<round>,
// kf:account:<external_userid>).

// Handover is one handover of a customer from one member to another, as
// stored and as the API returns it. A customer has at most one handover by
// each member handing over: a new one replaces a settled one.
type Handover struct {
	ID             string     `json:"id"`
	CustomerID     string     `json:"customer_id"`
	ExternalUserID string     `json:"external_userid"`
	From           string     `json:"from"`
	To             string     `json:"to"`
	Resigned       bool       `json:"resigned"`
	Message        string     `json:"message,omitempty"`
	By             string     `json:"by"` // who asked: a staff ID or "admin"
	Status         string     `json:"status"`
	Reason         string     `json:"reason,omitempty"` // why it failed, for staff
	Submitted      bool       `json:"submitted"`        // WeCom accepted the start
	StartedAt      time.Time  `json:"started_at"`
	TakeoverAt     *time.Time `json:"takeover_at,omitempty"` // expected while pending, actual when done
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
}

// InboxOffer is the inbox's memory of an unassigned customer: the current
// round of offers, who it went to, and who claimed it.
type InboxOffer struct {
	CustomerID string    `json:"customer_id"`
	Round      int       `json:"round"` // only grows, so a round's claim key never repeats
	To         []string  `json:"to,omitempty"`
	At         time.Time `json:"at"`
	Opener     string    `json:"opener,omitempty"` // the event that opened the round
	ClaimedBy  string    `json:"claimed_by,omitempty"`
}

// HandoverStateStore keeps handovers.
type HandoverStateStore interface {
	// FindHandover returns the handover of customerID by from; ErrNotFound
	// when there is none.
	FindHandover(ctx context.Context, customerID, from string) (*Handover, error)
	// PutHandover stores h whole, replacing the handover of its CustomerID
	// by its From. ErrInvalid without CustomerID, From or ID.
	PutHandover(ctx context.Context, h *Handover) error
}

// InboxStateStore keeps the inbox's offers and claims and the 微信客服
// accounts of kf users.
type InboxStateStore interface {
	// FindInboxOffer returns the offer of customerID; ErrNotFound when the
	// customer was never offered.
	FindInboxOffer(ctx context.Context, customerID string) (*InboxOffer, error)
	// PutInboxOffer stores o whole, replacing the customer's offer.
	// ErrInvalid without CustomerID.
	PutInboxOffer(ctx context.Context, o *InboxOffer) error
	// SetClaimWinner records who won the claim of round of customerID.
	SetClaimWinner(ctx context.Context, customerID string, round int, staffID string) error
	// ClaimWinner returns who won the claim of round of customerID, "" when
	// nobody has yet.
	ClaimWinner(ctx context.Context, customerID string, round int) (string, error)
	// SetKFAccount records the 微信客服 account (open_kfid) a kf user last
	// wrote to: replies go out through it.
	SetKFAccount(ctx context.Context, externalUserID, openKfID string) error
	// KFAccount returns the account SetKFAccount recorded, "" when none.
	KFAccount(ctx context.Context, externalUserID string) (string, error)
}

// The cursor names the state had before it was typed; a backend's Open
// moves such cursors into the typed store.
const (
	LegacyHandoverCursor  = "handover:"      // + customer + ":" + from; JSON of Handover
	LegacyOfferCursor     = "inbox:offer:"   // + customer; JSON of InboxOffer without CustomerID
	LegacyClaimCursor     = "inbox:claimed:" // + customer + ":" + round; the winner
	LegacyKFAccountCursor = "kf:account:"    // + external_userid; the open_kfid
)

// ClaimRecord is who won one round's claim of a customer.
type ClaimRecord struct {
	CustomerID string
	Round      int
	StaffID    string
}

// KFAccountRecord is the 微信客服 account a kf user last wrote to.
type KFAccountRecord struct {
	ExternalUserID string
	OpenKfID       string
}

// LegacyStatePrefixes are the names of the old state cursors, for a
// backend's range scans.
var LegacyStatePrefixes = []string{LegacyHandoverCursor, LegacyOfferCursor, LegacyClaimCursor, LegacyKFAccountCursor}

// DecodeLegacyState turns an old state cursor into the record it becomes: a
// *Handover, an *InboxOffer, a ClaimRecord or a KFAccountRecord. ok is false
// for any other cursor and for one whose value does not decode (nothing
// could read it before either); a backend leaves those where they are.
func DecodeLegacyState(name, value string) (rec any, ok bool) {
	switch {
	case strings.HasPrefix(name, LegacyHandoverCursor):
		var h Handover
		if json.Unmarshal([]byte(value), &h) != nil || h.CustomerID == "" || h.From == "" || h.ID == "" {
			return nil, false
		}
		return &h, true
	case strings.HasPrefix(name, LegacyOfferCursor):
		var o InboxOffer
		if json.Unmarshal([]byte(value), &o) != nil {
			return nil, false
		}
		o.CustomerID = strings.TrimPrefix(name, LegacyOfferCursor)
		return &o, o.CustomerID != ""
	case strings.HasPrefix(name, LegacyClaimCursor):
		rest := strings.TrimPrefix(name, LegacyClaimCursor)
		i := strings.LastIndexByte(rest, ':')
		if i <= 0 || value == "" {
			return nil, false
		}
		customer := rest[:i]
		n, err := strconv.Atoi(rest[i+1:])
		if err != nil {
			return nil, false
		}
		return ClaimRecord{CustomerID: customer, Round: n, StaffID: value}, true
	case strings.HasPrefix(name, LegacyKFAccountCursor):
		ext := strings.TrimPrefix(name, LegacyKFAccountCursor)
		return KFAccountRecord{ExternalUserID: ext, OpenKfID: value}, ext != "" && value != ""
	}
	return nil, false
}
