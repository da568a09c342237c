package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// Durable job kind and keys of the address book sync.
const (
	// JobStaffSync is a full sync of the staff directory from WeCom's
	// address book.
	JobStaffSync = "staff_sync"
	// StaffSyncJobKey is the sync asked for at start, through the API and
	// by address book changes: asking again while one is pending re-arms
	// it instead of queueing a second.
	StaffSyncJobKey = "staff:sync"
	// staffSyncDailyKey is the periodic sync. It has its own key so that
	// re-arming it for the next day never postpones a sync someone asked
	// for meanwhile.
	staffSyncDailyKey = "staff:sync:daily"
)

// Audit trail of the sync: one entry per staff record it creates or
// changes, so an admin can tell a role WeCom gave from one set by hand.
const (
	AuditStaffSync = "staff_sync"
	StaffSyncActor = "wecom_sync"
)

// ErrEmptyAddressBook is returned when WeCom lists no department or no
// member: that is a narrowed visible range or a permission problem, never a
// company without staff, so the sync changes nothing.
var ErrEmptyAddressBook = errors.New("staff sync: the WeCom address book is empty; check the app's visible range (可见范围)")

// WeComDirectory is the part of *wecom.APIClient the staff sync uses (with
// the app's token).
type WeComDirectory interface {
	ListDepartments(ctx context.Context, id int64) ([]wecom.Department, error)
	ListDepartmentMembers(ctx context.Context, departmentID int64) ([]wecom.Member, error)
}

// StaffSyncStore is what the staff sync reads and writes.
type StaffSyncStore interface {
	FindStaff(ctx context.Context) ([]*store.Staff, error)
	FindStaffByID(ctx context.Context, id string) (*store.Staff, error)
	UpsertStaff(ctx context.Context, s *store.Staff) error
	AppendAudit(ctx context.Context, e *store.AuditEntry) error
	ScheduleJob(ctx context.Context, key, kind, payload string, dueAt time.Time) error
}

// StaffSyncOptions tune a StaffSync; zero values take the defaults.
type StaffSyncOptions struct {
	Now    func() time.Time
	Logger *slog.Logger
	// Interval is how often the periodic sync runs (default 24 h).
	Interval time.Duration
	// Debounce delays the sync a change_contact event asks for, so an admin
	// reorganising departments costs one sync (default 10 s).
	Debounce time.Duration
	// Concurrency bounds the user/list calls in flight (default 4).
	Concurrency int
}

// StaffSyncResult counts what one sync did.
type StaffSyncResult struct {
	Members     int // members WeCom listed
	Created     int // staff records created
	Updated     int // staff records changed
	Deactivated int // records of members WeCom no longer lists, made inactive
}

// StaffSync keeps the staff directory in step with WeCom's address book, so
// a company does not type its org chart into scrm:
//
//   - a member who leads a department (is_leader_in_dept, or the
//     department's department_leader) is a manager whose team is every
//     member of that department and of its sub-departments, themselves
//     excluded; every other member is sales;
//   - a member WeCom reports disabled (status 2) or gone (status 5), or one
//     it no longer lists at all after an earlier sync saw them, is inactive;
//   - names and departments follow WeCom.
//
// What an admin set by hand wins: PUT /api/v1/staff/{id} records the fields
// it sets in Staff.Manual and the sync never changes those, and an admin's
// role is never changed (the sync only ever derives manager or sales).
// Records WeCom never listed (entered by hand, API-only users) are left
// alone.
//
// It runs at start, daily, on demand (POST /api/v1/staff/sync) and, debounced,
// after change_contact events, as durable JobStaffSync jobs.
type StaffSync struct {
	follower[StaffSyncStore, WeComDirectory, StaffSyncOptions]
}

// NewStaffSync returns the staff sync; it is a Processor and runs
// JobStaffSync jobs through Runner.
func NewStaffSync(st StaffSyncStore, api WeComDirectory, o StaffSyncOptions) *StaffSync {
	o.Now, o.Logger = clockOr(o.Now), loggerOr(o.Logger)
	o.Interval = positiveOr(o.Interval, 24*time.Hour)
	o.Debounce = positiveOr(o.Debounce, 10*time.Second)
	o.Concurrency = positiveOr(o.Concurrency, 4)
	return &StaffSync{follower[StaffSyncStore, WeComDirectory, StaffSyncOptions]{st, api, o}}
}

// Name implements Processor.
func (*StaffSync) Name() string { return "staff" }

// Start schedules a sync now and the periodic one an Interval from now. Its
// error is worth a warning, not a failed start: the roles already stored
// keep working until the next sync.
func (s *StaffSync) Start(ctx context.Context) error {
	now := s.o.Now()
	if err := scheduleSync(ctx, s.st, StaffSyncJobKey, JobStaffSync, "start-up", now); err != nil {
		return err
	}
	return scheduleSync(ctx, s.st, staffSyncDailyKey, JobStaffSync, "periodic", now.Add(s.o.Interval))
}

// Runner returns the runner of JobStaffSync jobs. A large address book takes
// a while to read, so the lease defaults to 15 minutes.
func (s *StaffSync) Runner(q JobQueue, o RunnerOptions) *JobRunner {
	return NewJobRunner(q, JobStaffSync, s.runJob, o.forKind(JobStaffSync, 15*time.Minute))
}

func (s *StaffSync) runJob(ctx context.Context, job *store.Job) error {
	if _, err := s.Sync(ctx); err != nil {
		// A refusal retrying cannot change (no permission, an empty
		// visible range) waits for the next sync instead of failing the
		// job every few minutes; an outage or a rate limit is retried.
		if !errors.Is(err, ErrEmptyAddressBook) && !permanentAPIError(err) {
			return err
		}
		s.o.Logger.Warn("staff sync skipped until the next one", "err", err)
	}
	if job.Key == staffSyncDailyKey {
		if err := s.st.ScheduleJob(ctx, staffSyncDailyKey, JobStaffSync, "", s.o.Now().Add(s.o.Interval)); err != nil {
			return fmt.Errorf("staff sync: schedule the next periodic sync: %w", err)
		}
	}
	return nil
}

// Process implements Processor: an address book change (a member or a
// department created, edited or deleted) schedules a debounced sync. Tag
// changes of the address book (update_tag) do not touch roles.
func (s *StaffSync) Process(ctx context.Context, ev *store.Event) error {
	if ev.Channel != store.ChannelWeCom || ev.Kind != wecom.KindChangeContact {
		return nil
	}
	switch ev.Attrs["ChangeType"] {
	case "create_user", "update_user", "delete_user", "create_party", "update_party", "delete_party":
	default:
		return nil
	}
	if err := s.st.ScheduleJob(ctx, StaffSyncJobKey, JobStaffSync, "", s.o.Now().Add(s.o.Debounce)); err != nil {
		return fmt.Errorf("staff sync: schedule sync: %w", err)
	}
	return nil
}

// staffFacts is what WeCom says about one member.
type staffFacts struct {
	name        string
	departments []int64
	role        string
	team        []string
	active      bool
}

// Sync reads WeCom's address book and applies it to the staff directory.
// It reads everything before it writes anything: a failed read changes
// nothing, so a member is never taken for gone because one call failed.
func (s *StaffSync) Sync(ctx context.Context) (StaffSyncResult, error) {
	var res StaffSyncResult
	depts, err := s.api.ListDepartments(ctx, 0)
	if err != nil {
		return res, fmt.Errorf("staff sync: list departments: %w", err)
	}
	if len(depts) == 0 {
		return res, ErrEmptyAddressBook
	}
	members, err := s.listMembers(ctx, depts)
	if err != nil {
		return res, err
	}
	if len(members) == 0 {
		return res, ErrEmptyAddressBook
	}
	facts := deriveStaff(depts, members)
	res.Members = len(facts)

	existing, err := s.st.FindStaff(ctx)
	if err != nil {
		return res, fmt.Errorf("staff sync: find staff: %w", err)
	}
	known := indexBy(existing, func(m *store.Staff) string { return m.ID })
	ids := make([]string, 0, len(facts))
	for id := range facts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		f := facts[id]
		if _, changed := applyFacts(known[id], id, f); !changed {
			continue // the common case: nothing to read again or write
		}
		created, wrote, err := s.write(ctx, id, func(cur *store.Staff) (*store.Staff, bool) { return applyFacts(cur, id, f) })
		switch {
		case err != nil:
			return res, err
		case created:
			res.Created++
		case wrote:
			res.Updated++
		}
	}
	// Members an earlier sync saw and WeCom no longer lists have left the
	// company (or the app's visible range).
	for _, m := range existing {
		if facts[m.ID] != nil || m.Source != store.StaffSourceWeCom {
			continue
		}
		if _, changed := deactivate(m); !changed {
			continue
		}
		_, wrote, err := s.write(ctx, m.ID, deactivate)
		if err != nil {
			return res, err
		}
		if wrote {
			res.Deactivated++
		}
	}
	s.o.Logger.Info("staff synced from the wecom address book", "members", res.Members,
		"created", res.Created, "updated", res.Updated, "deactivated", res.Deactivated)
	return res, nil
}

// listMembers reads every department's members, a few departments at a
// time, and returns each member once.
func (s *StaffSync) listMembers(ctx context.Context, depts []wecom.Department) (map[string]wecom.Member, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		out      = map[string]wecom.Member{}
		firstErr error
	)
	eachAtMost(s.o.Concurrency, depts, func(d wecom.Department) {
		list, err := s.api.ListDepartmentMembers(ctx, d.ID)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("staff sync: list members of department %d: %w", d.ID, err)
				cancel()
			}
			return
		}
		for _, m := range list {
			if m.UserID != "" {
				out[m.UserID] = m
			}
		}
	})
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// deriveStaff turns the address book into each member's role and team.
func deriveStaff(depts []wecom.Department, members map[string]wecom.Member) map[string]*staffFacts {
	children := map[int64][]int64{}
	for _, d := range depts {
		if d.ParentID != d.ID {
			children[d.ParentID] = append(children[d.ParentID], d.ID)
		}
	}
	direct := map[int64][]string{} // department → its own members
	leads := map[string][]int64{}  // member → departments they lead
	for id, m := range members {
		for _, d := range m.Department {
			direct[d] = append(direct[d], id)
		}
		leads[id] = append(leads[id], m.LeaderOf()...)
	}
	for _, d := range depts {
		for _, l := range d.Leaders {
			if _, ok := members[l]; ok {
				leads[l] = append(leads[l], d.ID)
			}
		}
	}
	out := make(map[string]*staffFacts, len(members))
	for id, m := range members {
		f := &staffFacts{
			name:        m.Name,
			departments: slices.Clone(m.Department),
			role:        RoleSales,
			active:      m.Status != wecom.MemberDisabled && m.Status != wecom.MemberLeft,
		}
		if len(leads[id]) > 0 {
			f.role = RoleManager
			team := map[string]bool{}
			seen := map[int64]bool{}
			stack := slices.Clone(leads[id])
			for len(stack) > 0 {
				d := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if seen[d] {
					continue // a department led twice, or a cycle in a bad answer
				}
				seen[d] = true
				for _, u := range direct[d] {
					team[u] = true
				}
				stack = append(stack, children[d]...)
			}
			delete(team, id)
			f.team = make([]string, 0, len(team))
			for u := range team {
				f.team = append(f.team, u)
			}
			slices.Sort(f.team)
		}
		out[id] = f
	}
	return out
}

// applyFacts returns cur with WeCom's facts applied to every field an admin
// did not set by hand, and whether that changes anything. cur nil is a
// member scrm does not know yet.
func applyFacts(cur *store.Staff, id string, f *staffFacts) (*store.Staff, bool) {
	if cur == nil {
		next := &store.Staff{ID: id, Name: f.name, Role: f.role, Departments: f.departments, Active: f.active,
			Source: store.StaffSourceWeCom}
		if f.role == RoleManager {
			next.Team = f.team
		}
		return next, true
	}
	next := *cur
	next.Departments = slices.Clone(cur.Departments)
	next.Team = slices.Clone(cur.Team)
	next.Manual = slices.Clone(cur.Manual)
	if cur.Source == "" {
		// Set up before the sync first saw them (by hand, or before roles
		// came from WeCom): what decides their visibility stays as it was
		// set, and is marked so; an admin hands it to WeCom with
		// "manual": [].
		for _, field := range []string{store.StaffFieldRole, store.StaffFieldTeam, store.StaffFieldActive} {
			if !slices.Contains(next.Manual, field) {
				next.Manual = append(next.Manual, field)
			}
		}
	}
	byHand := func(field string) bool { return slices.Contains(next.Manual, field) }
	if !byHand(store.StaffFieldName) && f.name != "" {
		next.Name = f.name
	}
	if !byHand(store.StaffFieldDepartments) {
		next.Departments = f.departments
	}
	// An admin stays an admin: the sync only ever derives manager or
	// sales, and demoting an admin would lock the company out of scrm.
	if !byHand(store.StaffFieldRole) && cur.Role != RoleAdmin {
		next.Role = f.role
	}
	if !byHand(store.StaffFieldTeam) {
		switch next.Role {
		case RoleManager:
			next.Team = f.team
		case RoleSales:
			next.Team = nil
		}
	}
	if !byHand(store.StaffFieldActive) {
		next.Active = f.active
	}
	next.Source = store.StaffSourceWeCom
	return &next, !sameStaff(cur, &next)
}

// deactivate marks a member WeCom no longer lists inactive, unless an admin
// set their active flag by hand meanwhile.
func deactivate(cur *store.Staff) (*store.Staff, bool) {
	if cur == nil || !cur.Active || slices.Contains(cur.Manual, store.StaffFieldActive) {
		return cur, false
	}
	next := *cur
	next.Active = false
	return &next, true
}

// write applies change to the member's current record and stores the
// result if it differs, reporting whether the record is new and whether it
// was written. Reading again right before writing narrows the window in
// which an admin's edit could be overwritten to the time between the two
// calls (the store has no conditional write); an edit made before the read
// is in Manual, which change respects.
func (s *StaffSync) write(ctx context.Context, id string, change func(cur *store.Staff) (*store.Staff, bool)) (created, wrote bool, err error) {
	cur, err := s.st.FindStaffByID(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		cur = nil
	case err != nil:
		return false, false, fmt.Errorf("staff sync: find staff %s: %w", id, err)
	}
	next, changed := change(cur)
	if !changed {
		return false, false, nil
	}
	if err := s.st.UpsertStaff(ctx, next); err != nil {
		return false, false, fmt.Errorf("staff sync: upsert staff %s: %w", id, err)
	}
	detail := fmt.Sprintf("role=%s active=%t team=%s", next.Role, next.Active, strings.Join(next.Team, ","))
	e := &store.AuditEntry{Actor: StaffSyncActor, Action: AuditStaffSync, Target: "staff:" + id, Detail: detail, At: s.o.Now().UTC()}
	if err := s.st.AppendAudit(ctx, e); err != nil {
		return false, false, fmt.Errorf("staff sync: audit %s: %w", id, err)
	}
	return cur == nil, true, nil
}

func sameStaff(a, b *store.Staff) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Role == b.Role && a.Active == b.Active && a.Source == b.Source &&
		slices.Equal(a.Departments, b.Departments) && slices.Equal(a.Team, b.Team) && slices.Equal(a.Manual, b.Manual)
}
