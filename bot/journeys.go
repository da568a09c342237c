package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// The journey engine. Customers enter a journey in three places, each
// keyed by the trigger's occurrence so that a customer enters once per
// occurrence however often it is seen:
//
//   - new customers, deletions and customer messages: the "journeys"
//     processor on the event pipeline (the add event's dedup key);
//   - tags added and stages entered: the actions that change them
//     (Core.editTags, Core.changeStage; the tag sync for tags added in
//     WeCom), keyed by the change's timeline entry;
//   - dormancy, dates approaching, no reply, the quarterly call: the
//     scheduler's daily scan over every customer (Scheduler.runDailyScan).
//
// A run advances in RunDue, which every instance polls. Advancing is a
// claim — a compare-and-set of the run's version that marks it RunCalling
// and moves NextAt a lease ahead, so no other instance finds it due — then
// one step after another, each written with a compare-and-set after its
// effect. Every effect goes through an action keyed by run and step (the
// reminder's key, the campaign's ID, the tag and stage changes' keys), so a
// run found RunCalling after a crash repeats its step as a no-op, and a
// step's effect happens once whichever instance runs it and however often.

// Exit reasons of runs.
const (
	ExitReplied  = "replied"   // the customer wrote after the run began
	ExitStage    = "stage"     // the customer reached an exit stage
	ExitOptedOut = "opted_out" // 不打扰: no journey message, ever
	ExitChurned  = "churned"   // the salesperson and the customer are no longer in touch
	ExitDisabled = "disabled"  // the journey was switched off or deleted
	ExitErased   = "erased"    // the customer was erased
)

// Keys of the built-in journeys, seeded on start (Journeys.Start).
const (
	BuiltinNewCustomer = "new_customer" // the new-customer cadence (T+0/3/7)
	BuiltinQuarterly   = "quarterly"    // key customers' quarterly call
)

// staleStep: a reminder or message more than this overdue is skipped
// rather than sent late — events replayed from long ago (an import, a
// backfill) must not flood staff with reminders for the past.
const staleStep = 24 * time.Hour

// workdayEnd is when the working day ends for steps that reach people: a
// reminder or message due later waits for the next working day.
const workdayEnd = 20 * time.Hour

// JourneyOptions tune the journey engine; zero values take the defaults.
type JourneyOptions struct {
	Location *time.Location
	// DigestAt is when the working day starts, "HH:MM" (default "09:00"):
	// a wait of N business days ends an hour after it, once the morning
	// digest has gone out.
	DigestAt string
	// Hours say which days are working days (those on which they open);
	// nil: every day.
	Hours  Hours
	Lease  time.Duration // how long advancing a run may take (default 2 min)
	Poll   time.Duration // how often every instance looks for due runs (default 30 s)
	Now    func() time.Time
	Logger *slog.Logger
}

// Journeys is the journey engine: the pipeline processor, the runner of
// due runs and the daily scan's triggers.
type Journeys struct {
	st       ActionStore
	core     *Core
	o        JourneyOptions
	dayStart time.Duration

	// cached is the journeys list the processor checks every customer
	// message against, read again a minute after it was read: a message
	// must not cost a read of the journeys, and the runs' own check at
	// their next step catches a reply the processor missed.
	mu       sync.Mutex
	cached   []*store.Journey
	cachedAt time.Time
}

// NewJourneys returns the engine over st. It fails if DigestAt is not HH:MM.
func NewJourneys(st ActionStore, o JourneyOptions) (*Journeys, error) {
	if o.DigestAt == "" {
		o.DigestAt = "09:00"
	}
	start, err := ParseClock(o.DigestAt)
	if err != nil {
		return nil, fmt.Errorf("journeys: %w", err)
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	o.Lease = positiveOr(o.Lease, 2*time.Minute)
	o.Poll = positiveOr(o.Poll, 30*time.Second)
	o.Now, o.Logger = clockOr(o.Now), loggerOr(o.Logger)
	return &Journeys{st: st, core: NewCore(st, o.Now), o: o, dayStart: start}, nil
}

// Name implements Processor.
func (*Journeys) Name() string { return "journeys" }

// ---- built-in journeys ----

// builtinJourneys are the journeys every company starts with: what used to
// be the fixed cadences, now edited in the console (跟进旅程) and nowhere
// else. The new-customer cadence is common sales practice for a new
// contact: a welcome call the same day, a product walkthrough on day 3 and
// a purchase-intent follow-up on day 7.
func builtinJourneys() []*store.Journey {
	return []*store.Journey{
		{ID: journeyIDPrefix + "builtin_" + BuiltinNewCustomer, Name: "新客户跟进节奏", Builtin: BuiltinNewCustomer, Enabled: true,
			Trigger: store.JourneyTrigger{Type: store.TriggerNewCustomer}, Steps: []store.JourneyStep{
				{Type: store.StepRemind, Text: "欢迎致电：打个招呼，了解客户需求"},
				{Type: store.StepWait, Days: 3},
				{Type: store.StepRemind, Text: "产品引导：介绍产品、解答疑问"},
				{Type: store.StepWait, Days: 4},
				{Type: store.StepRemind, Text: "购买意向跟进：确认意向和预算"},
			}, Exit: store.JourneyExit{Stages: []string{}}},
		{ID: journeyIDPrefix + "builtin_" + BuiltinQuarterly, Name: "重点客户季度回访", Builtin: BuiltinQuarterly, Enabled: true,
			Trigger: store.JourneyTrigger{Type: store.TriggerQuarterly, Tiers: slices.Clone(keyTiers)},
			Steps:   []store.JourneyStep{{Type: store.StepRemind, Text: "重点客户季度回访：本季度还没有联系过"}}, Exit: store.JourneyExit{Stages: []string{}}},
	}
}

// Start seeds the built-in journeys that are not there yet; one an admin
// edited or switched off stays as they left it. Every instance may seed at
// once: the IDs are fixed, so one of them creates each.
func (e *Journeys) Start(ctx context.Context) error {
	now := e.o.Now().UTC()
	for _, j := range builtinJourneys() {
		j.CreatedBy, j.CreatedAt, j.UpdatedAt = SystemActorID, now, now
		if err := e.st.CreateJourney(ctx, j); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("journeys: seed %s: %w", j.Builtin, err)
		}
	}
	return nil
}

// ---- entering and leaving ----

// journeyRuns is what entering and leaving journeys needs of the store.
type journeyRuns interface {
	CreateJourneyRun(ctx context.Context, r *store.JourneyRun) (bool, error)
	FindJourneyRuns(ctx context.Context, f store.JourneyRunFilter) ([]*store.JourneyRun, error)
	UpdateJourneyRun(ctx context.Context, r *store.JourneyRun, version int64) error
}

// entry is a trigger's occurrence for one customer: when it happened
// (the run begins then; waits count from its day) and when the first step
// is due.
type entry struct {
	customerID, staff, occ string
	at, due                time.Time
}

// enterJourneys starts a run for e in every enabled journey of js that
// enter selects; a run that exists already is left alone. e.staff is whom
// its reminders and messages go through; without one nothing starts (a
// journey reaches customers through their salesperson).
func enterJourneys(ctx context.Context, st journeyRuns, js []*store.Journey, e entry, now time.Time, enter func(*store.Journey) bool) error {
	if e.staff == "" {
		return nil
	}
	for _, j := range js {
		if !j.Enabled || !enter(j) {
			continue
		}
		at, due := e.at.UTC(), cmp.Or(e.due, e.at).UTC()
		r := &store.JourneyRun{ID: "jr_" + hashKey(j.ID, e.customerID, e.occ), JourneyID: j.ID, CustomerID: e.customerID, Occurrence: e.occ,
			StaffID: e.staff, State: store.RunActive, StepAt: due, NextAt: due, Anchor: at, StartedAt: at, UpdatedAt: now.UTC()}
		if _, err := st.CreateJourneyRun(ctx, r); err != nil {
			return fmt.Errorf("journeys: enter %s: %w", j.ID, err)
		}
	}
	return nil
}

// enterOnTags enters cu into the journeys that start when one of added is
// added; occ is the change's key.
func enterOnTags(ctx context.Context, st journeyRuns, js []*store.Journey, cu *store.Customer, added []string, occ string, at, now time.Time) error {
	staff, _ := customerOwner(cu)
	for _, t := range added {
		enter := func(j *store.Journey) bool { return j.Trigger.Type == store.TriggerTagAdded && j.Trigger.Tag == t }
		if err := enterJourneys(ctx, st, js, entry{customerID: cu.ID, staff: staff, occ: "tag:" + t + ":" + occ, at: at}, now, enter); err != nil {
			return err
		}
	}
	return nil
}

// exitRuns ends the active runs of customerID that match with reason. A
// run advanced meanwhile is read again and ended as it is now.
func exitRuns(ctx context.Context, st journeyRuns, customerID, reason string, now time.Time, match func(*store.JourneyRun) bool) error {
	runs, err := st.FindJourneyRuns(ctx, store.JourneyRunFilter{CustomerID: customerID, State: store.RunActive, Limit: maxJourneyRuns})
	if err != nil {
		return fmt.Errorf("journeys: runs of %s: %w", customerID, err)
	}
	for _, r := range runs {
		if !match(r) {
			continue
		}
		for try := 0; ; try++ {
			err := endRun(ctx, st, r, store.RunExited, reason, now)
			if !errors.Is(err, store.ErrConflict) || try == 3 {
				if err != nil {
					return fmt.Errorf("journeys: end run %s: %w", r.ID, err)
				}
				break
			}
			fresh, err := st.FindJourneyRuns(ctx, store.JourneyRunFilter{CustomerID: customerID, State: store.RunActive, Limit: maxJourneyRuns})
			if err != nil {
				return fmt.Errorf("journeys: runs of %s: %w", customerID, err)
			}
			i := slices.IndexFunc(fresh, func(f *store.JourneyRun) bool { return f.ID == r.ID })
			if i < 0 {
				break // it ended meanwhile
			}
			r = fresh[i]
		}
	}
	return nil
}

// endRun writes r as ended in state (done or exited with reason).
func endRun(ctx context.Context, st journeyRuns, r *store.JourneyRun, state, reason string, now time.Time) error {
	version := r.Version
	r.State, r.ExitReason, r.Phase, r.EndedAt, r.UpdatedAt = state, reason, "", &now, now
	return st.UpdateJourneyRun(ctx, r, version)
}

// ---- the processor ----

// Process implements Processor: a new contact enters the new-customer
// journeys (not a customer handed over: WeCom announces the takeover as a
// new contact), a salesperson and customer parting end the runs through
// that salesperson, and a customer's message ends the runs of journeys
// that stop on a reply.
func (e *Journeys) Process(ctx context.Context, ev *store.Event) error {
	if ev.CustomerID == "" {
		return nil
	}
	switch {
	case ev.Channel == store.ChannelWeCom && ev.Kind == wecom.KindAddExternalContact && ev.StaffID != "":
		return e.newCustomer(ctx, ev)
	case ev.Channel == store.ChannelWeCom && ev.StaffID != "" &&
		(ev.Kind == wecom.KindDelFollowUser ||
			(ev.Kind == wecom.KindDelExternalContact && ev.Attrs["Source"] != "DELETE_BY_TRANSFER")):
		cu, err := e.st.FindCustomerByIdentity(ctx, identityOf(ev))
		if err != nil {
			return skipIfGone(err, "journeys: find customer")
		}
		return exitRuns(ctx, e.st, cu.ID, ExitChurned, e.o.Now().UTC(), func(r *store.JourneyRun) bool { return r.StaffID == ev.StaffID })
	case wecom.IsMessageKind(ev.Kind) && (ev.Channel != store.ChannelWeCom || ev.FromID == ev.CustomerID):
		return e.replied(ctx, ev)
	}
	return nil
}

func (e *Journeys) newCustomer(ctx context.Context, ev *store.Event) error {
	cu, err := e.st.FindCustomerByIdentity(ctx, identityOf(ev))
	if err != nil {
		return skipIfGone(err, "journeys: find customer")
	}
	if handed, err := takenOver(ctx, e.st, cu, ev.StaffID); err != nil || handed {
		return err
	}
	js, err := e.st.FindJourneys(ctx)
	if err != nil {
		return fmt.Errorf("journeys: %w", err)
	}
	channel := ""
	if state := ev.Attrs["State"]; state != "" && slices.ContainsFunc(js, func(j *store.Journey) bool { return j.Trigger.Channel != "" }) {
		ch, err := e.st.FindChannelByState(ctx, state)
		switch {
		case err == nil:
			channel = ch.ID
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("journeys: channel of %s: %w", ev.DedupKey, err)
		}
	}
	return enterJourneys(ctx, e.st, js, entry{customerID: cu.ID, staff: ev.StaffID, occ: ev.DedupKey, at: ev.OccurredAt}, e.o.Now(), func(j *store.Journey) bool {
		return j.Trigger.Type == store.TriggerNewCustomer && (j.Trigger.Channel == "" || j.Trigger.Channel == channel)
	})
}

// takenOver reports whether staff follows c because a colleague handed the
// customer over: their open reminders moved with the customer, and the
// new-customer journeys are not theirs.
func takenOver(ctx context.Context, st store.HandoverStateStore, c *store.Customer, staff string) (bool, error) {
	for _, f := range c.Follows {
		if f.StaffID == staff {
			continue
		}
		s, err := FindHandover(ctx, st, c.ID, f.StaffID)
		if err != nil {
			return false, fmt.Errorf("journeys: handover of %s: %w", c.ID, err)
		}
		if s != nil && s.To == staff && (s.Status == HandoverPending || s.Status == HandoverDone) {
			return true, nil
		}
	}
	return false, nil
}

// replied ends the customer's runs of the journeys that stop on a reply.
func (e *Journeys) replied(ctx context.Context, ev *store.Event) error {
	js, err := e.cachedJourneys(ctx)
	if err != nil {
		return err
	}
	onReply := map[string]bool{}
	for _, j := range js {
		if j.Exit.OnReply {
			onReply[j.ID] = true
		}
	}
	if len(onReply) == 0 {
		return nil
	}
	cu, err := e.st.FindCustomerByIdentity(ctx, identityOf(ev))
	if err != nil {
		return skipIfGone(err, "journeys: find customer")
	}
	return exitRuns(ctx, e.st, cu.ID, ExitReplied, e.o.Now().UTC(), func(r *store.JourneyRun) bool {
		return onReply[r.JourneyID] && r.StartedAt.Before(ev.OccurredAt)
	})
}

func (e *Journeys) cachedJourneys(ctx context.Context) ([]*store.Journey, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.o.Now()
	if e.cachedAt.IsZero() || now.Sub(e.cachedAt) >= time.Minute || now.Before(e.cachedAt) {
		js, err := e.st.FindJourneys(ctx)
		if err != nil {
			return nil, fmt.Errorf("journeys: %w", err)
		}
		e.cached, e.cachedAt = js, now
	}
	return e.cached, nil
}

// ---- business days ----

// workday reports whether day (midnight in the business zone) is a working
// day: the business hours open on it.
func (e *Journeys) workday(day time.Time) bool {
	if e.o.Hours == nil {
		return true
	}
	return startOfDay(e.o.Hours.NextOpen(day), e.o.Location).Equal(day)
}

// nextWorkday is the first working day after day (a year at most ahead).
func (e *Journeys) nextWorkday(day time.Time) time.Time {
	for range 366 {
		if day = day.AddDate(0, 0, 1); e.workday(day) {
			break
		}
	}
	return day
}

// withinWorkday is t if it falls within a working day (DigestAt to 20:00),
// else the start of the next one.
func (e *Journeys) withinWorkday(t time.Time) time.Time {
	day := startOfDay(t, e.o.Location)
	start := atClock(day, e.dayStart, e.o.Location)
	if e.workday(day) {
		switch {
		case t.Before(start):
			return start.UTC()
		case t.Before(atClock(day, workdayEnd, e.o.Location)):
			return t.UTC()
		}
	}
	return atClock(e.nextWorkday(day), e.dayStart, e.o.Location).UTC()
}

// afterWorkdays is n (> 0) working days after anchor's day, an hour into
// the working day: after the morning digest.
func (e *Journeys) afterWorkdays(anchor time.Time, n int) time.Time {
	day := startOfDay(anchor, e.o.Location)
	for range n {
		day = e.nextWorkday(day)
	}
	return atClock(day, e.dayStart+time.Hour, e.o.Location).UTC()
}

// ---- advancing runs ----

// Run advances due runs until ctx ends, looking every Poll.
func (e *Journeys) Run(ctx context.Context) {
	pollLoop(ctx, e.o.Poll, nil, func() {
		if err := drainWhile(ctx, e.RunDue, some); err != nil && ctx.Err() == nil {
			e.o.Logger.Warn("journeys: advance runs", "err", err)
		}
	})
}

// RunDue advances the runs due now, reporting how many it claimed (none:
// nothing more is due, or the store refuses the claims — either way no
// reason to look again at once). A run that fails after its claim stays
// claimed until its lease ends, then is taken up again.
func (e *Journeys) RunDue(ctx context.Context) (int, error) {
	runs, err := e.st.FindDueJourneyRuns(ctx, e.o.Now(), 50)
	if err != nil {
		return 0, fmt.Errorf("journeys: due runs: %w", err)
	}
	claimed := 0
	for _, r := range runs {
		run, err := e.claim(ctx, r)
		if err != nil || run == nil {
			if err != nil {
				e.o.Logger.Warn("journeys: claim run", "run", r.ID, "err", err)
			}
			continue
		}
		claimed++
		if err := e.advance(ctx, run); err != nil {
			e.o.Logger.Warn("journeys: advance run", "run", r.ID, "journey", r.JourneyID, "err", err)
		}
	}
	return claimed, nil
}

// claim marks r RunCalling with its next look a lease ahead, over the
// version read: nil when another instance claimed it first.
func (e *Journeys) claim(ctx context.Context, r *store.JourneyRun) (*store.JourneyRun, error) {
	now := e.o.Now().UTC()
	run := *r
	run.Phase, run.NextAt, run.UpdatedAt = store.RunCalling, now.Add(e.o.Lease), now
	if err := e.st.UpdateJourneyRun(ctx, &run, r.Version); errors.Is(err, store.ErrConflict) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return &run, nil
}

// advance runs the steps of the claimed run until one lies ahead or the
// run ends.
func (e *Journeys) advance(ctx context.Context, run *store.JourneyRun) error {
	now := e.o.Now().UTC()
	for {
		j, err := e.st.FindJourneyByID(ctx, run.JourneyID)
		if errors.Is(err, store.ErrNotFound) {
			return e.end(ctx, run, store.RunExited, ExitDisabled, now)
		}
		if err != nil {
			return err
		}
		cu, err := e.st.FindCustomerByID(ctx, run.CustomerID)
		if errors.Is(err, store.ErrNotFound) {
			return e.end(ctx, run, store.RunExited, ExitErased, now)
		}
		if err != nil {
			return err
		}
		if reason := e.exitReason(j, cu, run); reason != "" {
			return e.end(ctx, run, store.RunExited, reason, now)
		}
		if run.Step >= len(j.Steps) {
			return e.end(ctx, run, store.RunDone, "", now)
		}
		step := j.Steps[run.Step]
		var at time.Time // when the step is due, if it waits
		switch step.Type {
		case store.StepWait:
			at = e.withinWorkday(run.StepAt)
			if step.Days > 0 {
				at = e.afterWorkdays(run.Anchor, step.Days)
				run.Anchor = at
			}
			run.Step++
		case store.StepRemind, store.StepMessage:
			// What reaches people waits for the working day.
			at = e.withinWorkday(run.StepAt)
		}
		if !at.IsZero() {
			run.StepAt = at
			if at.After(now) {
				run.Phase, run.NextAt = "", at
				return e.save(ctx, run)
			}
		}
		if step.Type != store.StepWait {
			result, err := e.runStep(ctx, j, cu, run, step, now)
			if err != nil {
				return fmt.Errorf("step %d (%s): %w", run.Step, step.Type, err)
			}
			run.Log = append(run.Log, store.JourneyRunStep{Step: run.Step, Type: step.Type, At: now, Result: result})
			run.Step++
		}
		if err := e.save(ctx, run); err != nil {
			return err
		}
	}
}

// save writes run over the version it holds; a conflict means its claim
// was lost (it outlived its lease), and the new holder goes on.
func (e *Journeys) save(ctx context.Context, run *store.JourneyRun) error {
	run.UpdatedAt = e.o.Now().UTC()
	if err := e.st.UpdateJourneyRun(ctx, run, run.Version); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

func (e *Journeys) end(ctx context.Context, run *store.JourneyRun, state, reason string, now time.Time) error {
	if err := endRun(ctx, e.st, run, state, reason, now); err != nil {
		return fmt.Errorf("end: %w", err)
	}
	return nil
}

// exitReason says why run must end before its next step, if it must. A
// run whose salesperson no longer follows the customer goes on through the
// customer's owner (a handover), or ends when nobody follows them.
func (e *Journeys) exitReason(j *store.Journey, cu *store.Customer, run *store.JourneyRun) string {
	switch {
	case OptedOut(cu):
		return ExitOptedOut
	case !j.Enabled:
		return ExitDisabled
	case j.Exit.OnReply && cu.LastCustomerMsgAt != nil && cu.LastCustomerMsgAt.After(run.StartedAt):
		return ExitReplied
	case slices.Contains(j.Exit.Stages, cu.Stage):
		return ExitStage
	}
	if !slices.ContainsFunc(cu.Follows, func(f store.Follow) bool { return f.StaffID == run.StaffID && !f.Deleted }) {
		owner, _ := customerOwner(cu)
		if owner == "" {
			return ExitChurned
		}
		run.StaffID = owner
	}
	return ""
}

// runStep carries out one step that is not a wait through the actions,
// keyed by run and step, and says what it did.
func (e *Journeys) runStep(ctx context.Context, j *store.Journey, cu *store.Customer, run *store.JourneyRun, step store.JourneyStep, now time.Time) (string, error) {
	key := "journey:" + run.ID + ":" + strconv.Itoa(run.Step)
	a := SystemActor(SourceJourney)
	stale := now.Sub(run.StepAt) > staleStep
	var result string
	var err error
	switch step.Type {
	case store.StepRemind:
		if stale {
			return "skipped:stale", nil
		}
		name := staffName(ctx, e.st, run.StaffID)
		var r *store.Reminder
		r, _, err = e.core.CreateReminder(ctx, a, ReminderRequest{CustomerID: cu.ID, StaffID: run.StaffID, Kind: store.ReminderCadence,
			Key: key, Text: RenderQuickReply(step.Text, cu, name), Script: RenderQuickReply(step.Script, cu, name),
			DueAt: run.StepAt, At: run.StepAt})
		if err == nil {
			result = "reminder:" + strconv.FormatInt(r.ID, 10)
		}
	case store.StepMessage:
		if stale {
			return "skipped:stale", nil
		}
		// A campaign of one customer: WeCom's cap, the company's cap,
		// opt-out, the sender's notice, nudges and the result sync all
		// apply; its ID comes from the key, so it is made once.
		var cp *store.Campaign
		cp, _, err = e.core.CreateCampaign(ctx, a, CampaignRequest{Name: "旅程「" + j.Name + "」", Text: step.Text,
			Filter: &store.SegmentFilter{CustomerID: cu.ID}, Key: key, JourneyID: j.ID})
		if err == nil {
			result = "campaign:" + cp.ID
		}
	case store.StepTags:
		_, err = e.core.EditTags(ctx, a, TagsRequest{CustomerID: cu.ID, Add: step.AddTags, Remove: step.RemoveTags, Key: key})
		result = "tags"
	case store.StepStage:
		_, _, err = e.core.ChangeStage(ctx, a, StageRequest{CustomerID: cu.ID, Stage: step.Stage, Key: key,
			Reason: "旅程「" + j.Name + "」", StaffID: run.StaffID})
		result = "stage"
	}
	if text, refused := refusal(err); refused {
		// Refused for good (a customer with too many tags, say): the
		// run goes on rather than retrying for ever.
		return "refused:" + text, nil
	}
	return result, err
}

// ---- the daily scan's triggers ----

// scanJourneys are the enabled journeys the daily scan starts.
func (e *Journeys) scanJourneys(ctx context.Context) ([]*store.Journey, error) {
	js, err := e.st.FindJourneys(ctx)
	if err != nil {
		return nil, fmt.Errorf("journeys: %w", err)
	}
	return slices.DeleteFunc(js, func(j *store.Journey) bool {
		switch j.Trigger.Type {
		case store.TriggerDormant, store.TriggerDateField, store.TriggerNoReply, store.TriggerQuarterly:
			return !j.Enabled
		}
		return true
	}), nil
}

// scanCustomer enters c into the journeys of js whose trigger holds on
// day; their first step is due at due. The page of customers was read a
// while ago: a customer who matches is read again first, so one who just
// wrote is not called dormant.
func (e *Journeys) scanCustomer(ctx context.Context, js []*store.Journey, c *store.Customer, day, now, due time.Time) error {
	if !slices.ContainsFunc(js, func(j *store.Journey) bool { _, ok := e.occurrence(j.Trigger, c, day, now); return ok }) {
		return nil
	}
	fresh, err := e.st.FindCustomerByID(ctx, c.ID)
	if err != nil {
		return skipIfGone(err, "journeys: customer "+c.ID)
	}
	staff, _ := customerOwner(fresh)
	for _, j := range js {
		occ, ok := e.occurrence(j.Trigger, fresh, day, now)
		if !ok {
			continue
		}
		if err := enterJourneys(ctx, e.st, []*store.Journey{j}, entry{customerID: fresh.ID, staff: staff, occ: occ, at: now, due: due}, now,
			func(*store.Journey) bool { return true }); err != nil {
			return err
		}
	}
	return nil
}

// occurrence is the key of the occurrence of a time trigger t on c on day,
// if t holds: the start of the dormancy, the date, the message left
// without a reply, the quarter.
func (e *Journeys) occurrence(t store.JourneyTrigger, c *store.Customer, day, now time.Time) (string, bool) {
	daysSince := func(at time.Time) bool { return now.Sub(at) >= time.Duration(t.Days)*24*time.Hour }
	switch t.Type {
	case store.TriggerDormant:
		last := lastContact(c)
		if last.IsZero() {
			last = c.CreatedAt
		}
		return "dormant:" + last.UTC().Format(time.RFC3339), c.Stage != store.StageLost && daysSince(last)
	case store.TriggerNoReply:
		touch := c.LastStaffTouchAt
		if touch == nil {
			return "", false
		}
		return "no_reply:" + touch.UTC().Format(time.RFC3339), daysSince(*touch) && (c.LastCustomerMsgAt == nil || c.LastCustomerMsgAt.Before(*touch))
	case store.TriggerDateField:
		v := strings.TrimSpace(c.Fields[t.Field])
		date, err := time.ParseInLocation("2006-01-02", v, e.o.Location)
		if err != nil {
			return "", false
		}
		left := int(date.Sub(day).Hours() / 24)
		return "date:" + t.Field + ":" + v, left >= 0 && left <= t.Days
	case store.TriggerQuarterly:
		// A call each quarter, spread over its first two months so a
		// quarter does not start with every key customer due at once.
		if !slices.Contains(t.Tiers, c.Tier) {
			return "", false
		}
		q := (int(day.Month()) - 1) / 3
		qStart := time.Date(day.Year(), time.Month(q*3+1), 1, 0, 0, 0, 0, e.o.Location)
		h := fnv.New32a()
		h.Write([]byte(c.ID))
		start := qStart.AddDate(0, 0, int(h.Sum32()%60))
		touched := c.LastStaffTouchAt != nil && !c.LastStaffTouchAt.Before(qStart)
		return fmt.Sprintf("quarter:%dQ%d", day.Year(), q+1), !day.Before(start) && !touched
	}
	return "", false
}
