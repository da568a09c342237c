package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scrmhq/scrm/store"
)

// Journeys (跟进旅程, SOP) as the company keeps them: admins and managers
// create, edit (a compare-and-set on the version they read) and switch
// journeys on and off, each change audited; they read journeys with the
// counts of their runs, and the runs of one journey. The engine that runs
// them is journeys.go. A journey is the company's, not a customer's: no
// timeline entry; what its steps do to a customer goes through the actions
// (reminders, campaigns, tags, stage) with the source "journey".

// SourceJourney is the door of the changes a journey's steps make.
const SourceJourney = "journey"

// Audit actions of journeys.
const (
	AuditJourneyCreate = "journey_create"
	AuditJourneyUpdate = "journey_update"
	AuditJourneyEnable = "journey_enable" // detail enabled=true|false
)

// Bounds of a journey.
const (
	maxJourneyName   = 40 // runes: "旅程「名称」" stays within a campaign's 64
	maxJourneySteps  = 20
	maxJourneyDays   = 365
	maxJourneyText   = 4000 // bytes, a mass message's limit
	maxJourneyScript = 1000 // runes, a quick reply's
	maxJourneyTiers  = 10
	maxJourneyRuns   = 500 // runs read at once
	journeyIDPrefix  = "jn_"
)

// JourneyRequest creates a journey.
type JourneyRequest struct {
	Name    string
	Enabled bool
	Trigger store.JourneyTrigger
	Steps   []store.JourneyStep
	Exit    store.JourneyExit
	Key     string // idempotency key: a retry with the same key creates nothing new
}

// JourneyPatch changes the set fields of the journey whose Version the
// editor read.
type JourneyPatch struct {
	Version int64
	Name    *string
	Enabled *bool
	Trigger *store.JourneyTrigger
	Steps   *[]store.JourneyStep
	Exit    *store.JourneyExit
}

// JourneyView is a journey with how many of its runs are in each state.
type JourneyView struct {
	*store.Journey
	Runs store.JourneyRunCounts `json:"runs"`
}

// JourneyRunView is a run with its customer's name.
type JourneyRunView struct {
	*store.JourneyRun
	CustomerName string `json:"customer_name"`
}

// The journeys' refusals read the same in every door, the API included:
// the console shows them as they come, to people who read Chinese.
func refuse(kind error, text string) error { return &ActionError{Err: kind, Reason: text, Text: text} }

func bad(text string) error { return refuse(store.ErrInvalid, text) }

// inChinese is a shared check's refusal as the journeys give theirs.
func inChinese(err error) error {
	var ae *ActionError
	if errors.As(err, &ae) {
		return refuse(ae.Err, ae.Text)
	}
	return err
}

func mayKeepJourneys(a Actor) error {
	if a.Role != RoleAdmin && a.Role != RoleManager {
		return refuse(ErrForbidden, "只有主管和管理员可以管理跟进旅程。")
	}
	return nil
}

func errJourneyNotFound() error {
	return refuse(store.ErrNotFound, "没有找到这个跟进旅程。")
}

func errJourneyChanged() error {
	return refuse(store.ErrConflict, "这个旅程已被他人修改，请刷新后再改。")
}

// validateJourney checks everything a journey holds; channels must exist.
func (c *Core) validateJourney(ctx context.Context, j *store.Journey) error {
	j.Name = trimmed(j.Name)
	if j.Name == "" || utf8.RuneCountInString(j.Name) > maxJourneyName {
		return bad(fmt.Sprintf("旅程名称需为 1 到 %d 个字。", maxJourneyName))
	}
	if err := c.validateTrigger(ctx, &j.Trigger); err != nil {
		return err
	}
	if len(j.Steps) == 0 || len(j.Steps) > maxJourneySteps {
		return bad(fmt.Sprintf("旅程需有 1 到 %d 个步骤。", maxJourneySteps))
	}
	for i := range j.Steps {
		if err := validateStep(i, &j.Steps[i]); err != nil {
			return err
		}
	}
	if j.Exit.Stages == nil {
		j.Exit.Stages = []string{}
	}
	for _, s := range j.Exit.Stages {
		if validateStage(s) != nil {
			return bad("退出条件中的阶段需为：" + strings.Join(Stages, "、"))
		}
	}
	return nil
}

func validDays(n, lo int) bool { return n >= lo && n <= maxJourneyDays }

func (c *Core) validateTrigger(ctx context.Context, t *store.JourneyTrigger) error {
	days := func(lo int, zh string) error {
		if !validDays(t.Days, lo) {
			return bad(fmt.Sprintf("%s需为 %d 到 %d 天。", zh, lo, maxJourneyDays))
		}
		return nil
	}
	switch t.Type {
	case store.TriggerNewCustomer:
		if t.Channel == "" {
			return nil
		}
		if _, err := c.st.FindChannelByID(ctx, t.Channel); errors.Is(err, store.ErrNotFound) {
			return bad("没有找到触发条件中的渠道，请重新选择。")
		} else if err != nil {
			return fmt.Errorf("actions: channel %s: %w", t.Channel, err)
		}
	case store.TriggerTagAdded:
		t.Tag = trimmed(t.Tag)
		if t.Tag == "" || utf8.RuneCountInString(t.Tag) > MaxTagRunes {
			return bad(fmt.Sprintf("触发标签需为 1 到 %d 个字。", MaxTagRunes))
		}
	case store.TriggerStageEntered:
		return inChinese(validateStage(t.Stage))
	case store.TriggerDormant:
		return days(1, "沉睡天数")
	case store.TriggerNoReply:
		return days(1, "未回复天数")
	case store.TriggerDateField:
		t.Field = trimmed(t.Field)
		if t.Field == "" || utf8.RuneCountInString(t.Field) > MaxFieldNameRunes {
			return bad(fmt.Sprintf("日期字段名需为 1 到 %d 个字。", MaxFieldNameRunes))
		}
		return days(0, "提前天数")
	case store.TriggerQuarterly:
		if len(t.Tiers) == 0 || len(t.Tiers) > maxJourneyTiers {
			return bad(fmt.Sprintf("请填写 1 到 %d 个客户等级。", maxJourneyTiers))
		}
		for _, tier := range t.Tiers {
			if trimmed(tier) == "" || utf8.RuneCountInString(tier) > MaxTierRunes {
				return bad(fmt.Sprintf("客户等级需为 1 到 %d 个字。", MaxTierRunes))
			}
		}
	default:
		return bad("请选择触发条件：新客户、打上标签、进入阶段、沉睡、日期临近、未回复或季度回访。")
	}
	return nil
}

func validateStep(i int, s *store.JourneyStep) error {
	n := fmt.Sprintf("第 %d 步", i+1)
	switch s.Type {
	case store.StepWait:
		if !validDays(s.Days, 0) {
			return bad(fmt.Sprintf("%s：等待天数需为 0 到 %d 个工作日。", n, maxJourneyDays))
		}
	case store.StepRemind:
		s.Text, s.Script = trimmed(s.Text), trimmed(s.Script)
		if s.Text == "" || utf8.RuneCountInString(s.Text) > MaxReminderRunes {
			return bad(fmt.Sprintf("%s：提醒事项需为 1 到 %d 个字。", n, MaxReminderRunes))
		}
		if utf8.RuneCountInString(s.Script) > maxJourneyScript {
			return bad(fmt.Sprintf("%s：推荐话术最多 %d 个字。", n, maxJourneyScript))
		}
	case store.StepMessage:
		s.Text = trimmed(s.Text)
		if s.Text == "" || len(s.Text) > maxJourneyText {
			return bad(fmt.Sprintf("%s：请填写群发内容（最多 %d 字节）。", n, maxJourneyText))
		}
	case store.StepTags:
		if len(s.AddTags)+len(s.RemoveTags) == 0 {
			return bad(n + "：请填写要添加或移除的标签。")
		}
		return inChinese(validateTags(s.AddTags, s.RemoveTags))
	case store.StepStage:
		return inChinese(validateStage(s.Stage))
	default:
		return bad(n + "：类型需为等待、提醒、群发、标签或阶段。")
	}
	return nil
}

// CreateJourney stores a journey (admins and managers). The same key from
// the same actor returns the journey the first call made (created false).
func (c *Core) CreateJourney(ctx context.Context, a Actor, req JourneyRequest) (*store.Journey, bool, error) {
	if err := mayKeepJourneys(a); err != nil {
		return nil, false, err
	}
	now := c.Now()
	j := &store.Journey{Name: req.Name, Enabled: req.Enabled, Trigger: req.Trigger, Steps: req.Steps, Exit: req.Exit,
		CreatedBy: a.ID(), CreatedAt: now, UpdatedAt: now}
	if err := c.validateJourney(ctx, j); err != nil {
		return nil, false, err
	}
	var key string
	j.ID, key = keyedID(journeyIDPrefix, a, req.Key)
	if old, err := c.st.FindJourneyByID(ctx, j.ID); err == nil {
		return old, false, nil
	}
	return createKeyed(ctx, c, a, AuditJourneyCreate, j.ID, "key="+key+" trigger="+j.Trigger.Type, now, j, c.st.CreateJourney, c.st.FindJourneyByID)
}

func (c *Core) findJourney(ctx context.Context, id string) (*store.Journey, error) {
	if id == "" || len(id) > 64 {
		return nil, errJourneyNotFound()
	}
	j, err := c.st.FindJourneyByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errJourneyNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("actions: journey %s: %w", id, err)
	}
	return j, nil
}

// UpdateJourney changes a journey (admins and managers) if it is still at
// p.Version: a journey another editor changed since is refused with
// ErrConflict. A built-in journey keeps its kind of trigger. The runs under
// way follow the new steps from their next one. A patch of Enabled alone
// without a version is SetJourneyEnabled.
func (c *Core) UpdateJourney(ctx context.Context, a Actor, id string, p JourneyPatch) (*store.Journey, error) {
	if err := mayKeepJourneys(a); err != nil {
		return nil, err
	}
	if p.Version == 0 && p.Enabled != nil && p.Name == nil && p.Trigger == nil && p.Steps == nil && p.Exit == nil {
		return c.SetJourneyEnabled(ctx, a, id, *p.Enabled)
	}
	if p.Version <= 0 {
		return nil, bad("缺少旅程的版本号（version），请刷新后再改。")
	}
	j, err := c.findJourney(ctx, id)
	if err != nil {
		return nil, err
	}
	if j.Version != p.Version {
		return nil, errJourneyChanged()
	}
	var fields []string
	if p.Name != nil {
		j.Name, fields = *p.Name, append(fields, "name")
	}
	if p.Enabled != nil {
		j.Enabled, fields = *p.Enabled, append(fields, "enabled")
	}
	if p.Trigger != nil {
		if j.Builtin != "" && p.Trigger.Type != j.Trigger.Type {
			return nil, bad("内置旅程的触发条件类型不能更改。")
		}
		j.Trigger, fields = *p.Trigger, append(fields, "trigger")
	}
	if p.Steps != nil {
		j.Steps, fields = *p.Steps, append(fields, "steps")
	}
	if p.Exit != nil {
		j.Exit, fields = *p.Exit, append(fields, "exit")
	}
	if len(fields) == 0 {
		return nil, bad("没有要修改的内容。")
	}
	if err := c.validateJourney(ctx, j); err != nil {
		return nil, err
	}
	now := c.Now()
	if err := c.audit(ctx, a, AuditJourneyUpdate, id, fmt.Sprintf("fields=%s version=%d", strings.Join(fields, ","), p.Version), now); err != nil {
		return nil, err
	}
	j.UpdatedAt = now
	return j, c.storeJourney(ctx, j, p.Version)
}

func (c *Core) storeJourney(ctx context.Context, j *store.Journey, version int64) error {
	err := c.st.UpdateJourney(ctx, j, version)
	switch {
	case errors.Is(err, store.ErrConflict):
		return errJourneyChanged()
	case errors.Is(err, store.ErrNotFound):
		return errJourneyNotFound()
	case err != nil:
		return fmt.Errorf("actions: update journey %s: %w", j.ID, err)
	}
	return nil
}

// SetJourneyEnabled switches a journey on or off (admins and managers),
// whatever its version: a switch changes nothing an editor wrote. Runs of a
// journey switched off end (exit reason "disabled") at their next step.
func (c *Core) SetJourneyEnabled(ctx context.Context, a Actor, id string, enabled bool) (*store.Journey, error) {
	if err := mayKeepJourneys(a); err != nil {
		return nil, err
	}
	for range 3 {
		j, err := c.findJourney(ctx, id)
		if err != nil || j.Enabled == enabled {
			return j, err
		}
		now := c.Now()
		if err := c.audit(ctx, a, AuditJourneyEnable, id, fmt.Sprintf("enabled=%t", enabled), now); err != nil {
			return nil, err
		}
		version := j.Version
		j.Enabled, j.UpdatedAt = enabled, now
		if err := c.st.UpdateJourney(ctx, j, version); !errors.Is(err, store.ErrConflict) {
			if err != nil {
				return nil, fmt.Errorf("actions: switch journey %s: %w", id, err)
			}
			return j, nil
		}
		// An edit landed in between: switch the edited journey.
	}
	return nil, errJourneyChanged()
}

// Journeys lists every journey with the counts of its runs.
func (c *Core) Journeys(ctx context.Context, a Actor) ([]JourneyView, error) {
	if err := mayKeepJourneys(a); err != nil {
		return nil, err
	}
	js, err := c.st.FindJourneys(ctx)
	if err != nil {
		return nil, fmt.Errorf("actions: journeys: %w", err)
	}
	counts, err := c.st.CountJourneyRuns(ctx)
	if err != nil {
		return nil, fmt.Errorf("actions: count journey runs: %w", err)
	}
	out := make([]JourneyView, len(js))
	for i, j := range js {
		out[i] = JourneyView{Journey: j, Runs: counts[j.ID]}
	}
	return out, nil
}

// Journey returns one journey with the counts of its runs.
func (c *Core) Journey(ctx context.Context, a Actor, id string) (*JourneyView, error) {
	if err := mayKeepJourneys(a); err != nil {
		return nil, err
	}
	j, err := c.findJourney(ctx, id)
	if err != nil {
		return nil, err
	}
	counts, err := c.st.CountJourneyRuns(ctx)
	if err != nil {
		return nil, fmt.Errorf("actions: count journey runs: %w", err)
	}
	return &JourneyView{Journey: j, Runs: counts[id]}, nil
}

// JourneyRunsRequest pages the runs of one journey.
type JourneyRunsRequest struct {
	JourneyID     string
	State         string // "", active, done or exited
	Offset, Limit int
}

// JourneyRuns lists a journey's runs newest first, those of customers a
// may see, each with its customer's name.
func (c *Core) JourneyRuns(ctx context.Context, a Actor, req JourneyRunsRequest) ([]JourneyRunView, error) {
	if err := mayKeepJourneys(a); err != nil {
		return nil, err
	}
	if !slices.Contains([]string{"", store.RunActive, store.RunDone, store.RunExited}, req.State) {
		return nil, bad("状态只能是 active、done 或 exited。")
	}
	if req.Limit <= 0 || req.Limit > maxJourneyRuns {
		req.Limit = 100
	}
	if _, err := c.findJourney(ctx, req.JourneyID); err != nil {
		return nil, err
	}
	runs, err := c.st.FindJourneyRuns(ctx, store.JourneyRunFilter{JourneyID: req.JourneyID, State: req.State,
		Offset: max(req.Offset, 0), Limit: req.Limit})
	if err != nil {
		return nil, fmt.Errorf("actions: runs of %s: %w", req.JourneyID, err)
	}
	out := make([]JourneyRunView, 0, len(runs))
	for _, r := range runs {
		cu, err := c.st.FindCustomerByID(ctx, r.CustomerID)
		if errors.Is(err, store.ErrNotFound) || err == nil && !a.CanSee(cu) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("actions: customer %s: %w", r.CustomerID, err)
		}
		out = append(out, JourneyRunView{JourneyRun: r, CustomerName: displayName(cu)})
	}
	return out, nil
}

// customerJourneyRuns bounds the runs CustomerJourneys reads: a customer
// enters few journeys, but a quarterly one every quarter.
const customerJourneyRuns = 50

// CustomerJourneyView is one of a customer's runs with what the customer's
// page shows of its journey: the name, how many steps it has, and the step
// the run waits to take (an active run's; nil once it has ended, or when
// an edit left the journey shorter). A reminder step reads as its reminder
// will: its text and script filled in for this customer and salesperson.
type CustomerJourneyView struct {
	*store.JourneyRun
	JourneyName string             `json:"journey_name"`
	Steps       int                `json:"steps"`
	Current     *store.JourneyStep `json:"current,omitempty"`
}

// CustomerJourneys lists the journeys customer id is or was in, newest run
// first (at most 50), for anyone who may see the customer: to anyone else
// the customer is not found, as through every other door. A read of the
// customer's own record, so salespeople may make it although journeys are
// the managers' to keep.
func (c *Core) CustomerJourneys(ctx context.Context, a Actor, id string) ([]CustomerJourneyView, error) {
	cu, err := c.visible(ctx, a, id)
	if err != nil {
		return nil, err
	}
	runs, err := c.st.FindJourneyRuns(ctx, store.JourneyRunFilter{CustomerID: cu.ID, Limit: customerJourneyRuns})
	if err != nil {
		return nil, fmt.Errorf("actions: journey runs of %s: %w", cu.ID, err)
	}
	out := make([]CustomerJourneyView, 0, len(runs))
	if len(runs) == 0 {
		return out, nil
	}
	js, err := c.st.FindJourneys(ctx)
	if err != nil {
		return nil, fmt.Errorf("actions: journeys: %w", err)
	}
	byID := indexBy(js, func(j *store.Journey) string { return j.ID })
	names := map[string]string{}
	for _, r := range runs {
		v := CustomerJourneyView{JourneyRun: r}
		if j := byID[r.JourneyID]; j != nil {
			v.JourneyName, v.Steps = j.Name, len(j.Steps)
			if r.State == store.RunActive && r.Step < len(j.Steps) {
				step := j.Steps[r.Step]
				if step.Type == store.StepRemind {
					name, ok := names[r.StaffID]
					if !ok {
						name = staffName(ctx, c.st, r.StaffID)
						names[r.StaffID] = name
					}
					step.Text, step.Script = RenderQuickReply(step.Text, cu, name), RenderQuickReply(step.Script, cu, name)
				}
				v.Current = &step
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// journeysAt is what the actions that change a customer hand the journeys:
// the customer, the occurrence key of the change (its timeline entry's) and
// its time.
type journeysAt struct {
	cu  *store.Customer
	occ string
	at  time.Time
}

// journeysOnStage enters the customer, who is entering stage, into the
// journeys that start there, and ends their runs of the journeys that end
// there. It runs before the change is written: a retry of the action
// enters nothing twice (the occurrence is its entry's key), and one cut
// short by a crash is finished by the retry.
func (c *Core) journeysOnStage(ctx context.Context, stage string, w journeysAt) error {
	js, err := c.st.FindJourneys(ctx)
	if err != nil {
		return fmt.Errorf("actions: journeys: %w", err)
	}
	staff, _ := customerOwner(w.cu)
	enter := func(j *store.Journey) bool {
		return j.Trigger.Type == store.TriggerStageEntered && j.Trigger.Stage == stage
	}
	if err := enterJourneys(ctx, c.st, js, entry{customerID: w.cu.ID, staff: staff, occ: "stage:" + stage + ":" + w.occ, at: w.at}, c.Now(), enter); err != nil {
		return err
	}
	ends := map[string]bool{}
	for _, j := range js {
		if slices.Contains(j.Exit.Stages, stage) {
			ends[j.ID] = true
		}
	}
	if len(ends) == 0 {
		return nil
	}
	return exitRuns(ctx, c.st, w.cu.ID, ExitStage, c.Now(), func(r *store.JourneyRun) bool { return ends[r.JourneyID] })
}

// journeysOnTags enters the customer into the journeys that start when
// one of added (tags they did not have) is added; see journeysOnStage.
func (c *Core) journeysOnTags(ctx context.Context, added []string, w journeysAt) error {
	var fresh []string
	for _, t := range added {
		if !slices.Contains(w.cu.Tags, t) {
			fresh = append(fresh, t)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	js, err := c.st.FindJourneys(ctx)
	if err != nil {
		return fmt.Errorf("actions: journeys: %w", err)
	}
	return enterOnTags(ctx, c.st, js, w.cu, fresh, w.occ, w.at, c.Now())
}
