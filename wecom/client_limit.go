package wecom

import (
	"context"
	"errors"
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

// SendSlots keeps per member send reservations where every instance of the
// service sees them (coord.Redis in cluster mode). WeCom counts a member's
// messages per app, not per process: limiters in two instances, or in one
// instance and its restart after a crash, would each allow 30 a minute, and
// WeCom silently drops what they send together above it.
type SendSlots interface {
	// ReserveSend reserves one send at the earliest time, not before now or
	// any earlier reservation of these keys, at which every key stays within
	// perMin sends in a minute and perHour in an hour (each window widened
	// by slack; a limit <= 0 is off). It returns that time and an id for
	// CancelSend.
	ReserveSend(ctx context.Context, keys []string, now time.Time, perMin, perHour int, slack time.Duration) (at time.Time, id string, err error)
	// CancelSend gives back a reservation that will not be used.
	CancelSend(ctx context.Context, keys []string, id string) error
}

// memberLimiter enforces WeCom's per app per member send limits (30 a minute,
// 1000 an hour) by delaying sends, because WeCom silently drops the excess.
// Each send reserves a slot at the earliest time both windows allow, in
// arrival order per member, then waits for it; nothing is ever dropped. A
// cancelled wait gives its slot back. Slots live in shared (under scope,
// which names the app) when it is set, in this process otherwise.
type memberLimiter struct {
	clock   Clock
	perMin  int
	perHour int
	shared  SendSlots
	scope   string

	mu      sync.Mutex
	slots   map[string][]time.Time // per member, ascending: past sends and future reservations
	waiting map[string]int
	total   int
}

func newMemberLimiter(clock Clock, perMin, perHour int, shared SendSlots, scope string) *memberLimiter {
	return &memberLimiter{
		clock: clock, perMin: perMin, perHour: perHour, shared: shared, scope: scope,
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
	now := l.clock.Now()
	at, undo, err := l.reserve(ctx, members, now)
	if err != nil {
		return fmt.Errorf("wecom: reserving a send slot: %w", err)
	}
	wait := at.Sub(now)
	if wait <= 0 {
		return nil
	}
	if max, ok := ctx.Value(maxSendWaitKey{}).(time.Duration); ok && wait > max {
		undo()
		return fmt.Errorf("wecom: next send slot in %v: %w", wait.Round(time.Second), ErrSendLater)
	}
	l.mu.Lock()
	for _, m := range members {
		l.waiting[m]++
	}
	l.total++
	l.mu.Unlock()

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
	}
	l.total--
	l.mu.Unlock()
	if err != nil {
		undo()
		return fmt.Errorf("wecom: waiting for the per-member send limit: %w", err)
	}
	return nil
}

// ErrSendLater is returned, without waiting, by a send whose context set a
// maximum wait (WithMaxSendWait) shorter than the wait for the member's
// next send slot. Nothing was sent and no slot is kept.
var ErrSendLater = errors.New("wecom: member's send limit reached, send later")

type maxSendWaitKey struct{}

// WithMaxSendWait bounds how long sends under ctx wait for a per-member
// send slot: a caller with other work queued behind it (the event pipeline)
// gets ErrSendLater at once instead, and retries later, while a caller whose
// only job is the send (the reminder scheduler) waits as long as it takes.
func WithMaxSendWait(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, maxSendWaitKey{}, d)
}

// reserve books one send for members and returns its time and a function
// that gives it back.
func (l *memberLimiter) reserve(ctx context.Context, members []string, now time.Time) (time.Time, func(), error) {
	if l.shared != nil {
		keys := make([]string, len(members))
		for i, m := range members {
			keys[i] = l.scope + m
		}
		at, id, err := l.shared.ReserveSend(ctx, keys, now, l.perMin, l.perHour, limiterSlack)
		if err != nil {
			return time.Time{}, nil, err
		}
		return at, func() {
			// ctx has ended; the slot is given back under a short
			// deadline of its own (if that fails, it only delays others).
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			_ = l.shared.CancelSend(cctx, keys, id)
		}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
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
	return at, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, m := range members {
			l.unreserve(m, at)
		}
	}, nil
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
