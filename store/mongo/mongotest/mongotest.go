// Package mongotest gives tests a MongoDB to talk to: a real one when
// SCRM_TEST_MONGO_URI is set, otherwise FerretDB v1 embedded in the test
// binary (SQLite handler, temporary directory), which speaks the MongoDB wire
// protocol. One server serves the whole test binary; each test gets its own
// database from DBName.
package mongotest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// EnvURI names the variable that points the tests at a real MongoDB.
const EnvURI = "SCRM_TEST_MONGO_URI"

var (
	once     sync.Once
	uri      string
	startErr error
	seq      atomic.Int64
)

// Start returns the URI of the test server, starting embedded FerretDB on
// first use. It fails the test if the server cannot start.
func Start(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURI); u != "" {
		return u
	}
	once.Do(func() { uri, startErr = startFerretDB() })
	if startErr != nil {
		t.Fatalf("mongotest: %v", startErr)
	}
	return uri
}

// startFerretDB runs FerretDB until the test binary exits. Its directory is
// left in os.TempDir (empty once every test dropped its database) because no
// hook runs at binary exit.
func startFerretDB() (string, error) {
	dir, err := os.MkdirTemp("", "scrm-ferretdb-")
	if err != nil {
		return "", fmt.Errorf("create FerretDB dir: %w", err)
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/?_pragma=synchronous(OFF)", // a test server needs no durability
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		return "", fmt.Errorf("create FerretDB: %w", err)
	}
	go func() { _ = f.Run(context.Background()) }()
	// MongoDBURI blocks until the listener is up.
	return f.MongoDBURI(), nil
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9_]+`)

// DBName returns a database name no other test uses (FerretDB allows
// [a-zA-Z0-9_-]{1,63}) and drops that database when the test ends.
func DBName(t testing.TB) string {
	t.Helper()
	u := Start(t)
	name := unsafeChars.ReplaceAllString(t.Name(), "_")
	prefix := fmt.Sprintf("t%d_%d_", os.Getpid()%100000, seq.Add(1))
	if len(prefix)+len(name) > 63 {
		name = name[len(name)-(63-len(prefix)):]
	}
	name = prefix + name
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := mongo.Connect(options.Client().ApplyURI(u))
		if err != nil {
			t.Errorf("mongotest: connect to drop %s: %v", name, err)
			return
		}
		defer c.Disconnect(ctx)
		if err := c.Database(name).Drop(ctx); err != nil {
			t.Errorf("mongotest: drop %s: %v", name, err)
		}
	})
	return name
}
