package bot

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/nlp"
	"github.com/scrmhq/scrm/store"
)

// TestOpenLedgerMatchesOpenWithin: the report's day-sum ledger gives every
// wait the business minutes OpenWithin gives it, over weekends, several
// segments a day and in a time zone other than the hours' own.
func TestOpenLedgerMatchesOpenWithin(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	ny, _ := time.LoadLocation("America/New_York")
	for _, spec := range []string{"09:00-18:00 Mon-Fri", "09:00-12:00; 11:00-14:00 Mon-Fri; 10:00-16:00 Sat", "00:00-24:00 Sun"} {
		bh, err := config.ParseBusinessHours(spec, sh)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		base := time.Date(2026, 10, 20, 3, 17, 0, 0, time.UTC)
		var waits []store.ResponseWait
		for range 500 {
			at := base.Add(time.Duration(rng.Int64N(int64(40 * 24 * time.Hour))))
			waited := time.Duration(rng.Int64N(int64([]time.Duration{time.Hour, 3 * 24 * time.Hour, 30 * 24 * time.Hour}[rng.IntN(3)])))
			waits = append(waits, store.ResponseWait{StaffID: "s", At: at, Waited: waited})
		}
		for _, loc := range []*time.Location{sh, ny} {
			l := newOpenLedger(bh, loc, waits)
			for _, w := range waits {
				from := w.At.Add(-w.Waited)
				if got, want := l.minutes(from, w.At), float64(bh.OpenWithin(from, w.At))/float64(time.Minute); got != want {
					t.Fatalf("%s in %s: [%v, %v) = %v min, want %v", spec, loc, from, w.At, got, want)
				}
			}
		}
	}
}

// TestConcernConstants: the store indexes the analysis results the
// workbench's complaints are: nlp's.
func TestConcernConstants(t *testing.T) {
	if store.ConcernLabel != nlp.Negative || store.ConcernIntent != nlp.IntentComplaint {
		t.Errorf("store concern %q/%q, nlp %q/%q", store.ConcernLabel, store.ConcernIntent, nlp.Negative, nlp.IntentComplaint)
	}
}
