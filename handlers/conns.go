package handlers

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// silentConns is the server's listener. It tracks the connections that have
// not sent a byte yet, so that a shutdown can close them at once. fasthttp
// counts such a connection as active while it waits for its first request,
// and a graceful shutdown waits for it until ReadTimeout (10 s here; later
// fasthttp versions 5 s after accept), longer than the shutdown's budget for
// HTTP. Clients open such connections all the time — Go's Transport keeps a
// connection it dialled for a request that an idle one served meanwhile,
// browsers preconnect — and nothing is in flight on them, so closing them
// loses nothing. A connection that has sent a byte is left to the graceful
// shutdown, which waits for its request.
type silentConns struct {
	net.Listener
	mu      sync.Mutex
	closing bool
	silent  map[*trackedConn]struct{}
	once    sync.Once
	err     error
}

func trackSilentConns(ln net.Listener) *silentConns {
	return &silentConns{Listener: ln, silent: map[*trackedConn]struct{}{}}
}

func (l *silentConns) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, owner: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		// Accepted as the listener closed: it sent nothing yet either.
		tc.stopped.Store(true)
		c.Close()
		return tc, nil
	}
	l.silent[tc] = struct{}{}
	return tc, nil
}

// Close closes the listener once; fasthttp's shutdown closes it again.
func (l *silentConns) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

// stop closes the listener and every connection that has not sent a byte.
func (l *silentConns) stop() error {
	err := l.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closing = true
	for c := range l.silent {
		c.stopped.Store(true)
		c.Conn.Close()
		delete(l.silent, c)
	}
	return err
}

// spoke forgets c: it has sent a byte, or is closed.
func (l *silentConns) spoke(c *trackedConn) {
	l.mu.Lock()
	delete(l.silent, c)
	l.mu.Unlock()
}

type trackedConn struct {
	net.Conn
	owner *silentConns
	once  sync.Once
	// stopped: closed by stop. Its read then ends as if the client had
	// hung up (io.EOF), which fasthttp passes over quietly, instead of
	// with an error it would report as a failed request.
	stopped atomic.Bool
}

func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n == 0 && err != nil && c.stopped.Load() {
		return 0, io.EOF
	}
	if n > 0 {
		c.once.Do(func() { c.owner.spoke(c) })
	}
	return n, err
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.owner.spoke(c) })
	return c.Conn.Close()
}
