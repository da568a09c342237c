package bot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/scrmhq/scrm/nlp"
	"github.com/scrmhq/scrm/store"
)

// AttrPromisesRead marks a staff message whose promises became reminders
// when it was sent (回) or stored (the chat archive): the analysis does not
// read it for promises again, so a promise is one reminder whichever door
// saw it first.
const AttrPromisesRead = "promises_read"

// remindPromises turns the promises in e, a message a staff member sent to
// customer cu, into promise reminders through CreateReminder, at once: the
// salesperson who wrote "明天上午安排工程师上门维修" sees it in 今天 before
// the conversation has even gone quiet. Whoever owes the promise, the
// reminder is the sender's: their own commitment to keep, or the customer's
// to follow up. Each is keyed by the entry's SourceKey and the promise's
// place in it, so a redelivered command or a re-pulled archive batch makes
// one. It returns how many reminders are new.
func (c *Core) remindPromises(ctx context.Context, a Actor, cu *store.Customer, e *store.TimelineEntry, loc *time.Location) (int, error) {
	if e.StaffID == "" || e.Automatic() || e.Direction != store.DirectionOut {
		return 0, nil
	}
	now := c.now()
	name := reminderName(cu)
	created := 0
	for n, p := range nlp.PromisesInMessage(e.Text, nlp.RoleStaff, e.At, loc) {
		if p.Due.Before(now.Add(-promiseMaxAge)) {
			continue // an old archived message: its promise is history
		}
		_, ok, err := c.CreateReminder(ctx, a, ReminderRequest{
			CustomerID: cu.ID,
			Text:       promiseText(found{entry: e, n: n, p: p}, name, loc),
			DueAt:      remindAt(p, e.At, loc),
			Key:        e.SourceKey + ":" + strconv.Itoa(n),
			At:         now,
			Kind:       store.ReminderPromise,
			StaffID:    e.StaffID,
		})
		if errors.Is(err, store.ErrNotFound) {
			return created, nil // erased meanwhile
		}
		if err != nil {
			return created, fmt.Errorf("promise reminder on %s: %w", cu.ID, err)
		}
		if ok {
			created++
		}
	}
	return created, nil
}

// reminderName is how a reminder names the customer: the owner's remark,
// else the customer's name.
func reminderName(c *store.Customer) string {
	_, remark := customerOwner(c)
	switch {
	case remark != "":
		return remark
	case c.Name != "":
		return c.Name
	}
	return "（未命名）"
}
