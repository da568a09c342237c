package store

import (
	"context"
	"sort"
	"time"
)

// Team activity is counted at write time: AppendTimeline marks each
// follow-up (a note or outgoing message by a staff member) with how long the
// customer had been waiting for it, so a manager's overview sums a few
// indexed rows instead of reading every customer's timeline.

// FollowUpStats are one staff member's follow-ups in a period.
type FollowUpStats struct {
	FollowUps int64 // notes and outgoing messages
	// Responses counts the follow-ups that answered a waiting customer (the
	// first one after a customer's message); ResponseTime is the total time
	// those customers waited.
	Responses    int64
	ResponseTime time.Duration
}

// ActivityStore answers the team overview's questions from write-time data.
type ActivityStore interface {
	// FollowUpStats sums, per staff member in staffIDs, the follow-ups
	// stamped in [from, to). Members without any are absent from the map.
	FollowUpStats(ctx context.Context, staffIDs []string, from, to time.Time) (map[string]FollowUpStats, error)
	// NewFollowCounts counts, per staff member in staffIDs, the customers
	// who added them in [from, to), including follows that ended since.
	NewFollowCounts(ctx context.Context, staffIDs []string, from, to time.Time) (map[string]int64, error)
	// FollowerCounts counts, per staff member in staffIDs, the customers
	// they follow now — only those in stage when stage is not empty.
	FollowerCounts(ctx context.Context, staffIDs []string, stage string) (map[string]int64, error)
	// SentimentCounts counts the customers matching f (AfterID and Limit
	// ignored) by the label of their latest analysis; "" counts those never
	// analysed.
	SentimentCounts(ctx context.Context, f CustomerFilter) (map[string]int64, error)
}

// IsFollowUp reports whether e is a follow-up by a staff member: a note or a
// message sent to the customer by someone (not by the bot on its own).
func IsFollowUp(e *TimelineEntry) bool {
	if e.StaffID == "" {
		return false
	}
	return e.Kind == EntryNote || (e.Kind == EntryMessage && e.Direction == DirectionOut)
}

// IsCustomerMessage reports whether e is a message from the customer.
func IsCustomerMessage(e *TimelineEntry) bool {
	return e.Kind == EntryMessage && e.Direction == DirectionIn
}

// DayActivity is one staff member's conversation work on one day.
type DayActivity struct {
	FollowUps   int64 // notes and outgoing messages by them (IsFollowUp)
	MessagesOut int64 // of those, the messages
	MessagesIn  int64 // messages from customers on their conversations
}

// ResponseWait is one follow-up that answered a waiting customer: At is when
// it was written, Waited how long the customer had waited (wall clock) since
// their first unanswered message — the stamp AppendTimeline writes.
type ResponseWait struct {
	StaffID string
	At      time.Time
	Waited  time.Duration
}

// ReportStore answers the console's reports from indexed, write-time data.
type ReportStore interface {
	// ActivityByDay counts, per staff member in staffIDs and per period
	// [bounds[i], bounds[i+1]), their follow-ups, outgoing messages and the
	// customer messages carrying their staff ID. Each slice in the map has
	// len(bounds)-1 elements; members without any activity are absent.
	ActivityByDay(ctx context.Context, staffIDs []string, bounds []time.Time) (map[string][]DayActivity, error)
	// ResponseWaits lists the follow-ups of staffIDs in [from, to) stamped
	// with a wait, ordered by At then staff ID.
	ResponseWaits(ctx context.Context, staffIDs []string, from, to time.Time) ([]ResponseWait, error)
	// NewFollowsByDay counts, per staff member in staffIDs and per period
	// [bounds[i], bounds[i+1]), the customers who added them (follows that
	// ended since included). Members without any are absent.
	NewFollowsByDay(ctx context.Context, staffIDs []string, bounds []time.Time) (map[string][]int64, error)
	// SentimentByDay counts the customers matching f whose last contact
	// falls in each period [bounds[i], bounds[i+1]), by the label of their
	// latest analysis ("" for never analysed): one read for a trend. f's
	// LastContact bounds, AfterID and Limit are ignored.
	SentimentByDay(ctx context.Context, f CustomerFilter, bounds []time.Time) ([]map[string]int64, error)
	// LostCounts counts, per staff member in staffIDs, the customers in
	// stage 流失 (StageLost) they followed, ended follows included (a lost
	// customer has usually deleted everyone), and the distinct customers
	// among them.
	LostCounts(ctx context.Context, staffIDs []string) (byStaff map[string]int64, total int64, err error)
	// WaitingFollows lists the active follows of staffIDs whose customer
	// is waiting for an answer (IsWaiting) since at or after after, ordered
	// by staff ID, then Since, then customer ID. Backends keep the
	// customer's state on each follow at write time, so this reads no
	// customer.
	WaitingFollows(ctx context.Context, staffIDs []string, after time.Time) ([]FollowedCustomer, error)
	// OpenConcerns lists the active follows of staffIDs whose customer was
	// last in touch at or after after and whose latest analysis has the
	// label ConcernLabel or the intent ConcernIntent with no staff touch
	// since that analysis (a complaint nobody has handled), ordered by
	// staff ID then customer ID. Since is the analysis time.
	OpenConcerns(ctx context.Context, staffIDs []string, after time.Time) ([]FollowedCustomer, error)
	// StageCounts counts the customers any of staffIDs actively follows
	// by stage, each customer once however many of them follow it.
	StageCounts(ctx context.Context, staffIDs []string) (map[string]int64, error)
}

// The analysis results OpenConcerns looks for: nlp.Negative and
// nlp.IntentComplaint (a test in bot keeps them equal), spelled here because
// the SQLite backend indexes them.
const (
	ConcernLabel  = "negative"
	ConcernIntent = "投诉"
)

// FollowedCustomer is a customer on the follow of one staff member, with
// the time the list that returns it is about.
type FollowedCustomer struct {
	StaffID    string
	CustomerID string
	Since      time.Time
}

// IsWaiting reports whether c's last message is theirs and nobody has
// answered it since: an automatic answer is no touch (it never raises
// LastStaffTouchAt), a reply or a note by staff is.
func IsWaiting(c *Customer) bool {
	return c.LastCustomerMsgAt != nil && (c.LastStaffTouchAt == nil || c.LastStaffTouchAt.Before(*c.LastCustomerMsgAt))
}

// PeriodOf returns the i with bounds[i] <= t < bounds[i+1], or -1 when t
// lies outside every period. bounds are sorted.
func PeriodOf(bounds []time.Time, t time.Time) int {
	i := sort.Search(len(bounds), func(k int) bool { return bounds[k].After(t) }) - 1
	if i < 0 || i >= len(bounds)-1 {
		return -1
	}
	return i
}

// NewPeriodCounts returns n empty label counts, one per period.
func NewPeriodCounts(n int) []map[string]int64 {
	out := make([]map[string]int64, max(n, 0))
	for i := range out {
		out[i] = map[string]int64{}
	}
	return out
}
