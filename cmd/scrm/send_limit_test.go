package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scrmhq/scrm/coord"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// The Redis coordinator keeps the WeCom client's per member send slots.
var _ wecom.SendSlots = (*coord.Redis)(nil)

// TestSendLimitSharedByInstances: instances built as serve builds them (a
// WeCom client over the Redis coordinator) share WeCom's 30 messages a
// minute per member, and so does an instance started after a crash. With a
// limiter per process they would send 30 each and WeCom would drop the rest.
func TestSendLimitSharedByInstances(t *testing.T) {
	ctx := context.Background()
	clock := wecomtest.NewFakeClock(time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC))
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{Now: clock.Now})
	defer sim.Close()
	sim.AddStaff(wecomtest.Staff{UserID: "lisi", Name: "李四"})
	prefix := fmt.Sprintf("scrmtest:limit:%d:", time.Now().UnixNano())
	instance := func() *wecom.APIClient {
		t.Helper()
		rc, err := coord.OpenRedis(ctx, "redis://127.0.0.1:6379/0", prefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rc.Close() })
		cfg := sim.APIConfig()
		cfg.Clock = clock
		c, err := wecom.NewAPIClient(cfg, rc, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := instance(), instance()
	send := func(c *wecom.APIClient, ctx context.Context, text string) error {
		_, err := c.SendText(ctx, wecom.SendTarget{ToUser: []string{"lisi"}}, text)
		return err
	}
	for i := range 30 {
		if err := send([]*wecom.APIClient{a, b}[i%2], ctx, fmt.Sprint("提醒", i)); err != nil {
			t.Fatal(err)
		}
	}
	// b's 31st waits for the minute although b itself sent only 15.
	done := make(chan error, 1)
	go func() { done <- send(b, ctx, "第31条") }()
	waitUntil(t, func() bool { return b.MemberQueueDepth("lisi") == 1 })
	// An instance started after a crash, with an empty limiter of its own,
	// still knows of the 30 sends.
	restarted := instance()
	go func() { done <- send(restarted, ctx, "第32条") }()
	waitUntil(t, func() bool { return restarted.MemberQueueDepth("lisi") == 1 })
	if n := len(sim.Sent()); n != 30 {
		t.Fatalf("%d messages went out within the minute, want 30", n)
	}
	clock.Advance(61 * time.Second)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if sent, dropped := len(sim.Sent()), len(sim.Dropped()); sent != 32 || dropped != 0 {
		t.Fatalf("%d delivered and %d dropped by WeCom's limit, want 32 and 0", sent, dropped)
	}
}

func waitUntil(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
