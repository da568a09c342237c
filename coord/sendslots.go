package coord

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// reserveSendScript books one send for every key (a sorted set of send
// times in ms per member) at the earliest time that is not before now or any
// earlier booking and keeps each key within ARGV[2] sends a minute and
// ARGV[3] an hour, each window widened by ARGV[4] ms. It is the in-process
// limiter of wecom (client_limit.go) moved into Redis, so that every instance
// books from one ledger.
var reserveSendScript = redis.NewScript(`
local now, perMin, perHour, slack, id = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local minute, hour = 60000, 3600000
local at = now
local function score(k, i)
  return tonumber(redis.call('ZRANGE', k, i, i, 'WITHSCORES')[2])
end
for _, k in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', k, '-inf', now - hour - slack)
  local n = redis.call('ZCARD', k)
  if n > 0 then
    at = math.max(at, score(k, n - 1))
    if perMin > 0 and n >= perMin then
      at = math.max(at, score(k, n - perMin) + minute + slack)
    end
    if perHour > 0 and n >= perHour then
      at = math.max(at, score(k, n - perHour) + hour + slack)
    end
  end
end
for _, k in ipairs(KEYS) do
  redis.call('ZADD', k, at, id)
  redis.call('PEXPIRE', k, at - now + hour + slack)
end
return at`)

func (r *Redis) sendKeys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = r.key("slots:" + k)
	}
	return out
}

// ReserveSend implements wecom.SendSlots: it books one send for every key in
// one atomic step shared by every instance, and returns its time and id.
func (r *Redis) ReserveSend(ctx context.Context, keys []string, now time.Time, perMin, perHour int, slack time.Duration) (time.Time, string, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	at, err := reserveSendScript.Run(ctx, r.rdb, r.sendKeys(keys), now.UnixMilli(), perMin, perHour, slack.Milliseconds(), id).Int64()
	if err != nil {
		return time.Time{}, "", fmt.Errorf("coord: reserve send: %w", err)
	}
	return time.UnixMilli(at), id, nil
}

// CancelSend implements wecom.SendSlots: it gives a booking back.
func (r *Redis) CancelSend(ctx context.Context, keys []string, id string) error {
	pipe := r.rdb.Pipeline()
	for _, k := range r.sendKeys(keys) {
		pipe.ZRem(ctx, k, id)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("coord: cancel send: %w", err)
	}
	return nil
}
