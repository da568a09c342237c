package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// simApp is scrm started as `serve` starts it, on an embedded store, against
// a simulated corp: the end-to-end tests drive it through real signed and
// encrypted callbacks and read what it sent from the simulator.
type simApp struct {
	*app
	drv  *wecomtest.Driver
	base string // http://host:port
}

// startSimApp starts scrm with WeCom pointed at sim; edit, when set, adjusts
// the configuration first. The app stops when the test ends.
func startSimApp(t testing.TB, sim *wecomtest.Simulator, ext extensions, edit func(*config.Config)) *simApp {
	t.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.WeComCorpID, cfg.WeComAgentID = wecomtest.SimCorpID, wecomtest.SimAgentID
	cfg.WeComSecret, cfg.WeComContactSecret = wecomtest.SimAppSecret, wecomtest.SimContactSecret
	cfg.WeComToken, cfg.WeComAESKey, cfg.WeComAPIBase = wecomtest.SimToken, wecomtest.SimAESKey, sim.URL
	cfg.SQLiteSynchronous = "NORMAL"
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := startApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ext)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.stop(); err != nil {
			t.Error(err)
		}
	})
	base := "http://" + a.addr.String()
	drv, err := wecomtest.NewDriver(wecomtest.SimDriverConfig(base+"/wecom/callback", base+"/oa/callback", sim))
	if err != nil {
		t.Fatal(err)
	}
	return &simApp{app: a, drv: drv, base: base}
}

// sendWeCom delivers m as a WeCom callback; anything but a 200 fails the test.
func (s *simApp) sendWeCom(t *testing.T, m wecomtest.Msg) {
	t.Helper()
	if d, err := s.drv.SendWeCom(context.Background(), m); err != nil || d.Status != 200 {
		t.Fatalf("deliver: %v %+v", err, d)
	}
}

// waitFor polls ok until it holds, failing the test after 30 s: work after a
// callback happens in the background, in its own time.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
