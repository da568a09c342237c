-- The quick-reply library (话术库, store.QuickReplyStore).

CREATE TABLE quick_replies (
    id         TEXT    PRIMARY KEY,
    grp        TEXT    NOT NULL DEFAULT '',
    title      TEXT    NOT NULL DEFAULT '',
    text       TEXT    NOT NULL,
    uses       INTEGER NOT NULL DEFAULT 0,
    created_by TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
