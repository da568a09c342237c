package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"

	"github.com/scrmhq/scrm/store"
)

// syncConnector opens the writer connection wrapped in a syncConn, which
// runs each transaction at the synchronous level its context asks for: the
// configured level (FULL by default) unless store.WithDeferredSync marks it,
// then NORMAL. In WAL mode a NORMAL commit is written to the WAL but not
// synced; the next FULL commit syncs the WAL and with it every earlier
// commit, and SQLite syncs the WAL before each checkpoint. A power loss thus
// drops at most a suffix of deferred commits, never one that an
// acknowledged (FULL) write followed — the ordering store.WithDeferredSync
// promises. A kill -9 loses nothing: written frames are in the OS already.
type syncConnector struct {
	drv     driver.Driver
	dsn     string
	durable string // the configured level: FULL, EXTRA or NORMAL; "" for readers
}

func (c *syncConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &syncConn{inner: conn, durable: c.durable, cur: c.durable, stmts: map[string]*cachedStmt{}}, nil
}

func (c *syncConnector) Driver() driver.Driver { return c.drv }

// syncConn switches PRAGMA synchronous between transactions, never inside
// one. database/sql hands the single writer connection to one user at a
// time, so the level set before a statement is the level it commits with.
type syncConn struct {
	inner   driver.Conn
	durable string
	cur     string
	inTx    bool
	// stmts keeps the writer's prepared statements: the pipeline runs the
	// same few statements thousands of times, and parsing them anew each
	// time was a third of the writer's CPU.
	stmts map[string]*cachedStmt
}

type cachedStmt struct {
	st   driver.Stmt
	busy bool // rows of a query are open on it
}

// maxStmts bounds the cache: queries built with variable IN lists make
// new strings, and those are prepared once and dropped.
const maxStmts = 256

// prepared returns the cached statement of query, preparing it on first
// use; nil when it is busy or the cache is full (the caller then runs the
// query uncached).
func (c *syncConn) prepared(ctx context.Context, query string) (*cachedStmt, error) {
	if cs, ok := c.stmts[query]; ok {
		if cs.busy {
			return nil, nil
		}
		return cs, nil
	}
	if len(c.stmts) >= maxStmts {
		return nil, nil
	}
	st, err := c.inner.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	cs := &cachedStmt{st: st}
	c.stmts[query] = cs
	return cs, nil
}

var (
	_ driver.ConnBeginTx        = (*syncConn)(nil)
	_ driver.ExecerContext      = (*syncConn)(nil)
	_ driver.QueryerContext     = (*syncConn)(nil)
	_ driver.ConnPrepareContext = (*syncConn)(nil)
	_ driver.Pinger             = (*syncConn)(nil)
	_ driver.SessionResetter    = (*syncConn)(nil)
	_ driver.Validator          = (*syncConn)(nil)
)

// level sets the synchronous level ctx asks for, outside transactions.
func (c *syncConn) level(ctx context.Context) error {
	if c.inTx || c.durable == "" {
		return nil
	}
	want := c.durable
	if store.DeferredSync(ctx) {
		want = "NORMAL"
	}
	if want == c.cur {
		return nil
	}
	if _, err := c.inner.(driver.ExecerContext).ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = "+want, nil); err != nil {
		return fmt.Errorf("set synchronous %s: %w", want, err)
	}
	c.cur = want
	return nil
}

func (c *syncConn) Prepare(query string) (driver.Stmt, error) { return c.inner.Prepare(query) }

func (c *syncConn) Close() error {
	for _, cs := range c.stmts {
		cs.st.Close()
	}
	clear(c.stmts)
	return c.inner.Close()
}

func (c *syncConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *syncConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if err := c.level(ctx); err != nil {
		return nil, err
	}
	tx, err := c.inner.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	c.inTx = true
	return &syncTx{inner: tx, c: c}, nil
}

func (c *syncConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if err := c.level(ctx); err != nil {
		return nil, err
	}
	return c.inner.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

func (c *syncConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if err := c.level(ctx); err != nil {
		return nil, err
	}
	cs, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.inner.(driver.ExecerContext).ExecContext(ctx, query, args)
	}
	return cs.st.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *syncConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if err := c.level(ctx); err != nil {
		return nil, err
	}
	cs, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.inner.(driver.QueryerContext).QueryContext(ctx, query, args)
	}
	rows, err := cs.st.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	cs.busy = true
	return &cachedRows{Rows: rows, cs: cs}, nil
}

// cachedRows frees its statement for the next use when closed.
type cachedRows struct {
	driver.Rows
	cs *cachedStmt
}

func (r *cachedRows) Close() error {
	r.cs.busy = false
	return r.Rows.Close()
}

func (c *syncConn) Ping(ctx context.Context) error { return c.inner.(driver.Pinger).Ping(ctx) }

func (c *syncConn) ResetSession(ctx context.Context) error {
	return c.inner.(driver.SessionResetter).ResetSession(ctx)
}

func (c *syncConn) IsValid() bool { return c.inner.(driver.Validator).IsValid() }

type syncTx struct {
	inner driver.Tx
	c     *syncConn
}

func (t *syncTx) Commit() error {
	t.c.inTx = false
	return t.inner.Commit()
}

func (t *syncTx) Rollback() error {
	t.c.inTx = false
	return t.inner.Rollback()
}
