package coord

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestSendSlotsAreSharedByInstances books sends for one member from two
// instances (two connections): together they get WeCom's 30 a minute, not
// 30 each.
func TestSendSlotsAreSharedByInstances(t *testing.T) {
	ctx := context.Background()
	prefix := fmt.Sprintf("scrmtest:slots:%d:", time.Now().UnixNano())
	var inst []*Redis
	for range 2 {
		r, err := OpenRedis(ctx, testRedisURL(), prefix)
		if err != nil {
			t.Fatalf("the tests need Redis at %s: %v", testRedisURL(), err)
		}
		t.Cleanup(func() { r.Close() })
		inst = append(inst, r)
	}
	now := time.UnixMilli(time.Now().UnixMilli())
	const slack = time.Second
	book := func(r *Redis, keys ...string) (time.Time, string) {
		t.Helper()
		at, id, err := r.ReserveSend(ctx, keys, now, 30, 1000, slack)
		if err != nil {
			t.Fatal(err)
		}
		return at, id
	}
	for i := range 30 {
		if at, _ := book(inst[i%2], "app:lisi"); !at.Equal(now) {
			t.Fatalf("send %d booked at %v, want now", i+1, at.Sub(now))
		}
	}
	at, id := book(inst[0], "app:lisi")
	if want := now.Add(time.Minute + slack); !at.Equal(want) {
		t.Fatalf("31st send booked %v after now, want %v", at.Sub(now), want.Sub(now))
	}
	// Another member is not held up; a send to both waits for the later one.
	if at, _ := book(inst[1], "app:wangwu"); !at.Equal(now) {
		t.Fatalf("wangwu's first send booked %v after now", at.Sub(now))
	}
	if both, _ := book(inst[1], "app:wangwu", "app:lisi"); !both.Equal(at) {
		t.Fatalf("a send to both booked %v after now, want %v (behind lisi's last)", both.Sub(now), at.Sub(now))
	}
	// With the 31st given back, the send to both holds lisi's 31st place:
	// the next send queues right behind it.
	if err := inst[0].CancelSend(ctx, []string{"app:lisi"}, id); err != nil {
		t.Fatal(err)
	}
	if again, _ := book(inst[0], "app:lisi"); !again.Equal(at) {
		t.Fatalf("after a cancel the next send booked %v after now, want %v", again.Sub(now), at.Sub(now))
	}
	// Bookings older than the hour window are forgotten.
	later := now.Add(time.Hour + time.Minute + 3*slack)
	if at, _, err := inst[1].ReserveSend(ctx, []string{"app:lisi"}, later, 30, 1000, slack); err != nil || !at.Equal(later) {
		t.Fatalf("an hour later a send booked %v after then (err %v), want at once", at.Sub(later), err)
	}
}

// TestSendSlotsHourWindow checks the hourly limit and that the keys expire.
func TestSendSlotsHourWindow(t *testing.T) {
	ctx := context.Background()
	r, err := OpenRedis(ctx, testRedisURL(), fmt.Sprintf("scrmtest:slots:%d:", time.Now().UnixNano()))
	if err != nil {
		t.Fatalf("the tests need Redis at %s: %v", testRedisURL(), err)
	}
	defer r.Close()
	now := time.UnixMilli(time.Now().UnixMilli())
	for i := range 3 {
		// 100 a minute, 3 an hour: the hour decides.
		at, _, err := r.ReserveSend(ctx, []string{"app:zhao"}, now.Add(time.Duration(i)*time.Second), 100, 3, 0)
		if err != nil || !at.Equal(now.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("send %d: %v %v", i+1, at.Sub(now), err)
		}
	}
	at, _, err := r.ReserveSend(ctx, []string{"app:zhao"}, now.Add(5*time.Second), 100, 3, 0)
	if err != nil || !at.Equal(now.Add(time.Hour)) {
		t.Fatalf("4th send booked %v after the first, want 1h (err %v)", at.Sub(now), err)
	}
	ttl, err := r.rdb.PTTL(ctx, r.sendKeys([]string{"app:zhao"})[0]).Result()
	if err != nil || ttl <= time.Hour || ttl > 2*time.Hour {
		t.Fatalf("key expires in %v (err %v), want just over an hour after the last booking", ttl, err)
	}
}
