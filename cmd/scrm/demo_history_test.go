package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

// TestDemoHistoryFillsConsole: the demo's seeded company has weeks of
// history played through the real paths (callbacks, the chat archive
// worker, the core actions), so the console's reports and workbench show
// real figures: follow-ups, messages sent, response times, stages beyond
// 新线索, waiting customers, reminders overdue and due today, a complaint.
func TestDemoHistoryFillsConsole(t *testing.T) {
	r, err := startDemo(context.Background(), demoOptions{Addr: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "demo"),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.stop()
	select {
	case <-r.Seeded:
	case <-time.After(30 * time.Second):
		t.Fatalf("seeding did not finish: %+v", r.demo.State().Seed)
	}
	if s := r.demo.State().Seed; s.State != "ready" {
		t.Fatalf("seed state %+v", s)
	}
	get := func(path string, out any) {
		t.Helper()
		req, _ := http.NewRequest("GET", r.Base+path, nil)
		req.Header.Set("Authorization", "Bearer "+r.app.cfg.APIToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	loc := r.app.cfg.Location()
	today := time.Now().In(loc)
	var rep struct {
		Totals struct {
			FollowUps              int64    `json:"follow_ups"`
			MessagesIn             int64    `json:"messages_in"`
			MessagesOut            int64    `json:"messages_out"`
			FirstResponseMedianMin *float64 `json:"first_response_median_min"`
			ReplyP90Min            *float64 `json:"reply_p90_min"`
			Waiting                int64    `json:"waiting"`
		} `json:"totals"`
		Funnel []struct {
			Stage string `json:"stage"`
			Count int64  `json:"count"`
		} `json:"funnel"`
		ByStaff []struct {
			StaffID   string `json:"staff_id"`
			FollowUps int64  `json:"follow_ups"`
		} `json:"by_staff"`
	}
	get(fmt.Sprintf("/api/v1/reports?from=%s&to=%s", today.AddDate(0, 0, -27).Format(time.DateOnly), today.Format(time.DateOnly)), &rep)
	tt := rep.Totals
	if tt.FollowUps == 0 || tt.MessagesOut == 0 || tt.MessagesIn == 0 || tt.FirstResponseMedianMin == nil || *tt.FirstResponseMedianMin <= 0 || tt.ReplyP90Min == nil {
		t.Errorf("report totals %+v: want follow-ups, messages both ways and response times", tt)
	}
	if tt.Waiting == 0 {
		t.Error("nobody is waiting for an answer")
	}
	for _, s := range rep.ByStaff {
		if s.FollowUps == 0 {
			t.Errorf("%s has no follow-ups in four weeks", s.StaffID)
		}
	}
	stages := map[string]int64{}
	for _, f := range rep.Funnel {
		stages[f.Stage] = f.Count
	}
	for _, s := range []string{store.StageActive, store.StageWon, store.StageDormant, store.StageLost} {
		if stages[s] == 0 {
			t.Errorf("funnel %v: nobody in %s", rep.Funnel, s)
		}
	}
	var wb struct {
		Waiting   []struct{ Name string } `json:"waiting"`
		Reminders struct {
			Overdue []struct{ Text string } `json:"overdue"`
			Today   []struct{ Text string } `json:"today"`
		} `json:"reminders"`
	}
	get("/api/v1/workbench", &wb)
	if len(wb.Waiting) == 0 || len(wb.Reminders.Overdue) == 0 || len(wb.Reminders.Today) == 0 {
		t.Errorf("workbench: %d waiting, %d overdue, %d today; want some of each", len(wb.Waiting), len(wb.Reminders.Overdue), len(wb.Reminders.Today))
	}
	// The complaint is found by the analysis, which runs once the
	// conversation has been quiet a moment.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var wb struct {
			Alerts []struct {
				Name, Kind string
			} `json:"alerts"`
		}
		get("/api/v1/workbench", &wb)
		if len(wb.Alerts) > 0 && wb.Alerts[0].Kind == "complaint" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no complaint on the workbench: %+v", wb.Alerts)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
