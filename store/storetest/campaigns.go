package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

var campaignTests = []crmTest{
	{"Segments", testSegments},
	{"CampaignsTasksSends", testCampaigns},
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
