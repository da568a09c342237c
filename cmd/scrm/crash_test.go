package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// Credentials the test server and its sender share.
const (
	testCorpID  = "wwtestcorp0001"
	testToken   = "scrmtesttoken"
	testAESKey  = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	testOAAppID = "wxtestoa0001"
	testOAToken = "scrmoatoken"
	testOAKey   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// scrmBinary builds the real binary once per test run, so crash tests kill a
// real process rather than a goroutine.
func scrmBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "scrm-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "scrm")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type serverProc struct {
	cmd  *exec.Cmd
	logs *bytes.Buffer
}

// startServer runs `scrm serve` on addr over dataDir and waits until it answers.
func startServer(t *testing.T, addr, dataDir string, extraEnv ...string) *serverProc {
	t.Helper()
	cmd := exec.Command(scrmBinary(t), "serve")
	cmd.Env = append(os.Environ(),
		"SCRM_ADDR="+addr, "SCRM_DATA_DIR="+dataDir, "SCRM_LOG_LEVEL=warn",
		"SCRM_WECOM_CORP_ID="+testCorpID, "SCRM_WECOM_TOKEN="+testToken, "SCRM_WECOM_AES_KEY="+testAESKey,
		"SCRM_OA_APP_ID="+testOAAppID, "SCRM_OA_TOKEN="+testOAToken, "SCRM_OA_AES_KEY="+testOAKey,
		"SCRM_API_TOKEN=test-api-token",
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	logs := &bytes.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProc{cmd: cmd, logs: logs}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	t.Fatalf("server did not come up; logs:\n%s", logs.String())
	return nil
}

func (p *serverProc) kill9() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

func (p *serverProc) stop(t *testing.T) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("graceful stop: %v\nlogs:\n%s", err, p.logs.String())
		}
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Errorf("server did not stop on SIGTERM")
	}
}

// TestKill9DuringLoad sends 20,000 encrypted OA messages while the server is
// killed with SIGKILL and restarted; the sender resends whatever was not
// acknowledged, as WeChat does. Exactly 20,000 events must be stored.
func TestKill9DuringLoad(t *testing.T) {
	const total = 20000
	for _, twice := range []bool{false, true} {
		name := "each sent once"
		if twice {
			name = "each sent twice"
		}
		t.Run(name, func(t *testing.T) {
			addr, dataDir := freeAddr(t), t.TempDir()
			srv := startServer(t, addr, dataDir)
			d, err := wecomtest.NewDriver(wecomtest.DriverConfig{
				URL: "http://" + addr + "/wecom/callback", OAURL: "http://" + addr + "/oa/callback",
				OAAppID: testOAAppID, OAToken: testOAToken, OAAESKey: testOAKey, OASafeMode: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			reqs := make([]*wecomtest.CallbackRequest, total)
			for i := range reqs {
				m := wecomtest.OAText(fmt.Sprintf("o-crash-%04d", i%700), fmt.Sprintf("第%d条消息", i), int64(1_000_000+i), now)
				if reqs[i], err = d.BuildOA(d.OAXML(m)); err != nil {
					t.Fatal(err)
				}
			}
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			// deliver resends one callback until it is acknowledged.
			deliver := func(r *wecomtest.CallbackRequest) {
				for {
					resp, err := client.Post(r.URL, "text/xml", bytes.NewReader(r.Body))
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == http.StatusOK {
							return
						}
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			var acked atomic.Int64
			next := atomic.Int64{}
			var wg sync.WaitGroup
			for range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= total {
							return
						}
						deliver(reqs[i])
						if twice {
							deliver(reqs[i])
						}
						acked.Add(1)
					}
				}()
			}
			// Kill the server mid-load, twice, and bring it back each time.
			for _, at := range []int64{total / 3, 2 * total / 3} {
				for acked.Load() < at {
					time.Sleep(5 * time.Millisecond)
				}
				srv.kill9()
				time.Sleep(300 * time.Millisecond)
				srv = startServer(t, addr, dataDir)
			}
			finished := make(chan struct{})
			go func() { wg.Wait(); close(finished) }()
			select {
			case <-finished:
			case <-time.After(3 * time.Minute):
				t.Fatalf("load did not finish: %d acknowledged", acked.Load())
			}
			// Processing catches up after the kills: every message reaches
			// its timeline, once.
			deadline := time.Now().Add(3 * time.Minute)
			for apiStats(t, addr).Messages < total {
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d messages on timelines 3 min after the load", apiStats(t, addr).Messages, total)
				}
				time.Sleep(100 * time.Millisecond)
			}
			// A batch's messages reach their timelines before the batch's
			// other processors finish with them: wait for those too.
			for unprocessed(t, dataDir) > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%d events unprocessed 3 min after the load", unprocessed(t, dataDir))
				}
				time.Sleep(100 * time.Millisecond)
			}
			srv.stop(t)
			checkTimelinesOnce(t, dataDir, total)

			st, err := sqlite.Open(context.Background(), dataDir)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			stats, err := st.Stats(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			// Dedup keys are unique in the store, so a count of exactly total
			// means every message is there once.
			if stats.Events != total {
				t.Fatalf("stored %d events, want exactly %d", stats.Events, total)
			}
			seen := map[string]bool{}
			for after := int64(0); ; {
				evs, err := st.FindEvents(context.Background(), store.EventFilter{AfterID: after, Limit: 1000})
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) == 0 {
					break
				}
				for _, ev := range evs {
					if seen[ev.MsgID] {
						t.Fatalf("message %s stored twice", ev.MsgID)
					}
					seen[ev.MsgID] = true
					after = ev.ID
				}
			}
			if len(seen) != total {
				t.Fatalf("found %d distinct messages, want %d", len(seen), total)
			}
		})
	}
}
