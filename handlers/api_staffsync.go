package handlers

import (
	"slices"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// Roles come from WeCom's address book (bot.StaffSync) and from admins'
// edits through PUT /staff/{id}. An edit wins: every field it sets is
// recorded in Staff.Manual and the sync leaves those fields alone.

// manualFields are the fields PUT /staff/{id} sets by hand.
var manualFields = []string{
	store.StaffFieldName, store.StaffFieldRole, store.StaffFieldTeam, store.StaffFieldDepartments, store.StaffFieldActive,
}

// markManual records in m.Manual the fields req sets. A manual list in the
// request replaces the stored one first, so an admin can hand a field back
// to the sync ("manual": []); the fields the same request sets are then
// added to it.
func markManual(m *store.Staff, req *staffPut) error {
	if req.Manual != nil {
		for _, f := range *req.Manual {
			if !slices.Contains(manualFields, f) {
				return errorf(fiber.StatusBadRequest, "manual may list only name, role, team, departments and active", nil)
			}
		}
		m.Manual = slices.Clone(*req.Manual)
	}
	set := map[string]bool{
		store.StaffFieldName:        req.Name != nil,
		store.StaffFieldRole:        req.Role != nil,
		store.StaffFieldTeam:        req.Team != nil,
		store.StaffFieldDepartments: req.Departments != nil,
		store.StaffFieldActive:      req.Active != nil,
	}
	for _, f := range manualFields {
		if set[f] {
			m.Manual = append(m.Manual, f)
		}
	}
	m.Manual = slices.Compact(slices.Sorted(slices.Values(m.Manual)))
	if len(m.Manual) == 0 {
		m.Manual = nil
	}
	return nil
}

// syncStaff schedules a sync of the staff directory from WeCom's address
// book; the staff sync worker runs it shortly.
func (h *crmAPI) syncStaff(c *fiber.Ctx) error {
	return h.scheduleSync(c, bot.StaffSyncJobKey, bot.JobStaffSync)
}
