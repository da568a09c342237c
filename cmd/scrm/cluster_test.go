package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/mongo"
	"github.com/scrmhq/scrm/store/mongo/mongotest"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestTwoInstancesOnMongoAndRedis runs two scrm instances on one MongoDB-wire
// store (FerretDB) and one Redis, delivers every callback to both — a retry
// landing on the other instance — and checks each is stored once and applied
// once.
func TestTwoInstancesOnMongoAndRedis(t *testing.T) {
	uri, dbName := mongotest.Start(t), mongotest.DBName(t)
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.MongoURI, cfg.MongoDB = uri, dbName
	cfg.RedisURL = "redis://127.0.0.1:6379/0"
	cfg.RedisPrefix = fmt.Sprintf("scrmtest:%d:", time.Now().UnixNano())
	cfg.OAAppID, cfg.OAToken, cfg.OAAESKey = testOAAppID, testOAToken, testOAKey
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	var apps []*app
	var drivers []*wecomtest.Driver
	for range 2 {
		a, err := startApp(ctx, cfg, log, extensions{})
		if err != nil {
			t.Fatal(err)
		}
		apps = append(apps, a)
		d, err := wecomtest.NewDriver(wecomtest.DriverConfig{OAURL: "http://" + a.addr.String() + "/oa/callback",
			OAAppID: testOAAppID, OAToken: testOAToken, OAAESKey: testOAKey, OASafeMode: true})
		if err != nil {
			t.Fatal(err)
		}
		drivers = append(drivers, d)
	}
	const customers, perCustomer = 20, 10
	now := time.Now()
	for i := range customers * perCustomer {
		m := wecomtest.OAText(fmt.Sprintf("o-cluster-%02d", i%customers), fmt.Sprintf("消息%d", i), int64(50_000+i), now.Add(time.Duration(i)*time.Second))
		for _, d := range drivers {
			if del, err := d.SendOA(ctx, m); err != nil || del.Status != 200 {
				t.Fatalf("deliver: %v %+v", err, del)
			}
		}
	}
	st, err := mongo.Open(ctx, uri, dbName)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := st.OldestUnprocessed(ctx)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events not processed in time: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, a := range apps {
		if err := a.stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	}
	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Events != customers*perCustomer || stats.Customers != customers || stats.Messages != customers*perCustomer {
		t.Fatalf("stats %+v, want %d events and messages, %d customers", stats, customers*perCustomer, customers)
	}
	for i := range customers {
		c, err := st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityOpenID, Value: fmt.Sprintf("o-cluster-%02d", i)})
		if err != nil {
			t.Fatal(err)
		}
		tl, err := st.FindTimeline(ctx, c.ID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(tl) != perCustomer {
			t.Fatalf("customer %d has %d timeline entries, want %d", i, len(tl), perCustomer)
		}
	}
}
