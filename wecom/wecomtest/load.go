package wecomtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Load kinds.
const (
	LoadOAText       = "oa_text"       // an OA follower's text message
	LoadWeComText    = "wecom_text"    // a staff member's text to the WeCom app
	LoadContactEvent = "contact_event" // change_external_contact / add_external_contact
)

// LoadOptions configures Load. The embedded DriverConfig gives the callback
// URLs, the keys, the per-attempt Timeout (default 5s) and Retries (resends
// of an unacknowledged callback with the same body: 0 means WeChat's 3,
// negative none).
type LoadOptions struct {
	DriverConfig
	Kinds       []string // LoadOAText, LoadWeComText, LoadContactEvent; default all three, round robin
	N           int      // distinct messages
	Senders     int      // distinct senders (default 100)
	Rate        float64  // deliveries started per second; 0 means as fast as Concurrency allows
	Concurrency int      // parallel deliveries (default 32)
	// Duplicates is the fraction of messages (0..1) delivered a second time
	// later in the run with the identical body, as the platform does after a
	// lost acknowledgement; the server must store them once.
	Duplicates float64
	Seed       uint64 // for placing duplicates; 0 picks one
	// PrebuildLimit: when N is at most this (default 200000, about 120 MB
	// of bodies), every body is sealed before the clock starts so the run
	// measures the server, not the generator. Above it, bodies are sealed in
	// the workers (a few microseconds each) to bound memory.
	PrebuildLimit int
}

// LoadReport summarizes a Load run.
type LoadReport struct {
	Kinds          []string
	Messages       int // distinct messages
	Deliveries     int // callbacks delivered or attempted: Messages + DuplicatesSent
	DuplicatesSent int
	Acked          int // deliveries acknowledged with 200
	Failed         int // deliveries never acknowledged, after retries
	Requests       int // HTTP requests, including retries
	Retries        int
	Concurrency    int
	Rate           float64
	Elapsed        time.Duration
	Throughput     float64 // acknowledged deliveries per second
	P50, P90, P99  time.Duration
	Max            time.Duration
	Statuses       map[int]int    // HTTP status → answers
	Errors         map[string]int // transport error class → count
	SealedInline   bool           // bodies were sealed during the run (N > PrebuildLimit)
}

type loadJob struct {
	msg int // message index
	dup bool
}

type loadLazy struct {
	once sync.Once
	req  *CallbackRequest
	err  error
}

type loadStats struct {
	acked, failed, requests, retries int
	lat                              []time.Duration
	statuses                         map[int]int
	errs                             map[string]int
}

// Load delivers N signed (and, where the channel uses it, encrypted)
// callbacks to the server and measures acknowledgements. It returns the
// report so far together with ctx's error when cancelled.
func Load(ctx context.Context, opt LoadOptions) (LoadReport, error) {
	if opt.N <= 0 {
		return LoadReport{}, errors.New("wecomtest: load: N must be positive")
	}
	if len(opt.Kinds) == 0 {
		opt.Kinds = []string{LoadOAText, LoadWeComText, LoadContactEvent}
	}
	for _, k := range opt.Kinds {
		if k != LoadOAText && k != LoadWeComText && k != LoadContactEvent {
			return LoadReport{}, fmt.Errorf("wecomtest: load: unknown kind %q (want %s, %s or %s)", k, LoadOAText, LoadWeComText, LoadContactEvent)
		}
	}
	if opt.Senders <= 0 {
		opt.Senders = 100
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = 32
	}
	if opt.Duplicates < 0 || opt.Duplicates > 1 {
		return LoadReport{}, fmt.Errorf("wecomtest: load: Duplicates must be within 0..1, got %v", opt.Duplicates)
	}
	if opt.PrebuildLimit <= 0 {
		opt.PrebuildLimit = 200000
	}
	if opt.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = opt.Concurrency * 2
		tr.MaxIdleConnsPerHost = opt.Concurrency * 2 // keep every worker's connection alive
		tr.IdleConnTimeout = 90 * time.Second
		tr.DisableCompression = true
		opt.HTTPClient = &http.Client{Transport: tr}
		defer tr.CloseIdleConnections()
	}
	opt.DriverConfig.Simulator = nil // the generator measures the server only
	d, err := NewDriver(opt.DriverConfig)
	if err != nil {
		return LoadReport{}, fmt.Errorf("wecomtest: load: %w", err)
	}
	seed := opt.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	// Unique per run so a second run against the same server is not all
	// duplicates of the first.
	runID := fmt.Sprintf("%06x", rng.Uint32()&0xffffff)
	msgBase := time.Now().UnixMicro() * 1000
	// One CreateTime for the run keeps every message's plaintext a pure
	// function of its index, so a rebuilt message is the same message.
	t := d.cfg.Now()
	build := func(i int) (*CallbackRequest, error) {
		kind := opt.Kinds[i%len(opt.Kinds)]
		sender := i % opt.Senders
		switch kind {
		case LoadOAText:
			m := OAText(fmt.Sprintf("oLoad%06d", sender), fmt.Sprintf("压测消息 %d：你好，想了解一下价格。", i), msgBase+int64(i), t)
			return d.BuildOA(d.OAXML(m))
		case LoadWeComText:
			m := AppText(fmt.Sprintf("loaduser%04d", sender), fmt.Sprintf("压测 %d：客户说下周三再联系", i), msgBase+int64(i), t)
			return d.BuildWeCom(d.WeComXML(m))
		default:
			m := ContactEvent("add_external_contact", fmt.Sprintf("loaduser%04d", sender),
				fmt.Sprintf("wmLoad%s%08d", runID, i), t, map[string]string{"State": "load", "WelcomeCode": "WC" + runID})
			return d.BuildWeCom(d.WeComXML(m))
		}
	}

	// Place duplicates after their original, at a random later point.
	nDup := int(float64(opt.N)*opt.Duplicates + 0.5)
	after := make(map[int][]int, nDup)
	for _, j := range rng.Perm(opt.N)[:nDup] {
		pos := j + rng.IntN(opt.N-j)
		after[pos] = append(after[pos], j)
	}
	jobs := make([]loadJob, 0, opt.N+nDup)
	for i := range opt.N {
		jobs = append(jobs, loadJob{msg: i})
		for _, j := range after[i] {
			jobs = append(jobs, loadJob{msg: j, dup: true})
		}
	}

	rep := LoadReport{Kinds: opt.Kinds, Messages: opt.N, DuplicatesSent: nDup, Concurrency: opt.Concurrency, Rate: opt.Rate,
		Statuses: map[int]int{}, Errors: map[string]int{}}
	var reqs []*CallbackRequest
	// Inline mode still resends a duplicated message byte for byte: its
	// request is built once and shared by both deliveries.
	shared := map[int]*loadLazy{}
	if opt.N <= opt.PrebuildLimit {
		reqs = make([]*CallbackRequest, opt.N)
		for i := range reqs {
			if reqs[i], err = build(i); err != nil {
				return rep, fmt.Errorf("wecomtest: load: build message %d: %w", i, err)
			}
		}
	} else {
		rep.SealedInline = true
		for _, list := range after {
			for _, j := range list {
				shared[j] = &loadLazy{}
			}
		}
	}

	ch := make(chan loadJob, opt.Concurrency)
	stats := make([]loadStats, opt.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range opt.Concurrency {
		st := &stats[w]
		st.statuses, st.errs = map[int]int{}, map[string]int{}
		wg.Go(func() {
			for job := range ch {
				var req *CallbackRequest
				if reqs != nil {
					req = reqs[job.msg]
				} else {
					var berr error
					if lz := shared[job.msg]; lz != nil {
						lz.once.Do(func() { lz.req, lz.err = build(job.msg) })
						req, berr = lz.req, lz.err
					} else {
						req, berr = build(job.msg)
					}
					if berr != nil {
						st.failed++
						st.errs["build: "+berr.Error()]++
						continue
					}
				}
				loadDeliver(ctx, d, req, st)
			}
		})
	}
	sent := 0
dispatch:
	for k, job := range jobs {
		if opt.Rate > 0 {
			due := start.Add(time.Duration(float64(k) / opt.Rate * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					break dispatch
				}
			}
		}
		select {
		case ch <- job:
			sent++
		case <-ctx.Done():
			break dispatch
		}
	}
	close(ch)
	wg.Wait()
	rep.Elapsed = time.Since(start)

	var lat []time.Duration
	for _, st := range stats {
		rep.Acked += st.acked
		rep.Failed += st.failed
		rep.Requests += st.requests
		rep.Retries += st.retries
		lat = append(lat, st.lat...)
		for k, v := range st.statuses {
			rep.Statuses[k] += v
		}
		for k, v := range st.errs {
			rep.Errors[k] += v
		}
	}
	rep.Deliveries = sent
	if sent < len(jobs) {
		// Cancelled: count only duplicates actually dispatched.
		rep.DuplicatesSent = 0
		for _, j := range jobs[:sent] {
			if j.dup {
				rep.DuplicatesSent++
			}
		}
	}
	if rep.Elapsed > 0 {
		rep.Throughput = float64(rep.Acked) / rep.Elapsed.Seconds()
	}
	slices.Sort(lat)
	rep.P50, rep.P90, rep.P99 = quantile(lat, 0.50), quantile(lat, 0.90), quantile(lat, 0.99)
	if len(lat) > 0 {
		rep.Max = lat[len(lat)-1]
	}
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("wecomtest: load interrupted: %w", err)
	}
	return rep, nil
}

// loadDeliver is Driver.Deliver with per-attempt accounting.
func loadDeliver(ctx context.Context, d *Driver, req *CallbackRequest, st *loadStats) {
	for attempt := 0; attempt <= d.cfg.Retries; attempt++ {
		if ctx.Err() != nil {
			st.failed++
			return
		}
		if attempt > 0 {
			st.retries++
			if d.cfg.RetryDelay > 0 {
				_ = sleepCtx(ctx, d.cfg.RetryDelay)
			}
		}
		st.requests++
		status, _, lat, err := d.attempt(ctx, req)
		if status != 0 {
			st.statuses[status]++
		}
		if err == nil && status == http.StatusOK {
			st.acked++
			st.lat = append(st.lat, lat)
			return
		}
		if err != nil {
			st.errs[errClass(err)]++
		}
	}
	st.failed++
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errClass names a transport error without its URL (which carries the
// signature) so errors aggregate.
func errClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case strings.Contains(err.Error(), "EOF"):
		return "connection closed (EOF)"
	}
	return "other"
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// String renders the report for a terminal.
func (r LoadReport) String() string {
	var b strings.Builder
	rate := "unlimited"
	if r.Rate > 0 {
		rate = fmt.Sprintf("%.0f/s", r.Rate)
	}
	fmt.Fprintf(&b, "kinds:       %s\n", strings.Join(r.Kinds, ", "))
	fmt.Fprintf(&b, "deliveries:  %d (%d messages + %d duplicates), concurrency %d, rate %s\n",
		r.Deliveries, r.Messages, r.DuplicatesSent, r.Concurrency, rate)
	pct := 0.0
	if r.Deliveries > 0 {
		pct = 100 * float64(r.Acked) / float64(r.Deliveries)
	}
	fmt.Fprintf(&b, "acked:       %d (%.2f%%), failed %d, retries %d, requests %d\n", r.Acked, pct, r.Failed, r.Retries, r.Requests)
	fmt.Fprintf(&b, "elapsed:     %s, throughput %.1f acked/s\n", r.Elapsed.Round(time.Millisecond), r.Throughput)
	fmt.Fprintf(&b, "latency:     p50 %s  p90 %s  p99 %s  max %s\n", fmtDur(r.P50), fmtDur(r.P90), fmtDur(r.P99), fmtDur(r.Max))
	var st []string
	for _, code := range sortedIntKeys(r.Statuses) {
		st = append(st, fmt.Sprintf("%d×%d", code, r.Statuses[code]))
	}
	if len(st) == 0 {
		st = []string{"none"}
	}
	fmt.Fprintf(&b, "statuses:    %s\n", strings.Join(st, "  "))
	if len(r.Errors) > 0 {
		var es []string
		for _, k := range sortedKeys(r.Errors) {
			es = append(es, fmt.Sprintf("%s×%d", k, r.Errors[k]))
		}
		fmt.Fprintf(&b, "errors:      %s\n", strings.Join(es, "  "))
	}
	if r.SealedInline {
		b.WriteString("bodies:      sealed in the workers during the run\n")
	} else {
		b.WriteString("bodies:      sealed before the clock started\n")
	}
	return b.String()
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}

func sortedIntKeys(m map[int]int) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}
