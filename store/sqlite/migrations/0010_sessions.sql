-- Sign-in (store.SessionStore): the console's server-side sessions and
-- one-time login links, both keyed by the SHA-256 of their secret.

CREATE TABLE sessions (
    id           TEXT    PRIMARY KEY,
    staff_id     TEXT    NOT NULL,
    csrf         TEXT    NOT NULL,
    method       TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);

CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);

-- A redeemed link is deleted in the same statement that reads it, so two
-- redemptions can never both see it.
CREATE TABLE login_links (
    id         TEXT    PRIMARY KEY,
    staff_id   TEXT    NOT NULL,
    next       TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE INDEX login_links_expires ON login_links (expires_at);
