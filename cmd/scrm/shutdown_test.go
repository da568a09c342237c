package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
)

// backlog appends n unprocessed OA messages from 1,000 followers straight
// into the store in dataDir, as if acknowledged just before a restart.
func backlog(t *testing.T, dataDir string, n int) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	for start := 0; start < n; start += 1000 {
		var evs []*store.Event
		for i := start; i < min(start+1000, n); i++ {
			open := fmt.Sprintf("o-backlog-%04d", i%1000)
			evs = append(evs, &store.Event{DedupKey: fmt.Sprintf("msg:oa:%d", 5_000_000+i), Channel: store.ChannelOA, Kind: "text",
				FromID: open, CustomerID: open, Text: fmt.Sprintf("第%d条消息", i), MsgID: fmt.Sprint(5_000_000 + i), OccurredAt: now, ReceivedAt: now})
		}
		if _, err := st.AppendEvents(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
}

func apiStats(t *testing.T, addr string) store.Stats {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/stats", nil)
	req.Header.Set("Authorization", "Bearer test-api-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st store.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// unprocessed counts the events of the store in dataDir not processed yet,
// read through a read-only connection of its own while the server runs.
func unprocessed(t *testing.T, dataDir string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, sqlite.FileName)+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM events WHERE processed_at IS NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// sigterm stops p with SIGTERM and returns how long it took to exit.
func sigterm(t *testing.T, p *serverProc) time.Duration {
	t.Helper()
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	return time.Since(start)
}

// TestSIGTERMWithBacklogStopsInTime stops `scrm serve` with SIGTERM while
// it works through 20,000 stored messages: it must exit within 10 s, and
// after a restart every message is on its timeline exactly once.
func TestSIGTERMWithBacklogStopsInTime(t *testing.T) {
	const n = 20000
	addr, dataDir := freeAddr(t), t.TempDir()
	backlog(t, dataDir, n)
	srv := startServer(t, addr, dataDir)
	time.Sleep(time.Second)
	before := apiStats(t, addr)
	if before.Messages >= n {
		t.Fatalf("the backlog was gone before SIGTERM (%d messages): nothing to test", before.Messages)
	}
	if took := sigterm(t, srv); took > 10*time.Second {
		t.Fatalf("exit took %v with a backlog of %d, want < 10 s; logs:\n%s", took, n-before.Messages, srv.logs.String())
	} else {
		t.Logf("exited %v after SIGTERM with %d of %d messages on timelines", took.Round(time.Millisecond), before.Messages, n)
	}
	srv = startServer(t, addr, dataDir)
	deadline := time.Now().Add(2 * time.Minute)
	for apiStats(t, addr).Messages < n {
		if time.Now().After(deadline) {
			t.Fatalf("after the restart %d of %d messages are on timelines", apiStats(t, addr).Messages, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	srv.stop(t)
	checkTimelinesOnce(t, dataDir, n)
}

// checkTimelinesOnce checks that every stored message is on a timeline
// exactly once and nothing is left unprocessed.
func checkTimelinesOnce(t *testing.T, dataDir string, n int) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Events != int64(n) || stats.Messages != int64(n) {
		t.Fatalf("stats %+v, want %d events and %d messages", stats, n, n)
	}
	if _, err := st.OldestUnprocessed(ctx); err == nil {
		t.Fatal("events left unprocessed")
	}
	// Count the entries themselves, not only the counter.
	var entries int
	for after := ""; ; {
		cs, err := st.FindCustomers(ctx, store.CustomerFilter{AfterID: after, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			break
		}
		for _, c := range cs {
			after = c.ID
			tl, err := st.FindTimeline(ctx, c.ID, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, e := range tl {
				if e.Kind != store.EntryMessage {
					continue
				}
				if seen[e.SourceKey] {
					t.Fatalf("customer %s: %s on the timeline twice", c.ID, e.SourceKey)
				}
				seen[e.SourceKey] = true
				entries++
			}
		}
	}
	if entries != n {
		t.Fatalf("%d message entries on timelines, want %d", entries, n)
	}
}

// blackhole is a TCP proxy to Redis that can stop answering without
// closing anything, as a partitioned network does.
type blackhole struct {
	ln   net.Listener
	mu   sync.Mutex
	dead bool
}

func newBlackhole(t *testing.T, target string) *blackhole {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go b.serve(c, target)
		}
	}()
	return b
}

func (b *blackhole) cut() { b.mu.Lock(); b.dead = true; b.mu.Unlock() }

func (b *blackhole) isDead() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.dead }

func (b *blackhole) serve(c net.Conn, target string) {
	if b.isDead() {
		return // accepted, never answered
	}
	up, err := net.Dial("tcp", target)
	if err != nil {
		c.Close()
		return
	}
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if err != nil {
				return
			}
			if b.isDead() {
				return // swallow: no answer, no close
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
	go pipe(up, c)
	pipe(c, up)
}

// TestSIGTERMWithRedisUnreachable stops `scrm serve` with SIGTERM after
// Redis stopped answering, with a backlog: it must still exit within 10 s.
func TestSIGTERMWithRedisUnreachable(t *testing.T) {
	if c, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second); err != nil {
		t.Fatalf("this test needs a Redis on 127.0.0.1:6379 (make test starts one): %v", err)
	} else {
		c.Close()
	}
	addr, dataDir := freeAddr(t), t.TempDir()
	backlog(t, dataDir, 20000)
	bh := newBlackhole(t, "127.0.0.1:6379")
	srv := startServer(t, addr, dataDir, "SCRM_REDIS_URL=redis://"+bh.ln.Addr().String()+"/0",
		fmt.Sprintf("SCRM_REDIS_PREFIX=test-shutdown-%d:", time.Now().UnixNano()))
	time.Sleep(time.Second)
	bh.cut()
	time.Sleep(500 * time.Millisecond)
	if took := sigterm(t, srv); took > 10*time.Second {
		t.Fatalf("exit took %v with Redis unreachable, want < 10 s; logs:\n%s", took, srv.logs.String())
	} else {
		t.Logf("exited %v after SIGTERM with Redis unreachable", took.Round(time.Millisecond))
	}
}
