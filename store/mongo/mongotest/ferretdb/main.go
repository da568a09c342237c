// Command ferretdb runs FerretDB v1 (SQLite handler, in -dir) on a free local
// port and prints its MongoDB URI as the first line of stdout. It stops when
// its stdin closes, so it never outlives the test that started it. Tests start
// it through mongotest.StartProcess; by hand, `go run
// ./store/mongo/mongotest/ferretdb -dir /tmp/fdb` gives a MongoDB-wire store
// to point SCRM_MONGO_URI at.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	dir := flag.String("dir", "", "directory of FerretDB's SQLite files (required)")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "ferretdb: -dir is required")
		os.Exit(2)
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:  "sqlite",
		// A test store needs no durability: only its clients get killed.
		SQLiteURL: "file:" + *dir + "/?_pragma=synchronous(OFF)",
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f.Run(ctx); close(done) }()
	fmt.Println(f.MongoDBURI()) // blocks until the listener is up
	_, _ = io.Copy(io.Discard, os.Stdin)
	cancel()
	<-done
}
