package coord

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// coordinator is the method set both implementations share.
type coordinator interface {
	Get(ctx context.Context, key string) (string, bool, error)
	Set(ctx context.Context, key, value string, ttl time.Duration) error
	SetIfAbsent(ctx context.Context, key, value string, ttl time.Duration) (bool, string, error)
	Delete(ctx context.Context, key string) error
	MarkAll(ctx context.Context, keys []string, ttl time.Duration) error
	Acquire(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	Release(ctx context.Context, name, owner string) error
	Notify(ctx context.Context, topic string) error
	Subscribe(ctx context.Context, topic string) <-chan struct{}
	Count(ctx context.Context, key string, window time.Duration) (int64, error)
}

// TestRedisURL is where tests find the real Redis the README's test command starts.
func testRedisURL() string {
	if u := os.Getenv("SCRM_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

func backends(t *testing.T) map[string]coordinator {
	r, err := OpenRedis(context.Background(), testRedisURL(), fmt.Sprintf("scrmtest:%d:", time.Now().UnixNano()))
	if err != nil {
		t.Fatalf("the tests need Redis at %s (the README's test command starts it): %v", testRedisURL(), err)
	}
	t.Cleanup(func() { r.Close() })
	return map[string]coordinator{"local": NewLocal(), "redis": r}
}

func TestContract(t *testing.T) {
	for name, c := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			t.Run("get set delete", func(t *testing.T) {
				if _, ok, _ := c.Get(ctx, "k"); ok {
					t.Fatal("unset key reported set")
				}
				c.Set(ctx, "k", "v", time.Minute)
				if v, ok, _ := c.Get(ctx, "k"); !ok || v != "v" {
					t.Fatalf("got %q %v", v, ok)
				}
				c.Delete(ctx, "k")
				if _, ok, _ := c.Get(ctx, "k"); ok {
					t.Fatal("deleted key still set")
				}
			})
			t.Run("ttl expires", func(t *testing.T) {
				c.Set(ctx, "short", "v", 50*time.Millisecond)
				time.Sleep(120 * time.Millisecond)
				if _, ok, _ := c.Get(ctx, "short"); ok {
					t.Fatal("expired key still set")
				}
			})
			t.Run("set if absent", func(t *testing.T) {
				if ok, _, err := c.SetIfAbsent(ctx, "once", "first", 100*time.Millisecond); err != nil || !ok {
					t.Fatalf("free key: stored %v, err %v", ok, err)
				}
				ok, cur, err := c.SetIfAbsent(ctx, "once", "second", time.Minute)
				if err != nil || ok || cur != "first" {
					t.Fatalf("set key: stored %v, current %q, err %v; want not stored, \"first\"", ok, cur, err)
				}
				time.Sleep(150 * time.Millisecond)
				if ok, _, _ := c.SetIfAbsent(ctx, "once", "third", time.Minute); !ok {
					t.Fatal("expired key not free")
				}
			})
			t.Run("set if absent is exclusive", func(t *testing.T) {
				var wins int
				var mu sync.Mutex
				var wg sync.WaitGroup
				for i := range 10 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ok, _, err := c.SetIfAbsent(ctx, "race", fmt.Sprint("v", i), time.Minute)
						if err != nil {
							t.Error(err)
						}
						if ok {
							mu.Lock()
							wins++
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				if wins != 1 {
					t.Fatalf("%d callers stored the key", wins)
				}
			})
			t.Run("count in a window", func(t *testing.T) {
				for want := int64(1); want <= 3; want++ {
					if n, err := c.Count(ctx, "tries", 100*time.Millisecond); err != nil || n != want {
						t.Fatalf("count %d: got %d, err %v", want, n, err)
					}
				}
				if n, _ := c.Count(ctx, "other", time.Minute); n != 1 {
					t.Fatalf("another key counted %d, want 1", n)
				}
				time.Sleep(150 * time.Millisecond)
				if n, err := c.Count(ctx, "tries", 100*time.Millisecond); err != nil || n != 1 {
					t.Fatalf("after the window: got %d, err %v; want a fresh count of 1", n, err)
				}
			})
			t.Run("mark all", func(t *testing.T) {
				c.MarkAll(ctx, []string{"a", "b"}, time.Minute)
				for _, k := range []string{"a", "b"} {
					if _, ok, _ := c.Get(ctx, k); !ok {
						t.Fatalf("%s not marked", k)
					}
				}
			})
			t.Run("lease is exclusive", func(t *testing.T) {
				var wins int
				var mu sync.Mutex
				var wg sync.WaitGroup
				for i := range 10 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ok, err := c.Acquire(ctx, "job", fmt.Sprint("owner", i), time.Minute)
						if err != nil {
							t.Error(err)
						}
						if ok {
							mu.Lock()
							wins++
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				if wins != 1 {
					t.Fatalf("%d owners got the lease", wins)
				}
			})
			t.Run("lease renew release expire", func(t *testing.T) {
				if ok, _ := c.Acquire(ctx, "l2", "a", time.Minute); !ok {
					t.Fatal("free lease refused")
				}
				if ok, _ := c.Acquire(ctx, "l2", "a", time.Minute); !ok {
					t.Fatal("owner could not renew")
				}
				c.Release(ctx, "l2", "b") // not b's to release
				if ok, _ := c.Acquire(ctx, "l2", "b", time.Minute); ok {
					t.Fatal("release by a non-owner freed the lease")
				}
				c.Release(ctx, "l2", "a")
				if ok, _ := c.Acquire(ctx, "l2", "b", 50*time.Millisecond); !ok {
					t.Fatal("released lease not free")
				}
				time.Sleep(120 * time.Millisecond)
				if ok, _ := c.Acquire(ctx, "l2", "c", time.Minute); !ok {
					t.Fatal("expired lease not free")
				}
			})
			t.Run("notify wakes subscribers", func(t *testing.T) {
				sctx, cancel := context.WithCancel(ctx)
				defer cancel()
				ch := c.Subscribe(sctx, "events")
				time.Sleep(50 * time.Millisecond) // Redis subscriptions are asynchronous
				c.Notify(ctx, "events")
				select {
				case <-ch:
				case <-time.After(2 * time.Second):
					t.Fatal("no wake-up")
				}
			})
		})
	}
}
