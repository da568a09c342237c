package bot_test

import (
	"context"
	"sync"
	"testing"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
)

// interleavedStore lets a test run a whole action in the middle of another:
// at the first write its hook picks (once), the hook runs before the write
// goes through. That places a cancel between the campaign job's read of
// the campaign and its write, and the job between a cancel's read and its
// write, every time rather than by luck.
type interleavedStore struct {
	*sqlite.DB
	once        sync.Once
	beforeWrite func(c *store.Campaign) bool // true: run during now
	beforeAudit func(e *store.AuditEntry) bool
	during      func()
}

func (s *interleavedStore) UpdateCampaign(ctx context.Context, c *store.Campaign) error {
	if s.beforeWrite != nil && s.beforeWrite(c) {
		s.once.Do(s.during)
	}
	return s.DB.UpdateCampaign(ctx, c)
}

func (s *interleavedStore) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	if s.beforeAudit != nil && s.beforeAudit(e) {
		s.once.Do(s.during)
	}
	return s.DB.AppendAudit(ctx, e)
}

// TestCampaignCancelRacesCreation: a cancel and the campaign's own writes
// (the job creating its tasks, the sync of its results) land in either
// order between the other's read and write, and neither is lost — the
// campaign ends cancelled, every task it made in WeCom withdrawn, its
// customers released from the caps, and its report still counting whom
// it targeted. Before campaigns were written over the version read, the
// later writer silently put back what it had read.
func TestCampaignCancelRacesCreation(t *testing.T) {
	ctx := context.Background()
	req := bot.CampaignRequest{Name: "抢跑", Filter: &store.SegmentFilter{Tag: "VIP"}, Text: "新品到了", Key: "race"}
	type setup struct {
		f            *massFixture
		is           *interleavedStore
		hooked, bare *bot.Core
		id           string
	}
	begin := func(t *testing.T) *setup {
		f := newMassFixture(t)
		is := &interleavedStore{DB: f.st}
		hooked := bot.NewCore(is, f.clock.Now)
		hooked.SetCampaigns(f.api, f.opts)
		bare := f.core()
		cp, _, err := bare.CreateCampaign(ctx, massAdmin, req)
		if err != nil {
			t.Fatal(err)
		}
		return &setup{f: f, is: is, hooked: hooked, bare: bare, id: cp.ID}
	}
	job := func(id string) *store.Job {
		return &store.Job{Key: "campaign:" + id, Kind: bot.CampaignJobKind, Payload: id}
	}
	check := func(t *testing.T, s *setup) {
		t.Helper()
		cp, err := s.f.st.FindCampaignByID(ctx, s.id)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Status != store.CampaignCancelled {
			t.Errorf("status %s after the cancel, want cancelled", cp.Status)
		}
		if cp.Report.Targeted != 4 || cp.Report.Senders != 2 {
			t.Errorf("report %+v: the job's count of whom it targeted was lost", cp.Report)
		}
		msgs := s.f.sim.GroupMsgs()
		if len(msgs) != 2 {
			t.Errorf("%d tasks in WeCom, want one per salesperson", len(msgs))
		}
		for _, m := range msgs {
			if !m.Cancelled {
				t.Errorf("%s's task %s still open in WeCom", m.Creator, m.MsgID)
			}
		}
		sends, _ := s.f.st.FindCampaignSends(ctx, s.id)
		for _, x := range sends {
			if x.Status != store.SendCancelled {
				t.Errorf("%s still counts against the caps (%s)", x.ExternalUserID, x.Status)
			}
		}
	}

	t.Run("cancel between the job's read and its last write", func(t *testing.T) {
		s := begin(t)
		s.is.beforeWrite = func(c *store.Campaign) bool { return c.Status == store.CampaignSent }
		s.is.during = func() {
			if _, err := s.bare.CancelCampaign(ctx, massAdmin, s.id); err != nil {
				t.Error(err)
			}
		}
		if err := s.hooked.HandleCampaignJob(ctx, job(s.id)); err != nil {
			t.Fatal(err)
		}
		check(t, s)
	})

	t.Run("the job between a cancel's read and its write", func(t *testing.T) {
		s := begin(t)
		s.is.beforeAudit = func(e *store.AuditEntry) bool { return e.Action == bot.AuditCancel }
		s.is.during = func() {
			if err := s.bare.HandleCampaignJob(ctx, job(s.id)); err != nil {
				t.Error(err)
			}
		}
		if _, err := s.hooked.CancelCampaign(ctx, massAdmin, s.id); err != nil {
			t.Fatal(err)
		}
		check(t, s)
	})

	t.Run("cancel between a results sync's read and its write", func(t *testing.T) {
		s := begin(t)
		if err := s.bare.HandleCampaignJob(ctx, job(s.id)); err != nil {
			t.Fatal(err)
		}
		s.is.beforeWrite = func(c *store.Campaign) bool { return c.Report.SyncedAt != nil }
		s.is.during = func() {
			if _, err := s.bare.CancelCampaign(ctx, massAdmin, s.id); err != nil {
				t.Error(err)
			}
		}
		if _, err := s.hooked.SyncCampaign(ctx, s.id); err != nil {
			t.Fatal(err)
		}
		check(t, s)
	})
}
