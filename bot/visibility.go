package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/scrmhq/scrm/store"
)

// Roles of the people who use scrm.
const (
	RoleAdmin   = "admin"   // sees every customer
	RoleManager = "manager" // sees the customers of their team
	RoleSales   = "sales"   // sees only customers they follow
)

// Viewer is who is asking, resolved once per request or message. Every door
// into customer data (API, bot command, LLM question) goes through CanSee and
// Scope, so the visibility rule exists in exactly one place.
type Viewer struct {
	StaffID string
	Role    string
	Team    []string // staff IDs a manager is responsible for (their own included)
}

// CanSee reports whether the viewer may see customer c: admins see everyone,
// managers the customers any member of their team follows, sales the customers
// they follow themselves. A follow that has ended no longer grants access.
func (v Viewer) CanSee(c *store.Customer) bool {
	switch v.Role {
	case RoleAdmin:
		return true
	case RoleManager:
		for _, f := range c.Follows {
			if !f.Deleted && (f.StaffID == v.StaffID || slices.Contains(v.Team, f.StaffID)) {
				return true
			}
		}
	case RoleSales:
		for _, f := range c.Follows {
			if !f.Deleted && f.StaffID == v.StaffID {
				return true
			}
		}
	}
	return false
}

// Scope returns the staff IDs whose customers the viewer may list, or nil for
// "everyone" (admins). A sales viewer's scope is just themselves.
func (v Viewer) Scope() []string {
	switch v.Role {
	case RoleAdmin:
		return nil
	case RoleManager:
		if slices.Contains(v.Team, v.StaffID) {
			return v.Team
		}
		return append([]string{v.StaffID}, v.Team...)
	case RoleSales:
		return []string{v.StaffID}
	default:
		// An unknown role sees nothing, as CanSee says; an empty, non-nil
		// scope keeps it apart from an admin's "everyone".
		return []string{}
	}
}

// CanSeeEntry reports whether the viewer may read timeline entry e of a
// customer they can see: a private note only by its author, the author's
// managers and admins; everything else by anyone who sees the customer. So
// a customer's new follower inherits the shared history, not the notes the
// former owner kept to themselves.
func (v Viewer) CanSeeEntry(e *store.TimelineEntry) bool {
	if !e.Private() {
		return true
	}
	author := e.Author()
	switch {
	case v.Role == RoleAdmin:
		return true
	case author == "" || v.StaffID == "":
		return false
	case author == v.StaffID:
		return v.Role == RoleManager || v.Role == RoleSales
	case v.Role == RoleManager:
		return slices.Contains(v.Team, author)
	}
	return false
}

// VisibleEntries keeps the entries of es the viewer may read, in order.
func (v Viewer) VisibleEntries(es []*store.TimelineEntry) []*store.TimelineEntry {
	out := es[:0:0]
	for _, e := range es {
		if v.CanSeeEntry(e) {
			out = append(out, e)
		}
	}
	return out
}

// ViewerFromStaff resolves a stored staff member to a Viewer. It reports
// false for an inactive member or one whose role is not admin, manager or
// sales: such a member may not see any customer. A manager's team is the
// staff they lead (Staff.Team).
func ViewerFromStaff(s *store.Staff) (Viewer, bool) {
	if s == nil || !s.Active {
		return Viewer{}, false
	}
	switch s.Role {
	case RoleAdmin, RoleManager, RoleSales:
	default:
		return Viewer{}, false
	}
	v := Viewer{StaffID: s.ID, Role: s.Role}
	if s.Role == RoleManager {
		v.Team = slices.Clone(s.Team)
	}
	return v, true
}

// Directory resolves a staff member to a Viewer.
type Directory interface {
	Viewer(ctx context.Context, staffID string) (Viewer, error)
}

// StaticDirectory is a Directory from a fixed table; anyone not in it is sales.
type StaticDirectory map[string]Viewer

// Viewer implements Directory.
func (d StaticDirectory) Viewer(_ context.Context, staffID string) (Viewer, error) {
	if v, ok := d[staffID]; ok {
		v.StaffID = staffID
		return v, nil
	}
	return Viewer{StaffID: staffID, Role: RoleSales}, nil
}

// StaffDirectory resolves viewers from the staff directory, the same
// records the API's staff tokens resolve through, so the bot and the API
// see one set of roles. A member it does not know is resolved by Fallback
// (sales when nil); an inactive member or one with an unknown role gets a
// Viewer without a role, which sees no customer.
type StaffDirectory struct {
	Staff interface {
		FindStaffByID(ctx context.Context, id string) (*store.Staff, error)
	}
	Fallback Directory
}

// Viewer implements Directory.
func (d StaffDirectory) Viewer(ctx context.Context, staffID string) (Viewer, error) {
	s, err := d.Staff.FindStaffByID(ctx, staffID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if d.Fallback != nil {
			return d.Fallback.Viewer(ctx, staffID)
		}
		return Viewer{StaffID: staffID, Role: RoleSales}, nil
	case err != nil:
		return Viewer{}, fmt.Errorf("directory: find staff %s: %w", staffID, err)
	}
	if v, ok := ViewerFromStaff(s); ok {
		return v, nil
	}
	return Viewer{StaffID: staffID}, nil
}
