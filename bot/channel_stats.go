package bot

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/scrmhq/scrm/store"
)

// ChannelNumbers are a channel's (or one member's share of it) numbers over
// a period. Retention counts only adds old enough to tell: Retained7 of
// Eligible7 adds made at least 7 days before now had not been deleted by
// the customer 7 days after the add.
type ChannelNumbers struct {
	Adds      int `json:"adds"`
	Deletions int `json:"deletions"` // by the customer (del_follow_user)
	Net       int `json:"net"`
	Eligible7 int `json:"eligible_7d"`
	Retained7 int `json:"retained_7d"`
	// Retention7 and Retention30 are Retained/Eligible, 0 with none eligible.
	Retention7  float64 `json:"retention_7d"`
	Eligible30  int     `json:"eligible_30d"`
	Retained30  int     `json:"retained_30d"`
	Retention30 float64 `json:"retention_30d"`
	Won         int     `json:"won"`     // customers added in the period now 已成交
	Replied     int     `json:"replied"` // adds after which the customer wrote (a reply to the welcome)
}

// ChannelDay is one business day's adds and deletions.
type ChannelDay struct {
	Date      string `json:"date"`
	Adds      int    `json:"adds"`
	Deletions int    `json:"deletions"`
	Net       int    `json:"net"`
}

// ChannelStats are a channel's numbers for a period.
type ChannelStats struct {
	ChannelID string                    `json:"channel_id"`
	Name      string                    `json:"name"`
	From      time.Time                 `json:"from"`
	To        time.Time                 `json:"to"`
	Total     ChannelNumbers            `json:"total"`
	Days      []ChannelDay              `json:"days"`
	Staff     map[string]ChannelNumbers `json:"staff"`
}

// ChannelStats computes a channel's numbers for adds and deletions in
// [from, to), per business day of loc and per member, at now.
func (c *Core) ChannelStats(ctx context.Context, a Actor, id string, from, to time.Time, loc *time.Location) (*ChannelStats, error) {
	if err := mayManageChannels(a); err != nil {
		return nil, err
	}
	ch, err := c.st.FindChannelByID(ctx, id)
	if err != nil {
		return nil, &ActionError{Err: store.ErrNotFound, Reason: "channel not found", Text: "没有找到这个渠道。"}
	}
	if !from.Before(to) || to.Sub(from) > 400*24*time.Hour {
		return nil, invalid("from must be before to, at most 400 days apart", "开始时间需早于结束时间，且相隔不超过 400 天。")
	}
	if loc == nil {
		loc = time.UTC
	}
	// Deletions up to 30 days after the period decide its retention.
	evs, err := c.st.FindChannelEvents(ctx, store.ChannelEventFilter{ChannelID: id, From: from, To: to.Add(31 * 24 * time.Hour)})
	if err != nil {
		return nil, fmt.Errorf("actions: channel events: %w", err)
	}
	now := c.Now()
	st := &ChannelStats{ChannelID: id, Name: ch.Name, From: from.UTC(), To: to.UTC(), Staff: map[string]ChannelNumbers{}}
	days := map[string]*ChannelDay{}
	for d := from.In(loc); d.Before(to); d = d.AddDate(0, 0, 1) {
		key := d.Format(time.DateOnly)
		if _, ok := days[key]; !ok {
			days[key] = &ChannelDay{Date: key}
		}
	}
	type pair struct{ customer, staff string }
	deletes := map[pair][]time.Time{}
	for _, e := range evs {
		if e.Kind == store.ChannelEventDelete {
			deletes[pair{e.CustomerID, e.StaffID}] = append(deletes[pair{e.CustomerID, e.StaffID}], e.At)
		}
	}
	customers := map[string]*store.Customer{}
	wonSeen := map[string]map[string]bool{} // staff ("" the total) → customers counted won
	count := func(staff string, e store.ChannelEvent, n *ChannelNumbers) {
		switch e.Kind {
		case store.ChannelEventDelete:
			n.Deletions++
		case store.ChannelEventAdd:
			n.Adds++
			for _, w := range []struct {
				days               int
				eligible, retained *int
			}{{7, &n.Eligible7, &n.Retained7}, {30, &n.Eligible30, &n.Retained30}} {
				end := e.At.Add(time.Duration(w.days) * 24 * time.Hour)
				if end.After(now) {
					continue
				}
				*w.eligible++
				if !slices.ContainsFunc(deletes[pair{e.CustomerID, e.StaffID}], func(t time.Time) bool { return t.After(e.At) && !t.After(end) }) {
					*w.retained++
				}
			}
			cu := customers[e.CustomerID]
			if cu == nil {
				return
			}
			if cu.LastCustomerMsgAt != nil && cu.LastCustomerMsgAt.After(e.At) {
				n.Replied++
			}
			if cu.Stage == store.StageWon {
				if wonSeen[staff] == nil {
					wonSeen[staff] = map[string]bool{}
				}
				if !wonSeen[staff][cu.ID] {
					wonSeen[staff][cu.ID] = true
					n.Won++
				}
			}
		}
	}
	for _, e := range evs {
		if e.At.Before(from) || !e.At.Before(to) {
			continue
		}
		if e.Kind == store.ChannelEventAdd && customers[e.CustomerID] == nil {
			if cu, err := c.st.FindCustomerByID(ctx, e.CustomerID); err == nil {
				customers[e.CustomerID] = cu
			}
		}
		count("", e, &st.Total)
		n := st.Staff[e.StaffID]
		count(e.StaffID, e, &n)
		st.Staff[e.StaffID] = n
		d := days[e.At.In(loc).Format(time.DateOnly)]
		if d != nil {
			if e.Kind == store.ChannelEventAdd {
				d.Adds++
			} else {
				d.Deletions++
			}
		}
	}
	finish := func(n *ChannelNumbers) {
		n.Net = n.Adds - n.Deletions
		if n.Eligible7 > 0 {
			n.Retention7 = float64(n.Retained7) / float64(n.Eligible7)
		}
		if n.Eligible30 > 0 {
			n.Retention30 = float64(n.Retained30) / float64(n.Eligible30)
		}
	}
	finish(&st.Total)
	for k, n := range st.Staff {
		finish(&n)
		st.Staff[k] = n
	}
	for _, d := range days {
		d.Net = d.Adds - d.Deletions
		st.Days = append(st.Days, *d)
	}
	slices.SortFunc(st.Days, func(a, b ChannelDay) int {
		if a.Date < b.Date {
			return -1
		}
		if a.Date > b.Date {
			return 1
		}
		return 0
	})
	return st, nil
}
