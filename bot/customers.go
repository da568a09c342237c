package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/scrmhq/scrm/store"
)

// CustomerStore is what the customer processor reads and writes.
type CustomerStore interface {
	FindCustomerByIdentity(ctx context.Context, id store.Identity) (*store.Customer, error)
	UpsertCustomer(ctx context.Context, u store.CustomerUpsert) (*store.Customer, error)
	AppendTimeline(ctx context.Context, e *store.TimelineEntry) (bool, error)
}

// Profile is what the platform tells about a customer beyond the callback.
type Profile struct {
	Name    string
	Avatar  string
	UnionID string
	Follows []store.Follow
}

// Profiles fetches customer profiles from WeCom and the Official Account.
// ErrNoProfile means the platform has none (an unknown or unrelated user);
// any other error is transient and the event is retried later.
type Profiles interface {
	ExternalContact(ctx context.Context, externalUserID string) (Profile, error)
	OAFollower(ctx context.Context, openID string) (Profile, error)
}

// ErrNoProfile is returned by Profiles when the platform has no profile.
var ErrNoProfile = errors.New("bot: no profile")

// Customers is the first processor: it turns every event that involves a
// customer into an upsert of that customer (by platform identity) and an entry
// on their timeline. Both writes are idempotent: the upsert only raises
// times and sets fields, and the timeline entry is keyed by the event.
//
// With Profiles, it also fills in names and links identities by unionid, so an
// OA follower and a WeCom contact who are one person become one customer.
type Customers struct {
	st       CustomerStore
	profiles Profiles // nil: callbacks only
}

// NewCustomers returns the customer identity processor; profiles may be nil.
func NewCustomers(st CustomerStore, profiles Profiles) *Customers {
	return &Customers{st: st, profiles: profiles}
}

// Name implements Processor.
func (*Customers) Name() string { return "customers" }

// contactPrefix is the kind prefix of WeCom customer-contact events.
const contactPrefix = "event.change_external_contact."

// Process implements Processor.
func (p *Customers) Process(ctx context.Context, ev *store.Event) error {
	if ev.CustomerID == "" {
		return nil
	}
	u := store.CustomerUpsert{Identity: identityOf(ev), Now: ev.ReceivedAt}
	entry := &store.TimelineEntry{
		SourceKey: "event:" + ev.DedupKey,
		Channel:   ev.Channel,
		StaffID:   ev.StaffID,
		At:        ev.OccurredAt,
	}
	switch {
	case !strings.HasPrefix(ev.Kind, "event."):
		// A message from the customer.
		u.CustomerAt = ev.OccurredAt
		entry.Kind, entry.Direction, entry.Text = store.EntryMessage, store.DirectionIn, ev.Text
		entry.Attrs = map[string]string{"msg_type": ev.Kind}
	case strings.HasPrefix(ev.Kind, contactPrefix):
		change := strings.TrimPrefix(ev.Kind, contactPrefix)
		entry.Kind, entry.Text = store.EntryEvent, contactEventText(change, p.staffName(ctx, ev.StaffID), ev)
		entry.Attrs = map[string]string{"change_type": change}
		switch change {
		case "add_external_contact", "add_half_external_contact", "edit_external_contact":
			u.Follow = &store.Follow{StaffID: ev.StaffID, State: ev.Attrs["State"], AddedAt: ev.OccurredAt}
			u.StaffAt = ev.OccurredAt
		case "del_external_contact", "del_follow_user":
			u.Unfollow = ev.StaffID
		case "transfer_fail":
		default:
			entry = nil
		}
	case ev.Kind == "event.subscribe":
		entry.Kind, entry.Text = store.EntryEvent, "关注了公众号"
		if scene := ev.Attrs["EventKey"]; scene != "" {
			entry.Text += "（扫码场景 " + strings.TrimPrefix(scene, "qrscene_") + "）"
		}
	case ev.Kind == "event.unsubscribe":
		entry.Kind, entry.Text = store.EntryEvent, "取消关注公众号"
	case ev.Kind == "event.scan":
		entry.Kind, entry.Text = store.EntryEvent, "扫描了带参数二维码 "+ev.Attrs["EventKey"]
	default:
		// Menu clicks and the like identify the customer but are noise on a timeline.
		entry = nil
	}
	if err := p.enrich(ctx, ev, &u); err != nil {
		return err
	}
	c, err := p.st.UpsertCustomer(ctx, u)
	if err != nil {
		return fmt.Errorf("customers: upsert: %w", err)
	}
	if entry == nil {
		return nil
	}
	entry.CustomerID = c.ID
	if _, err := p.st.AppendTimeline(ctx, entry); err != nil {
		return fmt.Errorf("customers: timeline: %w", err)
	}
	return nil
}

// enrich adds the platform profile to u when the event introduces or changes
// the customer, or when the customer is still nameless.
func (p *Customers) enrich(ctx context.Context, ev *store.Event, u *store.CustomerUpsert) error {
	if p.profiles == nil || u.Unfollow != "" {
		return nil
	}
	fresh := ev.Kind == "event.subscribe" || u.Follow != nil
	if !fresh {
		c, err := p.st.FindCustomerByIdentity(ctx, u.Identity)
		switch {
		case err == nil && c.Name != "":
			return nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("customers: find: %w", err)
		}
	}
	var prof Profile
	var err error
	switch u.Identity.Kind {
	case store.IdentityExternalUserID:
		prof, err = p.profiles.ExternalContact(ctx, u.Identity.Value)
	case store.IdentityOpenID:
		prof, err = p.profiles.OAFollower(ctx, u.Identity.Value)
	default:
		return nil
	}
	if errors.Is(err, ErrNoProfile) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("customers: profile: %w", err)
	}
	u.Name, u.Avatar = prof.Name, prof.Avatar
	if prof.UnionID != "" {
		u.Link = append(u.Link, store.Identity{Kind: store.IdentityUnionID, Value: prof.UnionID})
	}
	// The callback's follow is authoritative for its staff member; the
	// profile supplies remarks and the other staff following the customer.
	for _, f := range prof.Follows {
		if u.Follow != nil && f.StaffID == u.Follow.StaffID {
			u.Follow.Remark = f.Remark
			if u.Follow.State == "" {
				u.Follow.State = f.State
			}
		}
	}
	return nil
}

// identityOf names the platform identity an event carries.
func identityOf(ev *store.Event) store.Identity {
	switch ev.Channel {
	case store.ChannelOA:
		return store.Identity{Kind: store.IdentityOpenID, Value: ev.CustomerID}
	case store.ChannelKF:
		return store.Identity{Kind: store.IdentityKFUserID, Value: ev.CustomerID}
	default:
		return store.Identity{Kind: store.IdentityExternalUserID, Value: ev.CustomerID}
	}
}

// staffName names a staff member on a timeline: their name from the staff
// directory when the store keeps one, else their WeCom user ID. The entry
// keeps the ID in StaffID either way.
func (p *Customers) staffName(ctx context.Context, id string) string {
	dir, ok := p.st.(interface {
		FindStaffByID(ctx context.Context, id string) (*store.Staff, error)
	})
	if !ok || id == "" {
		return id
	}
	if s, err := dir.FindStaffByID(ctx, id); err == nil && s.Name != "" {
		return s.Name
	}
	return id
}

func contactEventText(change, staff string, ev *store.Event) string {
	switch change {
	case "add_external_contact":
		return "添加了员工 " + staff + " 为联系人"
	case "add_half_external_contact":
		return "添加了员工 " + staff + "（待对方通过）"
	case "edit_external_contact":
		return "员工 " + staff + " 修改了客户信息"
	case "del_external_contact":
		if ev.Attrs["Source"] == "DELETE_BY_TRANSFER" {
			return "客户已转接，员工 " + staff + " 不再跟进"
		}
		return "员工 " + staff + " 删除了该客户"
	case "del_follow_user":
		return "客户删除了员工 " + staff + "（流失信号）"
	case "transfer_fail":
		return "客户转接失败：" + transferFailReason(ev.Attrs["FailReason"])
	}
	return change
}

func transferFailReason(r string) string {
	switch r {
	case "customer_refused":
		return "客户拒绝"
	case "customer_limit_exceed":
		return "接替员工的客户数已达上限"
	}
	return r
}
