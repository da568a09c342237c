package coord

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Count adds one to key's counter and returns the new count. The counter
// starts when key is first counted and lives for window, then starts again
// from zero: a fixed window, enough to slow down guessing (sign-in attempts)
// without the bookkeeping of a sliding one.
func (l *Local) Count(_ context.Context, key string, window time.Duration) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.values[key]
	if !ok || (!v.expires.IsZero() && !l.nowFunc().Before(v.expires)) {
		l.values[key] = localValue{v: "1", expires: l.expiry(window)}
		return 1, nil
	}
	n, _ := strconv.ParseInt(v.v, 10, 64)
	n++
	v.v = strconv.FormatInt(n, 10)
	l.values[key] = v
	return n, nil
}

// countScript increments a counter and starts its window on the first count,
// in one step, so a crash between INCR and PEXPIRE cannot leave a counter
// that never expires.
var countScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)

// Count adds one to key's counter, shared by every instance, and returns the
// new count; the counter lives for window from its first count.
func (r *Redis) Count(ctx context.Context, key string, window time.Duration) (int64, error) {
	n, err := countScript.Run(ctx, r.rdb, []string{r.key(key)}, max(window.Milliseconds(), 1)).Int64()
	if err != nil {
		return 0, fmt.Errorf("coord: count: %w", err)
	}
	return n, nil
}
