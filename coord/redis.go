package coord

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis coordinates several instances through one Redis server.
type Redis struct {
	rdb    *redis.Client
	prefix string
}

// OpenRedis connects to the Redis at url (redis://host:port/db). Every key is
// put under prefix so several deployments, or tests, can share one server.
func OpenRedis(ctx context.Context, url, prefix string) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("coord: parse redis url: %w", err)
	}
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("coord: ping redis: %w", err)
	}
	return &Redis{rdb: rdb, prefix: prefix}, nil
}

func (r *Redis) key(k string) string { return r.prefix + k }

// Get returns the value of key and whether it is set.
func (r *Redis) Get(ctx context.Context, key string) (string, bool, error) {
	v, err := r.rdb.Get(ctx, r.key(key)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("coord: get: %w", err)
	}
	return v, true, nil
}

// Set stores key for ttl (0: no expiry).
func (r *Redis) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	if err := r.rdb.Set(ctx, r.key(key), value, ttl).Err(); err != nil {
		return fmt.Errorf("coord: set: %w", err)
	}
	return nil
}

// setIfAbsentScript sets the key unless it exists and answers the value that
// was there, in one step, so two instances never both see the key as free.
var setIfAbsentScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  return {0, cur}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, ''}`)

// SetIfAbsent stores key for ttl unless it is set. It reports whether it
// stored the value and, when not, the value already there. ttl must be
// positive.
func (r *Redis) SetIfAbsent(ctx context.Context, key, value string, ttl time.Duration) (bool, string, error) {
	res, err := setIfAbsentScript.Run(ctx, r.rdb, []string{r.key(key)}, value, max(ttl.Milliseconds(), 1)).Slice()
	if err != nil {
		return false, "", fmt.Errorf("coord: set if absent: %w", err)
	}
	if len(res) != 2 {
		return false, "", fmt.Errorf("coord: set if absent: unexpected reply %v", res)
	}
	stored, _ := res[0].(int64)
	cur, _ := res[1].(string)
	return stored == 1, cur, nil
}

// Delete removes key.
func (r *Redis) Delete(ctx context.Context, key string) error {
	if err := r.rdb.Del(ctx, r.key(key)).Err(); err != nil {
		return fmt.Errorf("coord: delete: %w", err)
	}
	return nil
}

// MarkAll sets every key to "1" for ttl in one round trip (the dedup fast path
// marks a whole committed batch at once).
func (r *Redis) MarkAll(ctx context.Context, keys []string, ttl time.Duration) error {
	pipe := r.rdb.Pipeline()
	for _, k := range keys {
		pipe.Set(ctx, r.key(k), "1", ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("coord: mark: %w", err)
	}
	return nil
}

// MarkAll on Local sets every key for ttl.
func (l *Local) MarkAll(ctx context.Context, keys []string, ttl time.Duration) error {
	for _, k := range keys {
		_ = l.Set(ctx, k, "1", ttl)
	}
	return nil
}

// acquireScript takes the lease if it is free or already ours (then renews it).
var acquireScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`)

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// Acquire takes the named lease for owner for ttl; renewing one's own lease
// succeeds.
func (r *Redis) Acquire(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	n, err := acquireScript.Run(ctx, r.rdb, []string{r.key("lease:" + name)}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("coord: acquire %s: %w", name, err)
	}
	return n == 1, nil
}

// Release gives the lease up if owner holds it.
func (r *Redis) Release(ctx context.Context, name, owner string) error {
	if err := releaseScript.Run(ctx, r.rdb, []string{r.key("lease:" + name)}, owner).Err(); err != nil {
		return fmt.Errorf("coord: release %s: %w", name, err)
	}
	return nil
}

// Notify publishes a wake-up on topic to every instance.
func (r *Redis) Notify(ctx context.Context, topic string) error {
	if err := r.rdb.Publish(ctx, r.key("wake:"+topic), "1").Err(); err != nil {
		return fmt.Errorf("coord: notify: %w", err)
	}
	return nil
}

// Subscribe returns a channel that receives a value after each Notify of
// topic on any instance, until ctx ends. Wake-ups coalesce.
func (r *Redis) Subscribe(ctx context.Context, topic string) <-chan struct{} {
	out := make(chan struct{}, 1)
	sub := r.rdb.Subscribe(ctx, r.key("wake:"+topic))
	go func() {
		defer sub.Close()
		msgs := sub.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-msgs:
				if !ok {
					return
				}
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}

// Ping checks that Redis answers.
func (r *Redis) Ping(ctx context.Context) error { return r.rdb.Ping(ctx).Err() }

// Close closes the connection pool.
func (r *Redis) Close() error { return r.rdb.Close() }
