package bot

import (
	"context"
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
	default:
		return []string{v.StaffID}
	}
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
