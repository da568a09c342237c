// Package coord is what several scrm instances share through Redis: a key/value
// cache with TTL (access tokens), the callback dedup fast path, named leases and
// wake-ups. Local implements the same methods in process for a single instance,
// so the code above never asks which one it has.
package coord

import (
	"context"
	"sync"
	"time"
)

// Local is the single-instance coordinator.
type Local struct {
	mu      sync.Mutex
	values  map[string]localValue
	subs    map[string][]chan struct{}
	nowFunc func() time.Time
}

type localValue struct {
	v       string
	expires time.Time
}

// NewLocal returns an in-process coordinator.
func NewLocal() *Local {
	return &Local{values: map[string]localValue{}, subs: map[string][]chan struct{}{}, nowFunc: time.Now}
}

func (l *Local) get(key string) (string, bool) {
	v, ok := l.values[key]
	if !ok {
		return "", false
	}
	if !v.expires.IsZero() && !l.nowFunc().Before(v.expires) {
		delete(l.values, key)
		return "", false
	}
	return v.v, true
}

func (l *Local) expiry(ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return l.nowFunc().Add(ttl)
}

// Get returns the value of key and whether it is set.
func (l *Local) Get(_ context.Context, key string) (string, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.get(key)
	return v, ok, nil
}

// Set stores key for ttl (0: no expiry).
func (l *Local) Set(_ context.Context, key, value string, ttl time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.values[key] = localValue{v: value, expires: l.expiry(ttl)}
	// Sweep occasionally so a long-running demo does not grow without bound.
	if len(l.values)%4096 == 0 {
		for k := range l.values {
			l.get(k)
		}
	}
	return nil
}

// SetIfAbsent stores key for ttl unless it is set. It reports whether it
// stored the value and, when not, the value already there.
func (l *Local) SetIfAbsent(_ context.Context, key, value string, ttl time.Duration) (bool, string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cur, ok := l.get(key); ok {
		return false, cur, nil
	}
	l.values[key] = localValue{v: value, expires: l.expiry(ttl)}
	return true, "", nil
}

// Delete removes key.
func (l *Local) Delete(_ context.Context, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.values, key)
	return nil
}

// Acquire takes the named lease for owner until ttl passes; renewing a lease
// one already holds succeeds.
func (l *Local) Acquire(_ context.Context, name, owner string, ttl time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := "lease:" + name
	if cur, ok := l.get(key); ok && cur != owner {
		return false, nil
	}
	l.values[key] = localValue{v: owner, expires: l.expiry(ttl)}
	return true, nil
}

// Release gives the lease up if owner holds it.
func (l *Local) Release(_ context.Context, name, owner string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := "lease:" + name
	if cur, ok := l.get(key); ok && cur == owner {
		delete(l.values, key)
	}
	return nil
}

// Notify wakes every subscriber of topic. Wake-ups coalesce: a subscriber that
// has not consumed the last one gets no second.
func (l *Local) Notify(_ context.Context, topic string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ch := range l.subs[topic] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return nil
}

// Subscribe returns a channel that receives a value after each Notify of
// topic, until ctx ends.
func (l *Local) Subscribe(ctx context.Context, topic string) <-chan struct{} {
	ch := make(chan struct{}, 1)
	l.mu.Lock()
	l.subs[topic] = append(l.subs[topic], ch)
	l.mu.Unlock()
	go func() {
		<-ctx.Done()
		l.mu.Lock()
		defer l.mu.Unlock()
		subs := l.subs[topic]
		for i, c := range subs {
			if c == ch {
				l.subs[topic] = append(subs[:i], subs[i+1:]...)
				break
			}
		}
	}()
	return ch
}

// Ping always succeeds in process.
func (l *Local) Ping(context.Context) error { return nil }

// Close releases nothing.
func (l *Local) Close() error { return nil }
