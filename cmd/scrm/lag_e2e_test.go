package main

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestLagShownAndReadyWhileBehind: while an event cannot be processed (its
// reply to the salesperson fails: WeCom's message/send answers 503), the
// scrm_processing_lag_seconds gauge shows how far processing is behind and
// /readyz stays ready — a backlog is work to do, not a reason to take the
// instance out of the load balancer. Once WeCom answers, the event is
// processed and the gauge returns to 0.
func TestLagShownAndReadyWhileBehind(t *testing.T) {
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	sim.AddStaff(wecomtest.Staff{UserID: "lisi", Name: "李四", Department: []int{1}})
	a := startSimApp(t, sim, extensions{}, nil)
	lag := func() float64 {
		t.Helper()
		resp, err := http.Get(a.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "scrm_processing_lag_seconds "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatal(err)
				}
				return f
			}
		}
		t.Fatal("no scrm_processing_lag_seconds in /metrics")
		return 0
	}
	ready := func() int {
		t.Helper()
		resp, err := http.Get(a.base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	sim.SetOutage(wecomtest.Outage503, "message/send")
	a.sendWeCom(t, wecomtest.AppText("lisi", "帮助", 31_000_000_001, time.Now()))
	deadline := time.Now().Add(30 * time.Second)
	for lag() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("lag gauge %v 30 s into an event that cannot be processed", lag())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := ready(); got != http.StatusOK {
		t.Fatalf("/readyz = %d while processing lags %.1f s, want 200", got, lag())
	}
	t.Logf("lag %.1f s, /readyz 200", lag())

	sim.SetOutage(wecomtest.OutageNone, "message/send")
	deadline = time.Now().Add(60 * time.Second)
	for lag() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("lag gauge %v a minute after WeCom answered again", lag())
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitFor(t, "the reply to 帮助", func() bool { return len(sim.SentTo("lisi")) > 0 })
}
