package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// ChannelAttribution is the processor that attributes adds, deletions and
// group joins to channels, after the customers processor made the customer
// (the welcome went out before, from the lane or WelcomeFirst).
type ChannelAttribution struct {
	st   attributionStore
	core *Core
	log  *slog.Logger
}

type attributionStore interface {
	ActionStore
	store.ChannelStore
	FindCustomerByIdentity(ctx context.Context, id store.Identity) (*store.Customer, error)
}

// NewChannelAttribution returns the processor.
func NewChannelAttribution(st attributionStore, log *slog.Logger) *ChannelAttribution {
	return &ChannelAttribution{st: st, core: NewCore(st, nil), log: loggerOr(log)}
}

// Name implements Processor.
func (*ChannelAttribution) Name() string { return "channels" }

// Process implements Processor.
func (p *ChannelAttribution) Process(ctx context.Context, ev *store.Event) error {
	switch {
	case ev.Kind == wecom.KindAddExternalContact:
		return p.attribute(ctx, ev, ev.Attrs["State"], store.ChannelEventAdd, store.IdentityExternalUserID, ev.CustomerID)
	case ev.Kind == wecom.KindDelFollowUser:
		return p.deletion(ctx, ev)
	case ev.Kind == wecom.KindSubscribe && strings.HasPrefix(ev.Attrs["EventKey"], "qrscene_"):
		return p.attribute(ctx, ev, strings.TrimPrefix(ev.Attrs["EventKey"], "qrscene_"), store.ChannelEventAdd, store.IdentityOpenID, ev.CustomerID)
	case ev.Kind == wecom.KindScan:
		return p.attribute(ctx, ev, ev.Attrs["EventKey"], store.ChannelEventAdd, store.IdentityOpenID, ev.CustomerID)
	case strings.HasPrefix(ev.Kind, wecom.KindChatPrefix) && ev.Attrs["State"] != "" && ev.Attrs["UpdateDetail"] == "add_member":
		for _, id := range strings.Split(ev.Attrs["MemChangeList"], ",") {
			if id == "" {
				continue
			}
			one := *ev
			one.DedupKey = ev.DedupKey + ":" + id
			if err := p.attribute(ctx, &one, ev.Attrs["State"], store.ChannelEventAdd, store.IdentityExternalUserID, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// channelByState finds the channel scrm made under state (a contact way's
// State, an OA QR code's scene); nil when state is empty or scrm made none
// under it (a contact way or QR code made elsewhere).
func channelByState(ctx context.Context, st interface {
	FindChannelByState(ctx context.Context, state string) (*store.Channel, error)
}, state string) (*store.Channel, error) {
	if state == "" {
		return nil, nil
	}
	ch, err := st.FindChannelByState(ctx, state)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find the channel of state %q: %w", state, err)
	}
	return ch, nil
}

func (p *ChannelAttribution) attribute(ctx context.Context, ev *store.Event, state, kind, idKind, idValue string) error {
	if state == "" || idValue == "" {
		return nil
	}
	ch, err := channelByState(ctx, p.st, state)
	if ch == nil || err != nil {
		return err // no channel: a contact way scrm did not make
	}
	cu, err := p.st.FindCustomerByIdentity(ctx, store.Identity{Kind: idKind, Value: idValue})
	if errors.Is(err, store.ErrNotFound) {
		return nil // a group member who is no customer
	}
	if err != nil {
		return fmt.Errorf("channels: find customer: %w", err)
	}
	err = p.core.Attribute(ctx, SystemActor(SourceChannel), AttributeRequest{Channel: ch, CustomerID: cu.ID, StaffID: ev.StaffID,
		Kind: kind, Key: ev.DedupKey, At: ev.OccurredAt})
	if _, refused := refusal(err); refused {
		// The channel's tags did not fit (a full customer): the
		// attribution stands, the event must not fail for ever.
		p.log.Warn("channel tags refused", "channel", ch.ID, "err", err)
		return nil
	}
	return err
}

// deletion attributes a del_follow_user to the channel the customer added
// that member through (the latest such add).
func (p *ChannelAttribution) deletion(ctx context.Context, ev *store.Event) error {
	cu, err := p.st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: ev.CustomerID})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("channels: find customer: %w", err)
	}
	adds, err := p.st.FindChannelEvents(ctx, store.ChannelEventFilter{CustomerID: cu.ID, StaffID: ev.StaffID, Kind: store.ChannelEventAdd})
	if err != nil {
		return fmt.Errorf("channels: adds of %s: %w", cu.ID, err)
	}
	var last *store.ChannelEvent
	for i := range adds {
		if !adds[i].At.After(ev.OccurredAt) {
			last = &adds[i]
		}
	}
	if last == nil {
		return nil
	}
	ch, err := p.st.FindChannelByID(ctx, last.ChannelID)
	if err != nil {
		return fmt.Errorf("channels: find channel: %w", err)
	}
	return p.core.Attribute(ctx, SystemActor(SourceChannel), AttributeRequest{Channel: ch, CustomerID: cu.ID, StaffID: ev.StaffID,
		Kind: store.ChannelEventDelete, Key: ev.DedupKey, At: ev.OccurredAt})
}
