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

// OAWelcome sends an Official Account QR channel's welcome to whoever
// follows (subscribe with EventKey qrscene_<scene>) or scans (SCAN) through
// it, as a customer-service text inside the window the follow opens. It
// runs after the customers processor (the follower is a customer) and the
// attribution; an OA welcome is text only, with #客户昵称# filled in.
//
// Once per follow event: a marker keyed by the event's dedup key is set
// after the send, so a redelivered or retried event sends nothing again; a
// crash between the send and the marker is the one window a second send
// can slip through (the OA has no duplicate check to close it). A closed
// window (45015/45047) is final: the follow's moment has passed.
type OAWelcome struct {
	st   oaWelcomeStore
	send CustomerSender
	log  *slog.Logger
}

type oaWelcomeStore interface {
	markers
	FindChannelByState(ctx context.Context, state string) (*store.Channel, error)
	FindCustomerByIdentity(ctx context.Context, id store.Identity) (*store.Customer, error)
}

// NewOAWelcome returns the processor.
func NewOAWelcome(st oaWelcomeStore, send CustomerSender, log *slog.Logger) *OAWelcome {
	return &OAWelcome{st: st, send: send, log: loggerOr(log)}
}

// Name implements Processor.
func (*OAWelcome) Name() string { return "oa-welcome" }

// OA welcome outcomes, the marker's value.
const (
	OAWelcomeSent   = "sent"
	OAWelcomeClosed = "closed" // the window was closed (45015/45047) or sending is not configured
)

// Process implements Processor.
func (p *OAWelcome) Process(ctx context.Context, ev *store.Event) error {
	if ev.Channel != store.ChannelOA {
		return nil
	}
	var scene string
	switch {
	case ev.Kind == wecom.KindSubscribe && strings.HasPrefix(ev.Attrs["EventKey"], "qrscene_"):
		scene = strings.TrimPrefix(ev.Attrs["EventKey"], "qrscene_")
	case ev.Kind == wecom.KindScan:
		scene = ev.Attrs["EventKey"]
	}
	openID := ev.CustomerID
	if scene == "" || openID == "" {
		return nil
	}
	ch, err := channelByState(ctx, p.st, scene)
	if ch == nil || err != nil {
		return err // no channel: a QR code scrm did not make
	}
	text := strings.TrimSpace(ch.Welcome.Text)
	if ch.Kind != store.ChannelKindOAQRCode || ch.DeletedAt != nil || text == "" {
		return nil
	}
	done, err := p.st.GetMarker(ctx, store.MarkOAWelcome, ev.DedupKey)
	if err != nil {
		return fmt.Errorf("oa welcome: marker: %w", err)
	}
	if done != "" {
		return nil
	}
	if strings.Contains(text, "#客户昵称#") {
		name := ""
		if cu, err := p.st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityOpenID, Value: openID}); err == nil {
			name = cu.Name
		}
		text = strings.ReplaceAll(text, "#客户昵称#", name)
	}
	// The OA has no member to name: the placeholders are dropped.
	text = strings.NewReplacer("#员工姓名#", "", "#销售姓名#", "").Replace(text)
	outcome := OAWelcomeSent
	if err := p.send.SendOAText(ctx, openID, text); err != nil {
		if !errors.Is(err, ErrOutsideWindow) && !errors.Is(err, ErrCannotSend) {
			return fmt.Errorf("oa welcome: send: %w", err) // retried by the pipeline
		}
		p.log.Warn("oa welcome not sent", "channel", ch.ID, "err", err)
		outcome = OAWelcomeClosed
	}
	if err := p.st.SetMarker(ctx, store.MarkOAWelcome, ev.DedupKey, outcome, ev.OccurredAt); err != nil {
		return fmt.Errorf("oa welcome: marker: %w", err)
	}
	return nil
}
