package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scrmhq/scrm/nlp"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// StateView is what the page loads first.
type StateView struct {
	Company   string       `json:"company"`
	Timezone  string       `json:"timezone"`
	Seed      seedState    `json:"seed"`
	Staff     []Staff      `json:"staff"`
	Customers []PersonView `json:"customers"`
}

// PersonView is a customer as the simulated platforms know them.
type PersonView struct {
	Key       string   `json:"key"`
	Name      string   `json:"name"`
	Company   string   `json:"company"`
	Position  string   `json:"position"`
	Owner     string   `json:"owner"`
	OwnerName string   `json:"owner_name"`
	Channel   string   `json:"channel"`
	Stage     string   `json:"stage"`
	Tags      []string `json:"tags"`
	OpenID    string   `json:"openid"`
	ExtUserID string   `json:"external_userid"`
}

func personView(p *Person) PersonView {
	return PersonView{Key: p.Key, Name: p.Name, Company: p.Company, Position: p.Position, Owner: p.Owner,
		OwnerName: staffName(p.Owner), Channel: p.Channel, Stage: p.Stage, Tags: p.Tags,
		OpenID: p.OpenID, ExtUserID: p.ExternalUserID}
}

// State returns the company and the seeding progress.
func (d *Demo) State() StateView {
	d.mu.Lock()
	seed := d.seed
	d.mu.Unlock()
	v := StateView{Company: Company, Timezone: d.o.Location.String(), Seed: seed, Staff: StaffList}
	for i := range People {
		v.Customers = append(v.Customers, personView(&People[i]))
	}
	return v
}

// StatsView are the page's live counters.
type StatsView struct {
	store.Stats
	BotSent int `json:"bot_sent"` // messages scrm sent through the simulated platforms
}

// Stats reads the store's counts and the simulator's sent total.
func (d *Demo) Stats(ctx context.Context) (StatsView, error) {
	st, err := d.o.Store.Stats(ctx)
	if err != nil {
		return StatsView{}, fmt.Errorf("demo: stats: %w", err)
	}
	return StatsView{Stats: st, BotSent: len(d.o.Sim.Sent())}, nil
}

// Activity returns the newest n log lines, newest first.
func (d *Demo) Activity(n int) []activity {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]activity, 0, n)
	for i := len(d.activity) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, d.activity[i])
	}
	return out
}

// CardView is a customer's record in scrm, merged over every record the
// person has (one per identity until the identities are linked).
type CardView struct {
	ID                string           `json:"id"`
	Name              string           `json:"name"`
	Owners            []string         `json:"owners"`
	Stage             string           `json:"stage"`
	Tier              string           `json:"tier,omitempty"`
	Tags              []string         `json:"tags"`
	LastCustomerMsgAt *time.Time       `json:"last_customer_msg_at,omitempty"`
	LastStaffTouchAt  *time.Time       `json:"last_staff_touch_at,omitempty"`
	Identities        []store.Identity `json:"identities"`
	Summary           string           `json:"summary,omitempty"`
	Sentiment         string           `json:"sentiment,omitempty"`
}

// EntryView is one timeline entry.
type EntryView struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"`
	Channel   string    `json:"channel,omitempty"`
	Direction string    `json:"direction,omitempty"`
	StaffID   string    `json:"staff_id,omitempty"`
	StaffName string    `json:"staff_name,omitempty"`
	Text      string    `json:"text"`
	At        time.Time `json:"at"`
}

// RecordView is the right-hand column: the card and the timeline.
type RecordView struct {
	Person   PersonView  `json:"person"`
	Records  int         `json:"records"`
	Card     *CardView   `json:"card"`
	Timeline []EntryView `json:"timeline"`
}

// timelineLimit is how many entries the page shows per customer.
const timelineLimit = 100

// records finds every scrm customer record that holds one of p's platform
// identities. Until scrm links them by unionid, an Official Account follower
// and the same person as a WeCom contact are two records.
func (d *Demo) records(ctx context.Context, p *Person) ([]*store.Customer, error) {
	ids := []store.Identity{
		{Kind: store.IdentityExternalUserID, Value: p.ExternalUserID},
		{Kind: store.IdentityOpenID, Value: p.OpenID},
		{Kind: store.IdentityKFUserID, Value: p.ExternalUserID},
		{Kind: store.IdentityUnionID, Value: p.UnionID},
	}
	var out []*store.Customer
	for _, id := range ids {
		c, err := d.o.Store.FindCustomerByIdentity(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("demo: find customer by %s: %w", id.Kind, err)
		}
		if !slices.ContainsFunc(out, func(o *store.Customer) bool { return o.ID == c.ID }) {
			out = append(out, c)
		}
	}
	return out, nil
}

// Record returns p's card and merged timeline as scrm has them.
func (d *Demo) Record(ctx context.Context, p *Person) (RecordView, error) {
	v := RecordView{Person: personView(p), Timeline: []EntryView{}}
	recs, err := d.records(ctx, p)
	if err != nil {
		return v, err
	}
	v.Records = len(recs)
	if len(recs) == 0 {
		return v, nil
	}
	v.Card = mergeCards(recs)
	for _, c := range recs {
		es, err := d.o.Store.FindTimeline(ctx, c.ID, 0, timelineLimit)
		if err != nil {
			return v, fmt.Errorf("demo: timeline of %s: %w", c.ID, err)
		}
		for _, e := range es {
			v.Timeline = append(v.Timeline, entryView(e))
		}
	}
	slices.SortStableFunc(v.Timeline, func(a, b EntryView) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return int(b.ID - a.ID)
	})
	if len(v.Timeline) > timelineLimit {
		v.Timeline = v.Timeline[:timelineLimit]
	}
	return v, nil
}

func entryView(e *store.TimelineEntry) EntryView {
	v := EntryView{ID: e.ID, Kind: e.Kind, Channel: e.Channel, Direction: e.Direction, StaffID: e.StaffID, Text: e.Text, At: e.At}
	if e.StaffID != "" {
		v.StaffName = staffName(e.StaffID)
	}
	return v
}

// mergeCards folds several records of one person into one card: the record
// with the most follows leads (it is the WeCom contact), the rest add
// identities, tags and later contact times.
func mergeCards(recs []*store.Customer) *CardView {
	lead := recs[0]
	for _, c := range recs[1:] {
		if len(c.Follows) > len(lead.Follows) {
			lead = c
		}
	}
	v := &CardView{ID: lead.ID, Name: lead.Name, Stage: lead.Stage, Tier: lead.Tier, Owners: []string{}, Tags: []string{}}
	var insight *store.Insight
	for _, c := range recs {
		if v.Name == "" {
			v.Name = c.Name
		}
		if v.Stage == "" {
			v.Stage = c.Stage
		}
		if v.Tier == "" {
			v.Tier = c.Tier
		}
		for _, f := range c.Follows {
			if n := staffName(f.StaffID); !f.Deleted && !slices.Contains(v.Owners, n) {
				v.Owners = append(v.Owners, n)
			}
		}
		for _, t := range c.Tags {
			if !slices.Contains(v.Tags, t) {
				v.Tags = append(v.Tags, t)
			}
		}
		for _, id := range c.Identities {
			if !slices.Contains(v.Identities, id) {
				v.Identities = append(v.Identities, id)
			}
		}
		v.LastCustomerMsgAt = later(v.LastCustomerMsgAt, c.LastCustomerMsgAt)
		v.LastStaffTouchAt = later(v.LastStaffTouchAt, c.LastStaffTouchAt)
		// The conversation analysis stores its latest summary and
		// sentiment on the customer (Insight); the latest of the records
		// speaks for the person, as a label such as "负面·强".
		if in := c.Insight; in != nil && (insight == nil || in.AnalyzedAt.After(insight.AnalyzedAt)) {
			insight = in
		}
	}
	if insight != nil {
		v.Summary = insight.Summary
		if insight.SentimentLabel != "" {
			v.Sentiment = nlp.SentimentLabel(insight.SentimentLabel, insight.SentimentScore)
		}
	}
	return v
}

func later(a, b *time.Time) *time.Time {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case b.After(*a):
		return b
	}
	return a
}

// PhoneMsgView is one bubble on the customer's phone.
type PhoneMsgView struct {
	From   string    `json:"from"` // "me" (the customer) or "company"
	Text   string    `json:"text"`
	At     time.Time `json:"at"`
	Status string    `json:"status,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Phone returns what p sees in a channel: what they sent and what the
// company sent them through the platform's customer-service API.
func (d *Demo) Phone(p *Person, channel string) []PhoneMsgView {
	out := []PhoneMsgView{}
	d.mu.Lock()
	for _, m := range d.phone[p.Key] {
		if m.Channel == channel {
			out = append(out, PhoneMsgView{From: "me", Text: m.Text, At: m.At, Status: m.Status, Detail: m.Detail})
		}
	}
	d.mu.Unlock()
	to, sentCh := p.OpenID, wecomtest.SentOA
	if channel == ChannelKF {
		to, sentCh = p.ExternalUserID, wecomtest.SentKF
	}
	for _, m := range d.o.Sim.SentTo(to) {
		if m.Channel == sentCh {
			out = append(out, PhoneMsgView{From: "company", Text: m.Content, At: m.At})
		}
	}
	slices.SortStableFunc(out, func(a, b PhoneMsgView) int { return a.At.Compare(b.At) })
	return out
}

// ChatMsgView is one message in a staff member's chat with the scrm app.
type ChatMsgView struct {
	From        string       `json:"from"` // "me" (the staff member) or "bot"
	Kind        string       `json:"kind"` // text, markdown, textcard, template_card, news, ...
	Text        string       `json:"text,omitempty"`
	Title       string       `json:"title,omitempty"`
	Description string       `json:"description,omitempty"`
	URL         string       `json:"url,omitempty"`
	TaskID      string       `json:"task_id,omitempty"`
	CardType    string       `json:"card_type,omitempty"`
	Buttons     []ButtonView `json:"buttons,omitempty"`
	At          time.Time    `json:"at"`
	Status      string       `json:"status,omitempty"`
	Detail      string       `json:"detail,omitempty"`
}

// ButtonView is a template card button.
type ButtonView struct {
	Text string `json:"text"`
	Key  string `json:"key"`
}

// Chat returns a staff member's conversation with the scrm app: what they
// wrote and every app message scrm sent them (replies, reminders, alerts).
func (d *Demo) Chat(staffID string) []ChatMsgView {
	out := []ChatMsgView{}
	d.mu.Lock()
	for _, m := range d.chat[staffID] {
		out = append(out, ChatMsgView{From: "me", Kind: "text", Text: m.Text, At: m.At, Status: m.Status, Detail: m.Detail})
	}
	d.mu.Unlock()
	for _, m := range d.o.Sim.SentTo(staffID) {
		if m.Channel == wecomtest.SentWeComApp {
			out = append(out, botMessage(m))
		}
	}
	slices.SortStableFunc(out, func(a, b ChatMsgView) int { return a.At.Compare(b.At) })
	return out
}

// botMessage renders an app message as the WeCom client would show it.
func botMessage(m wecomtest.SentMessage) ChatMsgView {
	v := ChatMsgView{From: "bot", Kind: m.MsgType, Text: m.Content, At: m.At}
	switch m.MsgType {
	case "textcard":
		var tc struct {
			Title       string `json:"title"`
			Description string `json:"description"`
			URL         string `json:"url"`
			BtnTxt      string `json:"btntxt"`
		}
		if json.Unmarshal(m.Raw, &tc) == nil {
			v.Title, v.Description, v.URL = tc.Title, stripHTML(tc.Description), tc.URL
		}
	case "template_card":
		var tc struct {
			CardType  string `json:"card_type"`
			TaskID    string `json:"task_id"`
			MainTitle struct {
				Title string `json:"title"`
				Desc  string `json:"desc"`
			} `json:"main_title"`
			SubTitleText string `json:"sub_title_text"`
			Horizontal   []struct {
				KeyName string `json:"keyname"`
				Value   string `json:"value"`
			} `json:"horizontal_content_list"`
			Buttons []struct {
				Text string `json:"text"`
				Key  string `json:"key"`
			} `json:"button_list"`
			CardAction struct {
				URL string `json:"url"`
			} `json:"card_action"`
		}
		if json.Unmarshal(m.Raw, &tc) == nil {
			v.CardType, v.TaskID, v.Title, v.URL = tc.CardType, tc.TaskID, tc.MainTitle.Title, tc.CardAction.URL
			var lines []string
			for _, s := range []string{tc.MainTitle.Desc, tc.SubTitleText} {
				if s != "" {
					lines = append(lines, s)
				}
			}
			for _, h := range tc.Horizontal {
				lines = append(lines, h.KeyName+"："+h.Value)
			}
			v.Description = strings.Join(lines, "\n")
			for _, b := range tc.Buttons {
				v.Buttons = append(v.Buttons, ButtonView{Text: b.Text, Key: b.Key})
			}
		}
	case "news", "mpnews":
		v.Kind, v.Title = "news", firstLine(m.Content)
	}
	return v
}

// stripHTML drops the <div class="gray"> style markup textcards allow.
func stripHTML(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// FeedItem is one customer message in a salesperson's view.
type FeedItem struct {
	Key     string    `json:"key"`
	Name    string    `json:"name"`
	Channel string    `json:"channel"`
	Text    string    `json:"text"`
	At      time.Time `json:"at"`
}

// Feed returns the newest customer messages of people, as scrm's timelines
// hold them: the salesperson's view of their own customers.
func (d *Demo) Feed(ctx context.Context, people []*Person, limit int) ([]FeedItem, error) {
	out := []FeedItem{}
	for _, p := range people {
		recs, err := d.records(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, c := range recs {
			es, err := d.o.Store.FindTimeline(ctx, c.ID, 0, 5)
			if err != nil {
				return nil, fmt.Errorf("demo: timeline of %s: %w", c.ID, err)
			}
			for _, e := range es {
				if e.Kind == store.EntryMessage && e.Direction == store.DirectionIn {
					out = append(out, FeedItem{Key: p.Key, Name: p.Name, Channel: e.Channel, Text: e.Text, At: e.At})
				}
			}
		}
	}
	sortedDesc(out, func(f FeedItem) time.Time { return f.At })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
