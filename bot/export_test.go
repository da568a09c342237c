package bot

import (
	"fmt"

	"github.com/scrmhq/scrm/wecom"
)

// Hooks for the external tests (package bot_test) into unexported code.

// ActiveOwners is activeOwners: the staff with an active follow.
var ActiveOwners = activeOwners

// PlanArchive renders what planArchive makes of m, one entry a line:
// "customer/staff/direction/source key/text".
func PlanArchive(m wecom.ArchiveMessage, maxFanout int) []string {
	var out []string
	for _, x := range planArchive(m, maxFanout) {
		out = append(out, fmt.Sprintf("%s/%s/%s/%s/%s", x.external, x.e.StaffID, x.e.Direction, x.e.SourceKey, x.e.Text))
	}
	return out
}

// WithBatch is withBatch: writes made with the context may wait for the
// event's batch.
var WithBatch = withBatch
