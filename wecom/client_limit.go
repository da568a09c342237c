package wecom

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Clock is the time source of the per-member limiter. Tests inject a fake
// (wecomtest.FakeClock) to move a minute forward without waiting.
type Clock interface {
	Now() time.Time
	// After delivers once d has elapsed on this clock.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// limiterSlack widens each window a little: WeCom counts the moment a message
// arrives, which trails the moment a slot was granted here by up to a network
// round trip.
const limiterSlack = time.Second

// memberLimiter enforces WeCom's per app per member send limits (30 a minute,
// 1000 an hour) by delaying sends, because WeCom silently drops the excess.
// Each send reserves a slot at the earliest time both windows allow, in
// arrival order per member, then waits for it; nothing is ever dropped. A
// cancelled wait gives its slot back.
type memberLimiter struct {
	clock   Clock
	perMin  int
	perHour int

	mu      sync.Mutex
	slots   map[string][]time.Time // per member, ascending: past sends and future reservations
	waiting map[string]int
	total   int
}

func newMemberLimiter(clock Clock, perMin, perHour int) *memberLimiter {
	return &memberLimiter{
		clock: clock, perMin: perMin, perHour: perHour,
		slots:   make(map[string][]time.Time),
		waiting: make(map[string]int),
	}
}

func (l *memberLimiter) depth(member string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if member == "" {
		return l.total
	}
	return l.waiting[member]
}

// acquire blocks until every member may receive one more message.
func (l *memberLimiter) acquire(ctx context.Context, members []string) error {
	if len(members) == 0 || (l.perMin < 0 && l.perHour < 0) {
		return nil
	}
	l.mu.Lock()
	now := l.clock.Now()
	at := now
	for _, m := range members {
		s := l.prune(m, now)
		if n := len(s); n > 0 && s[n-1].After(at) {
			at = s[n-1] // keep per-member FIFO order behind earlier reservations
		}
		if n := len(s); l.perMin > 0 && n >= l.perMin {
			at = later(at, s[n-l.perMin].Add(time.Minute+limiterSlack))
		}
		if n := len(s); l.perHour > 0 && n >= l.perHour {
			at = later(at, s[n-l.perHour].Add(time.Hour+limiterSlack))
		}
	}
	for _, m := range members {
		l.slots[m] = append(l.slots[m], at)
	}
	wait := at.Sub(now)
	if wait <= 0 {
		l.mu.Unlock()
		return nil
	}
	for _, m := range members {
		l.waiting[m]++
	}
	l.total++
	l.mu.Unlock()

	var err error
	select {
	case <-l.clock.After(wait):
	case <-ctx.Done():
		err = ctx.Err()
	}

	l.mu.Lock()
	for _, m := range members {
		if l.waiting[m]--; l.waiting[m] <= 0 {
			delete(l.waiting, m)
		}
		if err != nil {
			l.unreserve(m, at)
		}
	}
	l.total--
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("wecom: waiting for the per-member send limit: %w", err)
	}
	return nil
}

// prune drops slots older than the hour window and returns the rest.
func (l *memberLimiter) prune(m string, now time.Time) []time.Time {
	s := l.slots[m]
	cut := now.Add(-time.Hour - limiterSlack)
	i := 0
	for i < len(s) && !s[i].After(cut) {
		i++
	}
	if i == len(s) {
		delete(l.slots, m)
		return nil
	}
	if i > 0 {
		s = append(s[:0:0], s[i:]...)
		l.slots[m] = s
	}
	return s
}

// unreserve removes one reservation at t. Later reservations stay valid:
// removing a slot only loosens the windows they were computed against.
func (l *memberLimiter) unreserve(m string, t time.Time) {
	s := l.slots[m]
	for i := len(s) - 1; i >= 0; i-- {
		if s[i].Equal(t) {
			l.slots[m] = append(s[:i], s[i+1:]...)
			return
		}
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
