package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
)

// Planning a campaign: whom it reaches through which sender, who is left
// out and why. The preview shows the plan; the job freezes it into tasks.

// target is one recipient a campaign reaches through a sender: a customer,
// or a group (ChatID set, CustomerID the same chat ID).
type target struct {
	CustomerID, Ext, Name, ChatID string
}

// candidate is a recipient the audience holds before the caps are
// counted: its sender and, for a group, how many customers it has.
type candidate struct {
	sender    string
	t         target
	customers int
}

// PlanGroup is a group the preview lists under its owner.
type PlanGroup struct {
	ChatID    string `json:"chat_id"`
	Name      string `json:"name"`
	Customers int    `json:"customers"`
}

// CampaignPlan is whom a campaign reaches: per sender, and who is left
// out and why. For a group campaign the counts are groups and the senders
// are the groups' owners.
type CampaignPlan struct {
	ChatType  string              `json:"chat_type"`
	Senders   map[string]int      `json:"senders"` // sender → customers (groups)
	Targeted  int                 `json:"targeted"`
	LeftOut   map[string]int      `json:"left_out"`
	LeftOutID map[string][]string `json:"left_out_ids"` // reason → customer (chat) IDs, at most 100 each
	// Groups lists each owner's groups of a group campaign (at most 50
	// each; Senders has the full count).
	Groups map[string][]PlanGroup `json:"groups,omitempty"`
	// PerCustomerOK: the text uses #客户昵称# and no sender has more than
	// MaxPerCustomerTasks customers, so the campaign may go as one task
	// per customer, each with the customer's own name.
	PerCustomerOK bool `json:"per_customer_ok"`
	// Warnings say, in the words a manager reads, what the text will
	// become (#客户昵称# as 您 in a task many customers share).
	Warnings   []string `json:"warnings,omitempty"`
	targets    map[string][]target
	candidates []candidate // whom the caps are checked for, in the audience's order
}

func (p *CampaignPlan) leave(reason, id string) {
	p.LeftOut[reason]++
	if len(p.LeftOutID[reason]) < 100 {
		p.LeftOutID[reason] = append(p.LeftOutID[reason], id)
	}
}

func (p *CampaignPlan) add(sender string, t target) {
	p.Targeted++
	p.Senders[sender]++
	p.targets[sender] = append(p.targets[sender], t)
}

// monthOf is the business month around t, as UTC bounds.
func (c *Core) monthOf(t time.Time) (time.Time, time.Time) {
	l := t.In(c.massOpt.Location)
	from := time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, c.massOpt.Location)
	return from.UTC(), from.AddDate(0, 1, 0).UTC()
}

// capCountByID is the largest audience whose sends of the month are
// counted customer by customer (one index probe each: a journey's message
// has one); a larger one reads everyone's counts of the month at once.
const capCountByID = 1000

// plan works out a campaign's audience for a at now; ownID is the
// campaign itself when it is being planned for good (its own sends,
// recorded by an earlier try, must not count against it).
func (c *Core) plan(ctx context.Context, a Actor, aud audience, now time.Time, ownID string) (*CampaignPlan, error) {
	p := &CampaignPlan{ChatType: aud.chatType, Senders: map[string]int{}, LeftOut: map[string]int{}, LeftOutID: map[string][]string{},
		targets: map[string][]target{}}
	var err error
	if aud.chatType == store.ChatTypeGroup {
		err = c.planGroups(ctx, a, aud.groups, p)
	} else {
		err = c.planCustomers(ctx, a, aud.filter, p)
	}
	if err != nil {
		return nil, err
	}
	if err := c.applyCaps(ctx, p, now, ownID); err != nil {
		return nil, err
	}
	p.explainText(aud)
	return p, nil
}

// applyCaps leaves out the candidates who reached the month's cap and
// targets the others.
func (c *Core) applyCaps(ctx context.Context, p *CampaignPlan, now time.Time, ownID string) error {
	from, to := c.monthOf(now)
	var counts map[string]int
	var err error
	if len(p.candidates) <= capCountByID {
		ids := make([]string, len(p.candidates))
		for i, cd := range p.candidates {
			ids[i] = cd.t.CustomerID
		}
		counts, err = c.st.CountCampaignSendsOf(ctx, ids, from, to)
	} else {
		counts, err = c.st.CountCampaignSends(ctx, from, to)
	}
	if err != nil {
		return err
	}
	if ownID != "" {
		own, err := c.st.FindCampaignSends(ctx, ownID)
		if err != nil {
			return err
		}
		for _, s := range own {
			if s.Counts() && !s.At.Before(from) && s.At.Before(to) {
				counts[s.CustomerID]--
			}
		}
	}
	// The company's cap, and WeCom's own (the month's days, for a
	// customer and a group alike) as a floor.
	capN := c.massOpt.MonthlyCap
	days := to.Add(-time.Nanosecond).In(c.massOpt.Location).Day()
	if capN <= 0 || capN > days {
		capN = days
	}
	for _, cd := range p.candidates {
		if counts[cd.t.CustomerID] >= capN {
			p.leave(LeftOverCap, cd.t.CustomerID)
			continue
		}
		p.add(cd.sender, cd.t)
		if cd.t.ChatID != "" && len(p.Groups[cd.sender]) < 50 {
			p.Groups[cd.sender] = append(p.Groups[cd.sender], PlanGroup{ChatID: cd.t.ChatID, Name: cd.t.Name, Customers: cd.customers})
		}
	}
	p.candidates = nil
	return nil
}

// planCustomers walks the customers f selects: each is left out, or a
// candidate for the caps.
func (c *Core) planCustomers(ctx context.Context, a Actor, f store.SegmentFilter, p *CampaignPlan) error {
	scope := a.Scope()
	return c.eachInFilter(ctx, a, f, func(cu *store.Customer) error {
		ext, sender := "", ""
		for _, id := range cu.Identities {
			if id.Kind == store.IdentityExternalUserID {
				ext = id.Value
				break
			}
		}
		for _, fo := range cu.Follows {
			if !fo.Deleted && (scope == nil || slices.Contains(scope, fo.StaffID)) {
				sender = fo.StaffID
				break
			}
		}
		switch {
		case OptedOut(cu):
			p.leave(LeftOptedOut, cu.ID)
		case ext == "" || sender == "":
			p.leave(LeftNotWeCom, cu.ID)
		default:
			p.candidates = append(p.candidates, candidate{sender: sender, t: target{CustomerID: cu.ID, Ext: ext, Name: cu.Name}})
		}
		return nil
	})
}

// groupPage is how many groups planning reads at a time.
const groupPage = 500

// planGroups selects the groups, not dismissed, owned by someone in a's
// scope (g.Owner only, when given) whose name contains g.Name: each is
// left out, or a candidate for the caps.
func (c *Core) planGroups(ctx context.Context, a Actor, g *store.GroupTarget, p *CampaignPlan) error {
	if g == nil {
		g = &store.GroupTarget{}
	}
	f := store.GroupFilter{OwnerIDs: a.Scope(), Limit: groupPage}
	if g.Owner != "" {
		if f.OwnerIDs != nil && !slices.Contains(f.OwnerIDs, g.Owner) {
			return nil
		}
		f.OwnerIDs = []string{g.Owner}
	}
	name := strings.ToLower(strings.TrimSpace(g.Name))
	p.Groups = map[string][]PlanGroup{}
	for {
		page, err := c.st.FindGroups(ctx, f)
		if err != nil {
			return fmt.Errorf("campaigns: groups: %w", err)
		}
		for _, gr := range page {
			if name != "" && !strings.Contains(strings.ToLower(gr.Name), name) {
				continue
			}
			customers := 0
			for _, m := range gr.Members {
				if m.Type == store.GroupMemberExternal {
					customers++
				}
			}
			switch {
			case gr.OwnerID == "":
				p.leave(LeftNotWeCom, gr.ChatID)
			case customers == 0:
				p.leave(LeftNoCustomers, gr.ChatID)
			default:
				p.candidates = append(p.candidates, candidate{sender: gr.OwnerID, t: target{CustomerID: gr.ChatID, ChatID: gr.ChatID, Name: gr.Name},
					customers: customers})
			}
		}
		if len(page) < f.Limit {
			return nil
		}
		f.AfterChatID = page[len(page)-1].ChatID
	}
}

// explainText decides whether the campaign may go per customer and warns
// what its per-customer variable will read.
func (p *CampaignPlan) explainText(aud audience) {
	if !strings.Contains(aud.text, varCustomer) {
		return
	}
	if aud.chatType == store.ChatTypeGroup {
		p.Warnings = append(p.Warnings, "发给客户群时，#客户昵称# 会写作“大家”。")
		return
	}
	p.PerCustomerOK = len(p.Senders) > 0
	for _, n := range p.Senders {
		if n > MaxPerCustomerTasks {
			p.PerCustomerOK = false
		}
	}
	switch {
	case aud.perCustomer && p.PerCustomerOK:
	case p.PerCustomerOK:
		p.Warnings = append(p.Warnings, fmt.Sprintf("一条群发只能有一种文字，#客户昵称# 会写作“您”。每位销售不超过 %d 位客户，"+
			"可选“按客户分别发送”：每位客户收到自己的称呼，销售需逐条确认。", MaxPerCustomerTasks))
	case aud.perCustomer:
		p.Warnings = append(p.Warnings, fmt.Sprintf("有销售的客户超过 %d 位，不能按客户分别发送；#客户昵称# 会写作“您”。", MaxPerCustomerTasks))
	default:
		p.Warnings = append(p.Warnings, "一条群发只能有一种文字，#客户昵称# 会写作“您”。")
	}
}

// PreviewCampaign is the plan of a campaign not yet created.
func (c *Core) PreviewCampaign(ctx context.Context, a Actor, req CampaignRequest) (*CampaignPlan, error) {
	if err := mayTarget(a); err != nil {
		return nil, err
	}
	aud, err := c.campaignAudience(ctx, a, req)
	if err != nil {
		return nil, err
	}
	return c.plan(ctx, a, aud, c.Now(), "")
}

// campaignText renders a campaign's text for one task: a task goes to many
// customers (or groups) with one text, so #客户昵称# becomes the polite 您
// (大家 in a group), unless the task is one customer's, whose name it
// takes; #员工姓名# becomes the sender's name.
func campaignText(text, senderName, customerName string, toGroups bool) string {
	switch {
	case customerName != "":
	case toGroups:
		customerName = "大家"
	default:
		customerName = "您"
	}
	return strings.NewReplacer(varCustomer, customerName, "#员工姓名#", senderName).Replace(text)
}
