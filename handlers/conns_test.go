package handlers_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/scrmhq/scrm/coord"
	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/store/sqlite"
)

// TestShutdownClosesSilentConnections: a client connection that never sent
// a byte (an HTTP client's spare, a browser's preconnect) does not hold up a
// graceful shutdown, while a request already sent is still answered.
func TestShutdownClosesSilentConnections(t *testing.T) {
	st, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := handlers.New(st, coord.NewLocal(), handlers.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	addr := ln.Addr().String()

	// One keep-alive connection that served a request and sits idle.
	c := &http.Client{Transport: &http.Transport{}}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// Two connections that never send anything.
	var silent []net.Conn
	for range 2 {
		s, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, s)
		t.Cleanup(func() { s.Close() })
	}
	// A request whose headers are half sent is in flight: shutdown must
	// not cut it, so it stays open until the test finishes it.
	half, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { half.Close() })
	if _, err := half.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the server accept all of them

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	time.Sleep(300 * time.Millisecond)
	if _, err := half.Write([]byte("\r\n")); err != nil {
		t.Fatalf("the half-sent request's connection was cut: %v", err)
	}
	half.SetReadDeadline(time.Now().Add(2 * time.Second))
	got, _ := io.ReadAll(half)
	if len(got) < 12 || string(got[:12]) != "HTTP/1.1 200" {
		t.Errorf("the request in flight got %q, want a 200", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown with connections that sent nothing: %v", err)
	}
	for i, s := range silent {
		s.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := s.Read(make([]byte, 1)); n != 0 || err == nil || isTimeout(err) {
			t.Errorf("silent connection %d still open after shutdown (read %d, %v)", i, n, err)
		}
	}
	<-served
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
