package store

import (
	"context"
	"time"
)

// Journeys (跟进旅程, SOP): a trigger puts a customer into a journey, and
// the journey's steps then run for them one by one — waits counted in
// business days, reminders to the owner, one-customer mass messages, tag and
// stage changes — until the steps end or an exit condition holds. A customer
// enters a journey once per trigger occurrence (JourneyRun is unique on
// journey, customer and occurrence).

// Journey trigger types.
const (
	TriggerNewCustomer  = "new_customer"  // a salesperson was added (optionally through one channel)
	TriggerTagAdded     = "tag_added"     // a tag was added
	TriggerStageEntered = "stage_entered" // the customer entered a stage
	TriggerDormant      = "dormant"       // no interaction for Days days
	TriggerDateField    = "date_field"    // the date in Field ("YYYY-MM-DD") is at most Days days ahead
	TriggerNoReply      = "no_reply"      // no reply Days days after our last message
	TriggerQuarterly    = "quarterly"     // a customer of one of Tiers not contacted this quarter
)

// Journey step types.
const (
	StepWait    = "wait"    // wait Days business days (0: until within the working day)
	StepRemind  = "remind"  // remind the owner: Text, with the ready-to-send Script
	StepMessage = "message" // a one-customer mass message (add_msg_template) the owner confirms
	StepTags    = "tags"    // add AddTags, remove RemoveTags
	StepStage   = "stage"   // move the customer to Stage
)

// JourneyTrigger is what puts a customer into a journey; which fields apply
// depends on Type.
type JourneyTrigger struct {
	Type    string   `json:"type"`
	Channel string   `json:"channel,omitempty"` // new_customer: only adds through this channel (its ID)
	Tag     string   `json:"tag,omitempty"`     // tag_added
	Stage   string   `json:"stage,omitempty"`   // stage_entered
	Days    int      `json:"days,omitempty"`    // dormant, date_field (days ahead), no_reply
	Field   string   `json:"field,omitempty"`   // date_field: the custom field holding the date
	Tiers   []string `json:"tiers,omitempty"`   // quarterly
}

// JourneyStep is one step of a journey; which fields apply depends on Type.
type JourneyStep struct {
	Type       string   `json:"type"`
	Days       int      `json:"days,omitempty"`        // wait
	Text       string   `json:"text,omitempty"`        // remind: what to do; message: the message
	Script     string   `json:"script,omitempty"`      // remind: a ready-to-send text for the customer
	AddTags    []string `json:"add_tags,omitempty"`    // tags
	RemoveTags []string `json:"remove_tags,omitempty"` // tags
	Stage      string   `json:"stage,omitempty"`       // stage
}

// JourneyExit ends a customer's run early. An opted-out customer's runs
// always end, whatever the journey says.
type JourneyExit struct {
	OnReply bool     `json:"on_reply"`         // the customer wrote after the run began
	Stages  []string `json:"stages,omitempty"` // the customer reached one of these stages
}

// Journey is a follow-up journey. Version counts its writes: an update
// names the version it read (UpdateJourney), so two editors never
// overwrite each other unseen.
type Journey struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Builtin   string         `json:"builtin,omitempty"` // the key of a built-in journey, "" for one people made
	Enabled   bool           `json:"enabled"`
	Version   int64          `json:"version"`
	Trigger   JourneyTrigger `json:"trigger"`
	Steps     []JourneyStep  `json:"steps"`
	Exit      JourneyExit    `json:"exit"`
	CreatedBy string         `json:"created_by"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// Journey run states.
const (
	RunActive = "active"
	RunDone   = "done"   // every step ran
	RunExited = "exited" // an exit condition ended it (ExitReason)
)

// RunCalling is the phase of a run whose current step's effect may have
// begun: a run found in it after a crash repeats the step through the
// effect's idempotency key, never as a fresh effect.
const RunCalling = "calling"

// JourneyRunStep records one step a run took.
type JourneyRunStep struct {
	Step   int       `json:"step"`
	Type   string    `json:"type"`
	At     time.Time `json:"at"`
	Result string    `json:"result"` // e.g. "reminder:12", "campaign:cp_…", "skipped:stale", "refused:…"
}

// JourneyRun is one customer's way through a journey for one trigger
// occurrence. Step is the index of the next step, due at NextAt; StepAt is
// when that step was planned (a reminder is due then, however late the run
// gets to it). Anchor is the time waits count business days from. Version
// counts the run's writes: every write names the version it read
// (UpdateJourneyRun), so a step is advanced by one writer only.
type JourneyRun struct {
	ID         string           `json:"id"`
	JourneyID  string           `json:"journey_id"`
	CustomerID string           `json:"customer_id"`
	Occurrence string           `json:"occurrence"`
	StaffID    string           `json:"staff_id"` // whom reminders and messages go through
	State      string           `json:"state"`
	ExitReason string           `json:"exit_reason,omitempty"`
	Step       int              `json:"step"`
	Phase      string           `json:"phase,omitempty"` // "" or RunCalling
	StepAt     time.Time        `json:"step_at"`
	NextAt     time.Time        `json:"next_at"`
	Anchor     time.Time        `json:"anchor"`
	Version    int64            `json:"version"`
	Log        []JourneyRunStep `json:"log,omitempty"`
	StartedAt  time.Time        `json:"started_at"`
	UpdatedAt  time.Time        `json:"updated_at"`
	EndedAt    *time.Time       `json:"ended_at,omitempty"`
}

// JourneyRunFilter selects runs for FindJourneyRuns; empty fields do not
// filter, but JourneyID or CustomerID is required.
type JourneyRunFilter struct {
	JourneyID  string
	CustomerID string
	State      string
	Offset     int
	Limit      int // 0: 100
}

// JourneyRunCounts is how many runs of one journey are in each state.
type JourneyRunCounts struct {
	Active int `json:"active"`
	Done   int `json:"done"`
	Exited int `json:"exited"`
}

// JourneyStore keeps journeys and their runs.
type JourneyStore interface {
	// CreateJourney stores j. ErrInvalid without ID or Name, ErrConflict if
	// the ID is taken.
	CreateJourney(ctx context.Context, j *Journey) error
	// UpdateJourney replaces journey j.ID if its stored Version is still
	// version, storing j with Version version+1 (j.Version is set).
	// ErrNotFound if there is none, ErrConflict if it changed meanwhile.
	UpdateJourney(ctx context.Context, j *Journey, version int64) error
	// FindJourneyByID returns ErrNotFound if there is none.
	FindJourneyByID(ctx context.Context, id string) (*Journey, error)
	// FindJourneys returns every journey by creation time, then ID.
	FindJourneys(ctx context.Context) ([]*Journey, error)

	// CreateJourneyRun stores r unless a run of the same journey, customer
	// and occurrence exists, and reports whether it stored it. ErrInvalid
	// without ID, JourneyID, CustomerID or Occurrence.
	CreateJourneyRun(ctx context.Context, r *JourneyRun) (bool, error)
	// UpdateJourneyRun replaces run r.ID if its stored Version is still
	// version, storing r with Version version+1 (r.Version is set).
	// ErrNotFound if there is none, ErrConflict if it changed meanwhile.
	UpdateJourneyRun(ctx context.Context, r *JourneyRun, version int64) error
	// FindJourneyRunByID returns ErrNotFound if there is none.
	FindJourneyRunByID(ctx context.Context, id string) (*JourneyRun, error)
	// FindDueJourneyRuns returns up to limit active runs with NextAt at or
	// before now, earliest first.
	FindDueJourneyRuns(ctx context.Context, now time.Time, limit int) ([]*JourneyRun, error)
	// FindJourneyRuns returns the runs f selects, newest first. ErrInvalid
	// without JourneyID and CustomerID.
	FindJourneyRuns(ctx context.Context, f JourneyRunFilter) ([]*JourneyRun, error)
	// CountJourneyRuns counts the runs of every journey by state.
	CountJourneyRuns(ctx context.Context) (map[string]JourneyRunCounts, error)
}

// Add counts one run in state.
func (c *JourneyRunCounts) Add(state string, n int) {
	switch state {
	case RunActive:
		c.Active += n
	case RunDone:
		c.Done += n
	case RunExited:
		c.Exited += n
	}
}
