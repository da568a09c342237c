package handlers

import (
	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
)

// Roles come from WeCom's address book (bot.StaffSync) and from admins'
// edits through PUT /staff/{id}. An edit wins: every field it sets is
// recorded in Staff.Manual and the sync leaves those fields alone (the core
// does it: bot.Core.PutStaff).

// syncStaff schedules a sync of the staff directory from WeCom's address
// book; the staff sync worker runs it shortly.
func (h *crmAPI) syncStaff(c *fiber.Ctx) error {
	return h.scheduleSync(c, bot.StaffSyncJobKey, bot.JobStaffSync)
}
