package wecomtest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// ingest is a small callback server: it verifies and decrypts every request
// like the real edge, dedups by Event.DedupKey, and can fail first attempts.
type ingest struct {
	wc, oc   *wecom.Crypto
	failEach int // answer 500 to the first attempt of every failEach-th new message
	delay    time.Duration

	mu       sync.Mutex
	keys     map[string]int // dedup key → acknowledged deliveries
	attempts map[string]int
	kinds    map[string]int
	staff    map[string]bool
	injected int
	bad      int
}

func newIngest(t *testing.T, failEach int) *ingest {
	t.Helper()
	wc, err := wecom.NewCrypto(wecomtest.SimToken, wecomtest.SimAESKey, wecomtest.SimCorpID)
	if err != nil {
		t.Fatal(err)
	}
	oc, err := wecom.NewCrypto(wecomtest.SimOAToken, wecomtest.SimOAAESKey, wecomtest.SimOAAppID)
	if err != nil {
		t.Fatal(err)
	}
	return &ingest{wc: wc, oc: oc, failEach: failEach, keys: map[string]int{}, attempts: map[string]int{},
		kinds: map[string]int{}, staff: map[string]bool{}}
}

func (in *ingest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	var ev *wecom.Event
	var err error
	if strings.HasSuffix(r.URL.Path, "/oa") {
		if !wecom.VerifyOASignature(wecomtest.SimOAToken, q.Get("signature"), q.Get("timestamp"), q.Get("nonce")) {
			in.reject(w)
			return
		}
		plain, oerr := in.oc.Open(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), body)
		if oerr != nil {
			in.reject(w)
			return
		}
		ev, err = wecom.ParseOA(plain)
	} else {
		plain, oerr := in.wc.Open(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), body)
		if oerr != nil {
			in.reject(w)
			return
		}
		ev, err = wecom.ParseWeCom(plain)
	}
	if err != nil {
		in.reject(w)
		return
	}
	key := ev.DedupKey()
	in.mu.Lock()
	in.attempts[key]++
	fail := in.failEach > 0 && in.attempts[key] == 1 && len(in.attempts)%in.failEach == 0
	if fail {
		in.injected++
	} else {
		in.keys[key]++
		if in.keys[key] == 1 {
			in.kinds[ev.Kind]++
			if ev.StaffID != "" {
				in.staff[ev.StaffID] = true
			}
		}
	}
	in.mu.Unlock()
	if in.delay > 0 {
		time.Sleep(in.delay)
	}
	if fail {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	_, _ = io.WriteString(w, "success")
}

func (in *ingest) reject(w http.ResponseWriter) {
	in.mu.Lock()
	in.bad++
	in.mu.Unlock()
	http.Error(w, "bad callback", http.StatusForbidden)
}

func loadOptions(url string) wecomtest.LoadOptions {
	return wecomtest.LoadOptions{DriverConfig: wecomtest.DriverConfig{
		URL: url + "/wecom", OAURL: url + "/oa",
		Token: wecomtest.SimToken, AESKey: wecomtest.SimAESKey, CorpID: wecomtest.SimCorpID, AgentID: wecomtest.SimAgentID,
		OAAppID: wecomtest.SimOAAppID, OAToken: wecomtest.SimOAToken, OAAESKey: wecomtest.SimOAAESKey, OASafeMode: true,
		Timeout: 2 * time.Second,
	}}
}

func TestLoadCountsEverything(t *testing.T) {
	for _, tc := range []struct {
		name     string
		prebuild int
		inline   bool
	}{
		{"pre-sealed", 0, false},
		{"sealed in the workers", 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newIngest(t, 10)
			srv := httptest.NewServer(in)
			defer srv.Close()
			opt := loadOptions(srv.URL)
			opt.N, opt.Senders, opt.Concurrency, opt.Duplicates, opt.Seed = 300, 20, 8, 0.1, 7
			opt.PrebuildLimit = tc.prebuild
			rep, err := wecomtest.Load(t.Context(), opt)
			if err != nil {
				t.Fatal(err)
			}
			in.mu.Lock()
			defer in.mu.Unlock()
			if in.bad != 0 {
				t.Fatalf("server rejected %d callbacks as badly signed or sealed", in.bad)
			}
			if len(in.keys) != 300 {
				t.Errorf("server stored %d distinct messages, want 300", len(in.keys))
			}
			dups := 0
			for _, n := range in.keys {
				dups += n - 1
			}
			if rep.Messages != 300 || rep.DuplicatesSent != 30 || dups != 30 || rep.Deliveries != 330 {
				t.Errorf("messages %d, duplicates reported %d / seen %d, deliveries %d; want 300, 30, 30, 330",
					rep.Messages, rep.DuplicatesSent, dups, rep.Deliveries)
			}
			if rep.Acked != 330 || rep.Failed != 0 {
				t.Errorf("acked %d failed %d, want 330 and 0", rep.Acked, rep.Failed)
			}
			if rep.Retries != in.injected || in.injected == 0 || rep.Requests != 330+in.injected {
				t.Errorf("retries %d, requests %d; server injected %d failures", rep.Retries, rep.Requests, in.injected)
			}
			if rep.Statuses[500] != in.injected || rep.Statuses[200] != 330 {
				t.Errorf("statuses %v", rep.Statuses)
			}
			if in.kinds["text"] != 200 || in.kinds["event.change_external_contact.add_external_contact"] != 100 {
				t.Errorf("kinds at the server: %v", in.kinds)
			}
			if len(in.staff) != 20 {
				t.Errorf("distinct staff senders = %d, want 20", len(in.staff))
			}
			if !(rep.P50 > 0 && rep.P50 <= rep.P90 && rep.P90 <= rep.P99 && rep.P99 <= rep.Max) {
				t.Errorf("latencies p50 %v p90 %v p99 %v max %v", rep.P50, rep.P90, rep.P99, rep.Max)
			}
			if rep.Throughput <= 0 || rep.SealedInline != tc.inline {
				t.Errorf("throughput %v, sealed inline %v", rep.Throughput, rep.SealedInline)
			}
			s := rep.String()
			for _, want := range []string{"acked/s", "p99", "330 (300 messages + 30 duplicates)", "retries"} {
				if !strings.Contains(s, want) {
					t.Errorf("report lacks %q:\n%s", want, s)
				}
			}
			t.Logf("\n%s", s)
		})
	}
}

func TestLoadRateAndFailures(t *testing.T) {
	t.Run("rate paces deliveries", func(t *testing.T) {
		in := newIngest(t, 0)
		srv := httptest.NewServer(in)
		defer srv.Close()
		opt := loadOptions(srv.URL)
		opt.Kinds, opt.N, opt.Rate, opt.Concurrency = []string{wecomtest.LoadOAText}, 30, 300, 4
		rep, err := wecomtest.Load(t.Context(), opt)
		if err != nil {
			t.Fatal(err)
		}
		// 30 deliveries at 300/s: the last starts at 29/300 s.
		if rep.Elapsed < 90*time.Millisecond || rep.Acked != 30 {
			t.Errorf("elapsed %v acked %d", rep.Elapsed, rep.Acked)
		}
	})
	t.Run("server down", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		defer srv.Close()
		opt := loadOptions(srv.URL)
		opt.Kinds, opt.N, opt.Retries = []string{wecomtest.LoadWeComText}, 20, 2
		rep, err := wecomtest.Load(t.Context(), opt)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Acked != 0 || rep.Failed != 20 || rep.Retries != 40 || rep.Statuses[503] != 60 {
			t.Errorf("report %+v", rep)
		}
	})
	t.Run("timeouts", func(t *testing.T) {
		in := newIngest(t, 0)
		in.delay = 200 * time.Millisecond
		srv := httptest.NewServer(in)
		defer srv.Close()
		opt := loadOptions(srv.URL)
		opt.Kinds, opt.N, opt.Retries, opt.Timeout, opt.Concurrency = []string{wecomtest.LoadOAText}, 4, -1, 50*time.Millisecond, 4
		rep, err := wecomtest.Load(t.Context(), opt)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Failed != 4 || rep.Errors["timeout"] != 4 {
			t.Errorf("failed %d errors %v", rep.Failed, rep.Errors)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		in := newIngest(t, 0)
		in.delay = 20 * time.Millisecond
		srv := httptest.NewServer(in)
		defer srv.Close()
		opt := loadOptions(srv.URL)
		opt.Kinds, opt.N, opt.Concurrency = []string{wecomtest.LoadOAText}, 200, 2
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		rep, err := wecomtest.Load(ctx, opt)
		if err == nil || rep.Deliveries >= 200 || rep.Acked == 0 {
			t.Errorf("err %v, deliveries %d, acked %d", err, rep.Deliveries, rep.Acked)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		for _, opt := range []wecomtest.LoadOptions{
			{N: 0},
			{N: 1, Kinds: []string{"sms"}},
			{N: 1, Duplicates: 2},
		} {
			if _, err := wecomtest.Load(t.Context(), opt); err == nil {
				t.Errorf("options %+v accepted", opt)
			}
		}
	})
}
