package bot

import (
	"context"
	"fmt"

	"github.com/scrmhq/scrm/nlp"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// Opt-out (不打扰): a customer who asked not to be messaged gets no
// campaign and no journey message. The flag is the custom field
// store.FieldOptOut ("true"), so both backends keep it with the customer
// and every door that shows fields shows it. It changes only through
// SetOptOut: the API's PATCH (EditCustomer's OptOut) and the detector below.

// AuditOptOut is the audit action of an opt-out change.
const AuditOptOut = "opt_out"

// OptedOut reports whether cu asked not to be messaged.
func OptedOut(cu *store.Customer) bool { return cu != nil && cu.Fields[store.FieldOptOut] == "true" }

// OptOutRequest sets or clears a customer's opt-out. Reason is what the
// timeline says (a customer's own words when detected).
type OptOutRequest struct {
	CustomerID string
	OptOut     bool
	Reason     string
	Key        string
}

// SetOptOut sets or clears cu's opt-out for a: the audit entry, a timeline
// entry saying why, then the field. Setting the value the customer already
// has changes nothing and writes nothing.
func (c *Core) SetOptOut(ctx context.Context, a Actor, req OptOutRequest) (*store.Customer, error) {
	cu, err := c.visible(ctx, a, req.CustomerID)
	if err != nil {
		return nil, err
	}
	return c.setOptOut(ctx, a, cu, req)
}

func (c *Core) setOptOut(ctx context.Context, a Actor, cu *store.Customer, req OptOutRequest) (*store.Customer, error) {
	if OptedOut(cu) == req.OptOut {
		return cu, nil
	}
	at, key := c.Now(), orRandomKey(req.Key)
	val, text := "", "取消了不打扰：可以再收到群发"
	if req.OptOut {
		val, text = "true", "设为不打扰：不再收到群发"
	}
	if req.Reason != "" {
		text += "（" + req.Reason + "）"
	}
	if err := c.audit(ctx, a, AuditOptOut, cu.ID, fmt.Sprintf("opt_out=%t key=%s", req.OptOut, key), at); err != nil {
		return nil, err
	}
	if _, err := c.st.AppendTimeline(ctx, &store.TimelineEntry{
		CustomerID: cu.ID, SourceKey: entryKey("opt_out", a, cu.ID, key), Kind: store.EntryEvent, StaffID: a.entryStaff(),
		Text:  text,
		Attrs: map[string]string{"change": "opt_out", "opt_out": fmt.Sprint(req.OptOut), "by": a.ID(), "source": a.Source},
		At:    at,
	}); err != nil {
		return nil, fmt.Errorf("actions: opt-out entry of %s: %w", cu.ID, err)
	}
	after, err := c.st.UpdateCustomer(ctx, cu.ID, store.CustomerUpdate{Fields: map[string]string{store.FieldOptOut: val}, Now: c.Now()})
	if err != nil {
		return nil, fmt.Errorf("actions: opt-out of %s: %w", cu.ID, err)
	}
	if req.OptOut {
		// Every run ends now; a run advancing meanwhile sees the flag
		// before its next step.
		if err := exitRuns(ctx, c.st, cu.ID, ExitOptedOut, c.Now(), func(*store.JourneyRun) bool { return true }); err != nil {
			return nil, err
		}
	}
	return after, nil
}

// OptOutDetector is the processor that opts a customer out when their
// message asks to stop being messaged (nlp.OptOutPhrase). It runs after
// the customers processor, which made the customer.
type OptOutDetector struct {
	st   ActionStore
	core *Core
}

// NewOptOutDetector returns the detector over st.
func NewOptOutDetector(st ActionStore, core *Core) *OptOutDetector {
	return &OptOutDetector{st: st, core: core}
}

// Name implements Processor.
func (*OptOutDetector) Name() string { return "optout" }

// Process implements Processor. The event's dedup key is the action's key,
// so a redelivered event finds its entry and changes nothing.
func (p *OptOutDetector) Process(ctx context.Context, ev *store.Event) error {
	if ev.CustomerID == "" || ev.Kind != wecom.KindText || ev.Text == "" || ev.FromID != ev.CustomerID && ev.Channel == store.ChannelWeCom {
		return nil
	}
	if nlp.OptOutPhrase(ev.Text) == "" {
		return nil
	}
	cu, err := p.st.FindCustomerByIdentity(ctx, identityOf(ev))
	if err != nil {
		return skipIfGone(err, "optout: find customer")
	}
	_, err = p.core.optOutIfAsked(ctx, cu, ev.Text, ev.DedupKey)
	return err
}

// optOutIfAsked opts cu out when text, the customer's own words, asks to
// stop being messaged, quoting the words; key (the message's) makes a
// message read twice change nothing. It returns the customer as it now is.
// Every door customers' words come through calls it: the event pipeline
// (公众号, 微信客服, callbacks) and the chat archive (their chats with sales).
func (c *Core) optOutIfAsked(ctx context.Context, cu *store.Customer, text, key string) (*store.Customer, error) {
	phrase := nlp.OptOutPhrase(text)
	if phrase == "" {
		return cu, nil
	}
	return c.setOptOut(ctx, SystemActor(SourceAnalysis), cu, OptOutRequest{
		CustomerID: cu.ID, OptOut: true, Reason: "客户说「" + phrase + "」", Key: key,
	})
}
