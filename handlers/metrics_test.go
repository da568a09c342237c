package handlers_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestUnknownEventsShareOneSeries: every distinct <Event> name a sender
// makes up would otherwise be a new scrm_callbacks_total series; unknown
// names are counted under kind="unknown", known kinds keep their own.
func TestUnknownEventsShareOneSeries(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now()
	for i := range 50 {
		name := fmt.Sprintf("made_up_%d_%x", i, rand.Uint64())
		if d, err := e.driver.SendWeCom(ctx, wecomtest.AppEvent("zhangsan", name, "", now)); err != nil || d.Status != 200 {
			t.Fatalf("event %s: %v %+v", name, err, d)
		}
	}
	if d, err := e.driver.SendWeCom(ctx, wecomtest.AppText("zhangsan", "你好", 1, now)); err != nil || d.Status != 200 {
		t.Fatalf("text: %v %+v", err, d)
	}
	if d, err := e.driver.SendWeCom(ctx, wecomtest.ContactEvent("add_external_contact", "zhangsan", "wmM1", now, nil)); err != nil || d.Status != 200 {
		t.Fatalf("contact event: %v %+v", err, d)
	}
	if n := len(e.events(t)); n != 52 {
		t.Fatalf("stored %d events, want 52 (unknown events are stored all the same)", n)
	}
	_, b := get(t, e.base+"/metrics")
	var series []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "scrm_callbacks_total{") {
			series = append(series, line)
		}
	}
	want := []string{
		`scrm_callbacks_total{channel="wecom",kind="event.change_external_contact.add_external_contact",result="stored"} 1`,
		`scrm_callbacks_total{channel="wecom",kind="text",result="stored"} 1`,
		`scrm_callbacks_total{channel="wecom",kind="unknown",result="stored"} 50`,
	}
	if len(series) != len(want) {
		t.Fatalf("%d series of scrm_callbacks_total, want %d:\n%s", len(series), len(want), strings.Join(series, "\n"))
	}
	for _, w := range want {
		if !strings.Contains(string(b), w) {
			t.Errorf("metrics lack %s", w)
		}
	}
}
