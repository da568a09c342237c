package bot

import (
	"context"
	"fmt"
	"testing"

	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/wecom"
)

// OpenTestStore opens an empty SQLite store in a temporary directory,
// closed when tb ends: the store of every test of both test packages. It
// skips the fsync of each commit (synchronous NORMAL): a test's data need
// not survive a power cut.
func OpenTestStore(tb testing.TB) *sqlite.DB {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), tb.TempDir(), sqlite.WithSynchronous("NORMAL"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

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
