package mongo_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/mongo"
	"github.com/scrmhq/scrm/store/mongo/mongotest"
	"github.com/scrmhq/scrm/store/storetest"
)

func openTest(t *testing.T) *mongo.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := mongo.Open(ctx, mongotest.Start(t), mongotest.DBName(t))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return db
}

func TestContract(t *testing.T) {
	cfg := storetest.Config{}
	if os.Getenv(mongotest.EnvURI) == "" {
		cfg.DueReminders = 100 // see storetest.Config
		cfg.LargeBatch = 200
	}
	storetest.RunWith(t, func(t *testing.T) store.Store { return openTest(t) }, cfg)
}

// TestMarkersMoveOutOfCursors: a database from before the markers
// collection keeps its markers, moved out of the cursors at Open.
func TestMarkersMoveOutOfCursors(t *testing.T) {
	uri, name := mongotest.Start(t), mongotest.DBName(t)
	open := func() store.Store {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := mongo.Open(ctx, uri, name)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return db
	}
	storetest.MarkersMovedOnOpen(t, open(), open)
}
