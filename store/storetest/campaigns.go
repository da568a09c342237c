package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

var campaignTests = []crmTest{
	{"Segments", testSegments},
	{"CampaignsTasksSends", testCampaigns},
	{"CampaignVersions", testCampaignVersions},
	{"CampaignGroupSends", testCampaignGroupSends},
	{"CampaignSendsOf", testCampaignSendsOf},
}

// testCampaignVersions: an update is written over the version it was read
// at; a write from an older read is refused with ErrConflict and changes
// nothing; of writers racing from one read exactly one wins, however the
// backend runs updates.
func testCampaignVersions(t *testing.T, s store.Store, _ Config) {
	ctx := ctxFor(t)
	c := &store.Campaign{ID: "cpv", Name: "版本", Status: store.CampaignScheduled, CreatedAt: base}
	if err := s.CreateCampaign(ctx, c); err != nil || c.Version != 1 {
		t.Fatalf("create: version %d, %v", c.Version, err)
	}
	stale, err := s.FindCampaignByID(ctx, "cpv")
	if err != nil || stale.Version != 1 {
		t.Fatalf("read: %+v, %v", stale, err)
	}
	c.Status = store.CampaignCancelled
	if err := s.UpdateCampaign(ctx, c); err != nil || c.Version != 2 {
		t.Fatalf("update: version %d, %v", c.Version, err)
	}
	stale.Status, stale.Report.Targeted = store.CampaignSent, 9
	if err := s.UpdateCampaign(ctx, stale); !errors.Is(err, store.ErrConflict) || stale.Version != 1 {
		t.Fatalf("write over an old read: %v (version %d), want ErrConflict and the version kept", err, stale.Version)
	}
	got, err := s.FindCampaignByID(ctx, "cpv")
	if err != nil || got.Status != store.CampaignCancelled || got.Report.Targeted != 0 || got.Version != 2 {
		t.Fatalf("after the refused write: %+v, %v", got, err)
	}
	if list, err := s.FindCampaigns(ctx, 0); err != nil || len(list) != 1 || list[0].Version != 2 || list[0].Status != store.CampaignCancelled {
		t.Fatalf("FindCampaigns = %+v, %v", list, err)
	}

	for round := range 5 {
		read, err := s.FindCampaignByID(ctx, "cpv")
		if err != nil {
			t.Fatal(err)
		}
		const writers = 6
		var wg sync.WaitGroup
		var won atomic.Int32
		for w := range writers {
			cp := *read
			cp.Report.Targeted = w + 1
			wg.Go(func() {
				switch err := s.UpdateCampaign(ctx, &cp); {
				case err == nil:
					won.Add(1)
				case !errors.Is(err, store.ErrConflict):
					t.Errorf("racing write: %v", err)
				}
			})
		}
		wg.Wait()
		after, err := s.FindCampaignByID(ctx, "cpv")
		if err != nil {
			t.Fatal(err)
		}
		if won.Load() != 1 || after.Version != read.Version+1 {
			t.Fatalf("round %d: %d of %d writers from version %d won, now version %d; want exactly one", round, won.Load(), writers, read.Version, after.Version)
		}
	}
}

// testCampaignGroupSends: a group campaign's sends are keyed and counted by
// the group's chat ID and keep it.
func testCampaignGroupSends(t *testing.T, s store.Store, _ Config) {
	ctx := ctxFor(t)
	sends := []store.CampaignSend{
		{CampaignID: "cpg", CustomerID: "wrG1", ChatID: "wrG1", Sender: "li", Status: store.SendPending, At: base},
		{CampaignID: "cpg", CustomerID: "wrG2", ChatID: "wrG2", Sender: "li", Status: store.SendDelivered, At: base},
		{CampaignID: "cpg2", CustomerID: "wrG1", ChatID: "wrG1", Sender: "li", Status: store.SendDelivered, At: base.Add(time.Hour)},
	}
	if err := s.PutCampaignSends(ctx, sends); err != nil {
		t.Fatal(err)
	}
	got, err := s.FindCampaignSends(ctx, "cpg")
	if err != nil || len(got) != 2 || got[0].ChatID != "wrG1" || got[1].ChatID != "wrG2" || got[1].ExternalUserID != "" {
		t.Fatalf("FindCampaignSends = %+v, %v", got, err)
	}
	counts, err := s.CountCampaignSends(ctx, base, base.Add(2*time.Hour))
	if err != nil || counts["wrG1"] != 2 || counts["wrG2"] != 1 {
		t.Fatalf("CountCampaignSends = %v, %v", counts, err)
	}
}

func testSegments(t *testing.T, s store.Store, _ Config) {
	ctx := ctxFor(t)
	after := base.Add(-time.Hour)
	a := &store.Segment{ID: "sg1", Name: "VIP 沉睡", Filter: store.SegmentFilter{Tag: "VIP", Stage: store.StageDormant, LastContactAfter: &after,
		Channel: "ch1", Sentiment: "negative", Waiting: true}, CreatedBy: "admin", CreatedAt: base}
	b := &store.Segment{ID: "sg2", Name: "新线索", Filter: store.SegmentFilter{Stage: store.StageLead}, CreatedAt: base.Add(time.Minute)}
	for _, sg := range []*store.Segment{b, a} {
		if err := s.CreateSegment(ctx, sg); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateSegment(ctx, &store.Segment{ID: "sg1", Name: "again", CreatedAt: base}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate id: %v, want ErrConflict", err)
	}
	if err := s.CreateSegment(ctx, &store.Segment{ID: "sg3"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("no name: %v, want ErrInvalid", err)
	}
	got, err := s.FindSegmentByID(ctx, "sg1")
	if err != nil || got.Name != a.Name || got.Filter.Tag != "VIP" || !got.Filter.Waiting || got.Filter.LastContactAfter == nil ||
		!got.Filter.LastContactAfter.Equal(after) || got.Filter.Channel != "ch1" || got.Filter.Sentiment != "negative" {
		t.Fatalf("FindSegmentByID = %+v, %v", got, err)
	}
	list, err := s.FindSegments(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "sg1" || list[1].ID != "sg2" {
		t.Fatalf("FindSegments = %v, %v", list, err)
	}
	if err := s.DeleteSegment(ctx, "sg1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSegment(ctx, "sg1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	if _, err := s.FindSegmentByID(ctx, "sg1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted segment: %v", err)
	}
}

func testCampaigns(t *testing.T, s store.Store, _ Config) {
	ctx := ctxFor(t)
	c1 := &store.Campaign{ID: "cp1", Name: "双十二专享", Text: "#客户昵称# 您好", Filter: store.SegmentFilter{Tag: "VIP"},
		Status: store.CampaignScheduled, SendAt: base, CreatedAt: base, UpdatedAt: base,
		Attachments: []store.WelcomeAttachment{{Type: "link", Title: "活动", URL: "https://example.com"}}}
	c2 := &store.Campaign{ID: "cp2", Name: "续费提醒", Text: "hi", Status: store.CampaignScheduled, CreatedAt: base.Add(time.Minute)}
	for _, c := range []*store.Campaign{c1, c2} {
		if err := s.CreateCampaign(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateCampaign(ctx, &store.Campaign{ID: "cp1", Name: "x", CreatedAt: base}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate campaign: %v, want ErrConflict", err)
	}
	c1.Status, c1.Report.Targeted, c1.Report.LeftOut = store.CampaignSent, 3, map[string]int{"opted_out": 1}
	if err := s.UpdateCampaign(ctx, c1); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateCampaign(ctx, &store.Campaign{ID: "nope", Name: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update missing: %v", err)
	}
	got, err := s.FindCampaignByID(ctx, "cp1")
	if err != nil || got.Status != store.CampaignSent || got.Report.Targeted != 3 || got.Report.LeftOut["opted_out"] != 1 ||
		len(got.Attachments) != 1 || !got.SendAt.Equal(base) {
		t.Fatalf("FindCampaignByID = %+v, %v", got, err)
	}
	list, err := s.FindCampaigns(ctx, 0)
	if err != nil || len(list) != 2 || list[0].ID != "cp2" {
		t.Fatalf("FindCampaigns = %v, %v", list, err)
	}

	tasks := []*store.CampaignTask{
		{CampaignID: "cp1", Sender: "zhang", Chunk: 1, ExternalUserIDs: []string{"wm3"}, State: store.TaskPending},
		{CampaignID: "cp1", Sender: "li", Chunk: 0, ExternalUserIDs: []string{"wm1", "wm2"}, State: store.TaskPending},
		{CampaignID: "cp1", Sender: "zhang", Chunk: 0, ExternalUserIDs: []string{"wm4"}, State: store.TaskPending},
		{CampaignID: "cp2", Sender: "li", Chunk: 0, State: store.TaskPending},
	}
	for _, tk := range tasks {
		if err := s.PutCampaignTask(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	tasks[0].State, tasks[0].MsgID, tasks[0].CallAt = store.TaskCreated, "msg1", base
	if err := s.PutCampaignTask(ctx, tasks[0]); err != nil {
		t.Fatal(err)
	}
	gotT, err := s.FindCampaignTasks(ctx, "cp1")
	if err != nil || len(gotT) != 3 || gotT[0].Sender != "li" || gotT[1].Chunk != 0 || gotT[2].Chunk != 1 ||
		gotT[2].MsgID != "msg1" || gotT[2].State != store.TaskCreated || len(gotT[0].ExternalUserIDs) != 2 {
		t.Fatalf("FindCampaignTasks = %+v, %v", gotT, err)
	}

	sends := []store.CampaignSend{
		{CampaignID: "cp1", CustomerID: "c1", ExternalUserID: "wm1", Sender: "li", Status: store.SendPending, At: base},
		{CampaignID: "cp1", CustomerID: "c2", ExternalUserID: "wm2", Sender: "li", Status: store.SendPending, At: base},
		{CampaignID: "cp2", CustomerID: "c1", ExternalUserID: "wm1", Sender: "li", Status: store.SendDelivered, At: base.Add(time.Hour)},
		{CampaignID: "cp2", CustomerID: "c3", Sender: "li", Status: store.SendLimited, At: base.Add(time.Hour)},
		{CampaignID: "cp2", CustomerID: "c4", Sender: "li", Status: store.SendPending, At: base.Add(48 * time.Hour)},
	}
	if err := s.PutCampaignSends(ctx, sends); err != nil {
		t.Fatal(err)
	}
	// A status update keeps the time the customer was first targeted.
	if err := s.PutCampaignSends(ctx, []store.CampaignSend{{CampaignID: "cp1", CustomerID: "c2", ExternalUserID: "wm2", Sender: "li",
		Status: store.SendNotContact, At: base.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	got1, err := s.FindCampaignSends(ctx, "cp1")
	if err != nil || len(got1) != 2 || got1[1].CustomerID != "c2" || got1[1].Status != store.SendNotContact || !got1[1].At.Equal(base) {
		t.Fatalf("FindCampaignSends = %+v, %v", got1, err)
	}
	counts, err := s.CountCampaignSends(ctx, base, base.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 1 || counts["c1"] != 2 {
		t.Fatalf("CountCampaignSends = %v, want c1:2 (c2 not a contact, c3 over WeCom's cap, c4 outside the range)", counts)
	}
}
