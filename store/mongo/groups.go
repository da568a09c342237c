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

// collGroups holds one document per customer group with its members
// embedded: a snapshot from WeCom replaces the whole document in one write,
// so a reader never sees half of one snapshot and half of another.
const collGroups = "customer_groups"

// groupDoc is a stored store.Group.
type groupDoc struct {
	ID          string           `bson:"_id"` // chat_id
	Name        string           `bson:"name"`
	OwnerID     string           `bson:"owner_id"`
	Notice      string           `bson:"notice"`
	CreatedAt   time.Time        `bson:"created_at"`
	Dismissed   bool             `bson:"dismissed"`
	DismissedAt *time.Time       `bson:"dismissed_at,omitempty"`
	UpdatedAt   time.Time        `bson:"updated_at"`
	Members     []groupMemberDoc `bson:"members"`
	// MemberKeys lists "id:<userid>" and "union:<unionid>" of the external
	// members: a flat array FerretDB can index and match with $in, which is
	// how a customer's groups and an erased customer's entries are found.
	MemberKeys []string `bson:"member_keys"`
	// Rev counts writes. Every write is conditional on the Rev it read, so
	// a writer that lost a race reads again instead of overwriting. (On
	// FerretDB v1 two such writes can still both pass; the next snapshot
	// of the group repairs whatever the loser would have written.)
	Rev int64 `bson:"rev"`
}

type groupMemberDoc struct {
	UserID    string    `bson:"user_id"`
	Type      int       `bson:"type"`
	JoinedAt  time.Time `bson:"joined_at"`
	JoinScene int       `bson:"join_scene"`
	UnionID   string    `bson:"unionid,omitempty"`
}

func memberIDKey(userID string) string   { return "id:" + userID }
func memberUnionKey(union string) string { return "union:" + union }

func memberKeys(ms []groupMemberDoc) []string {
	keys := []string{}
	for _, m := range ms {
		if m.Type != store.GroupMemberExternal {
			continue
		}
		keys = append(keys, memberIDKey(m.UserID))
		if m.UnionID != "" {
			keys = append(keys, memberUnionKey(m.UnionID))
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

func toMemberDocs(ms []store.GroupMember) []groupMemberDoc {
	out := make([]groupMemberDoc, len(ms))
	for i, m := range ms {
		out[i] = groupMemberDoc{UserID: m.UserID, Type: m.Type, JoinedAt: m.JoinedAt, JoinScene: m.JoinScene, UnionID: m.UnionID}
	}
	return out
}

func (d *groupDoc) group() *store.Group {
	g := &store.Group{ChatID: d.ID, Name: d.Name, OwnerID: d.OwnerID, Notice: d.Notice, CreatedAt: utc(d.CreatedAt),
		Dismissed: d.Dismissed, DismissedAt: utcPtr(d.DismissedAt), UpdatedAt: utc(d.UpdatedAt), Members: d.members()}
	return g
}

// members returns the members by join time, then user ID (as SQLite does).
func (d *groupDoc) members() []store.GroupMember {
	out := make([]store.GroupMember, len(d.Members))
	for i, m := range d.Members {
		out[i] = store.GroupMember{UserID: m.UserID, Type: m.Type, JoinedAt: utc(m.JoinedAt), JoinScene: m.JoinScene, UnionID: m.UnionID}
	}
	slices.SortFunc(out, func(a, b store.GroupMember) int {
		if c := a.JoinedAt.Compare(b.JoinedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.UserID, b.UserID)
	})
	return out
}

func (db *DB) groups() *mongo.Collection { return db.db.Collection(collGroups) }

// prepareGroups creates the group indexes; Open calls it.
func (db *DB) prepareGroups(ctx context.Context) error {
	plain := func(name string, keys bson.D) mongo.IndexModel {
		return mongo.IndexModel{Keys: keys, Options: options.Index().SetName(name)}
	}
	return createMissingIndexes(ctx, db.groups(), []mongo.IndexModel{
		plain("owner_id", bson.D{{Key: "owner_id", Value: 1}, {Key: "_id", Value: 1}}),
		plain("member_keys", bson.D{{Key: "member_keys", Value: 1}}),
	})
}

// maxGroupRounds bounds the read-write retries of one group write.
const maxGroupRounds = 20

func (db *DB) findGroupDoc(ctx context.Context, chatID string) (*groupDoc, error) {
	var d groupDoc
	err := db.groups().FindOne(ctx, bson.D{{Key: "_id", Value: chatID}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read group: %w", err)
	}
	return &d, nil
}

// replaceGroup writes d if the stored document still has rev; it reports
// false when another writer got there first.
func (db *DB) replaceGroup(ctx context.Context, d *groupDoc, rev int64) (bool, error) {
	res, err := db.groups().ReplaceOne(ctx, bson.D{{Key: "_id", Value: d.ID}, {Key: "rev", Value: rev}}, d)
	if err != nil {
		return false, fmt.Errorf("write group: %w", err)
	}
	return res.MatchedCount == 1, nil
}

// UpsertGroup replaces the group document when the stored one is older,
// re-reading after a concurrent write; the first snapshot of a group is an
// insert into the unique _id, which decides a race between two creators.
func (db *DB) UpsertGroup(ctx context.Context, g *store.Group) (store.GroupChange, error) {
	if err := store.ValidateGroup(g); err != nil {
		return store.GroupChange{}, fmt.Errorf("mongo: upsert group: %w", err)
	}
	members := toMemberDocs(g.Members)
	next := &groupDoc{ID: g.ChatID, Name: g.Name, OwnerID: g.OwnerID, Notice: g.Notice, CreatedAt: g.CreatedAt,
		UpdatedAt: g.UpdatedAt, Members: members, MemberKeys: memberKeys(members)}
	for range maxGroupRounds {
		cur, err := db.findGroupDoc(ctx, g.ChatID)
		if errors.Is(err, store.ErrNotFound) {
			next.Rev = 1
			_, err := db.groups().InsertOne(ctx, next)
			if mongo.IsDuplicateKeyError(err) {
				continue
			}
			if err != nil {
				return store.GroupChange{}, fmt.Errorf("mongo: upsert group %s: insert: %w", g.ChatID, err)
			}
			joined, _ := store.DiffGroupMembers(nil, g.Members)
			return store.GroupChange{Applied: true, Created: true, Joined: joined}, nil
		}
		if err != nil {
			return store.GroupChange{}, fmt.Errorf("mongo: upsert group %s: %w", g.ChatID, err)
		}
		// BSON keeps milliseconds: compare at that precision, or a snapshot
		// would count as newer than itself after a round trip.
		if cur.Dismissed || g.UpdatedAt.Truncate(time.Millisecond).Before(utc(cur.UpdatedAt)) {
			return store.GroupChange{}, nil
		}
		next.Rev = cur.Rev + 1
		ok, err := db.replaceGroup(ctx, next, cur.Rev)
		if err != nil {
			return store.GroupChange{}, fmt.Errorf("mongo: upsert group %s: %w", g.ChatID, err)
		}
		if ok {
			joined, left := store.DiffGroupMembers(cur.members(), g.Members)
			return store.GroupChange{Applied: true, Joined: joined, Left: left}, nil
		}
	}
	return store.GroupChange{}, fmt.Errorf("mongo: upsert group %s: too much contention: %w", g.ChatID, store.ErrConflict)
}

// DismissGroup marks the group dismissed, or records an unknown one as
// dismissed.
func (db *DB) DismissGroup(ctx context.Context, chatID string, at time.Time) (*store.Group, error) {
	if chatID == "" {
		return nil, fmt.Errorf("mongo: dismiss group: no chat id: %w", store.ErrInvalid)
	}
	for range maxGroupRounds {
		cur, err := db.findGroupDoc(ctx, chatID)
		if errors.Is(err, store.ErrNotFound) {
			d := &groupDoc{ID: chatID, Dismissed: true, DismissedAt: &at, UpdatedAt: at,
				Members: []groupMemberDoc{}, MemberKeys: []string{}, Rev: 1}
			_, err := db.groups().InsertOne(ctx, d)
			if mongo.IsDuplicateKeyError(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("mongo: dismiss group %s: insert: %w", chatID, err)
			}
			return d.group(), nil
		}
		if err != nil {
			return nil, fmt.Errorf("mongo: dismiss group %s: %w", chatID, err)
		}
		if cur.Dismissed {
			return cur.group(), nil
		}
		rev := cur.Rev
		cur.Dismissed, cur.DismissedAt, cur.Rev = true, &at, rev+1
		ok, err := db.replaceGroup(ctx, cur, rev)
		if err != nil {
			return nil, fmt.Errorf("mongo: dismiss group %s: %w", chatID, err)
		}
		if ok {
			return cur.group(), nil
		}
	}
	return nil, fmt.Errorf("mongo: dismiss group %s: too much contention: %w", chatID, store.ErrConflict)
}

// FindGroupByChatID returns the group with its members.
func (db *DB) FindGroupByChatID(ctx context.Context, chatID string) (*store.Group, error) {
	d, err := db.findGroupDoc(ctx, chatID)
	if err != nil {
		return nil, fmt.Errorf("mongo: find group %s: %w", chatID, err)
	}
	return d.group(), nil
}

// FindGroups returns groups matching f ordered by chat ID.
func (db *DB) FindGroups(ctx context.Context, f store.GroupFilter) ([]*store.Group, error) {
	out := []*store.Group{}
	if f.OwnerIDs != nil && len(f.OwnerIDs) == 0 {
		return out, nil
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: f.AfterChatID}}}}
	if !f.IncludeDismissed {
		filter = append(filter, bson.E{Key: "dismissed", Value: false})
	}
	if f.OwnerIDs != nil {
		filter = append(filter, bson.E{Key: "owner_id", Value: bson.D{{Key: "$in", Value: f.OwnerIDs}}})
	}
	cur, err := db.groups().Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("mongo: find groups: %w", err)
	}
	var docs []groupDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo: find groups: %w", err)
	}
	for i := range docs {
		out = append(out, docs[i].group())
	}
	return out, nil
}

// FindCustomerGroups finds the groups whose member keys name one of the
// customer's external_userid or unionid identities.
func (db *DB) FindCustomerGroups(ctx context.Context, customerID string) ([]store.CustomerGroup, error) {
	cid, err := db.resolve(ctx, customerID, time.Time{}, false)
	if err != nil {
		return nil, fmt.Errorf("mongo: groups of customer %s: %w", customerID, err)
	}
	cur, err := db.identities.Find(ctx, bson.D{{Key: "customer_id", Value: cid},
		{Key: "kind", Value: bson.D{{Key: "$in", Value: bson.A{store.IdentityExternalUserID, store.IdentityUnionID}}}}})
	if err != nil {
		return nil, fmt.Errorf("mongo: groups of customer %s: identities: %w", customerID, err)
	}
	var idents []identityDoc
	if err := cur.All(ctx, &idents); err != nil {
		return nil, fmt.Errorf("mongo: groups of customer %s: identities: %w", customerID, err)
	}
	out := []store.CustomerGroup{}
	var keys []string
	for _, d := range idents {
		if d.Kind == store.IdentityUnionID {
			keys = append(keys, memberUnionKey(d.Value))
		} else {
			keys = append(keys, memberIDKey(d.Value))
		}
	}
	if len(keys) == 0 {
		return out, nil
	}
	gcur, err := db.groups().Find(ctx, bson.D{{Key: "member_keys", Value: bson.D{{Key: "$in", Value: keys}}}, {Key: "dismissed", Value: false}})
	if err != nil {
		return nil, fmt.Errorf("mongo: groups of customer %s: %w", customerID, err)
	}
	var docs []groupDoc
	if err := gcur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo: groups of customer %s: %w", customerID, err)
	}
	for _, d := range docs {
		var (
			best  store.GroupMember
			found bool
		)
		for _, m := range d.members() {
			if m.Type != store.GroupMemberExternal {
				continue
			}
			if !slices.Contains(keys, memberIDKey(m.UserID)) && (m.UnionID == "" || !slices.Contains(keys, memberUnionKey(m.UnionID))) {
				continue
			}
			if !found || m.JoinedAt.Before(best.JoinedAt) {
				best, found = m, true
			}
		}
		if found {
			out = append(out, store.CustomerGroup{ChatID: d.ID, Name: d.Name, OwnerID: d.OwnerID, JoinedAt: best.JoinedAt, JoinScene: best.JoinScene})
		}
	}
	slices.SortFunc(out, func(a, b store.CustomerGroup) int {
		if c := a.JoinedAt.Compare(b.JoinedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ChatID, b.ChatID)
	})
	return out, nil
}

// eraseGroupMembers removes, from every group, the members that an erased
// customer's identity values name (as external_userid or unionid); erase
// calls it while those values are still known. Each group is rewritten
// conditionally on its revision, so a concurrent snapshot is not lost.
func (db *DB) eraseGroupMembers(ctx context.Context, values []string) error {
	if len(values) == 0 {
		return nil
	}
	keys := make([]string, 0, 2*len(values))
	for _, v := range values {
		keys = append(keys, memberIDKey(v), memberUnionKey(v))
	}
	gone := func(m groupMemberDoc) bool {
		return m.Type == store.GroupMemberExternal &&
			(slices.Contains(values, m.UserID) || (m.UnionID != "" && slices.Contains(values, m.UnionID)))
	}
	for range maxGroupRounds {
		cur, err := db.groups().Find(ctx, bson.D{{Key: "member_keys", Value: bson.D{{Key: "$in", Value: keys}}}})
		if err != nil {
			return fmt.Errorf("find groups of erased members: %w", err)
		}
		var docs []groupDoc
		if err := cur.All(ctx, &docs); err != nil {
			return fmt.Errorf("find groups of erased members: %w", err)
		}
		if len(docs) == 0 {
			return nil
		}
		for i := range docs {
			d := &docs[i]
			rev := d.Rev
			d.Members = slices.DeleteFunc(d.Members, gone)
			d.MemberKeys, d.Rev = memberKeys(d.Members), rev+1
			if _, err := db.replaceGroup(ctx, d, rev); err != nil {
				return err
			}
		}
		// A group that changed meanwhile kept its member: the next round
		// finds it again.
	}
	return fmt.Errorf("erase group members: too much contention: %w", store.ErrConflict)
}
