-- Times are INTEGER unix nanoseconds in UTC; NULL means "not set".

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO counters (name, n) VALUES ('events', 0), ('messages', 0), ('customers', 0);

CREATE TABLE cursors (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key       TEXT    NOT NULL UNIQUE,
    channel         TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    from_id         TEXT    NOT NULL,
    staff_id        TEXT    NOT NULL,
    customer_id     TEXT    NOT NULL,
    text            TEXT    NOT NULL,
    msg_id          TEXT    NOT NULL,
    attrs           TEXT,
    raw             BLOB,
    occurred_at     INTEGER NOT NULL,
    received_at     INTEGER NOT NULL,
    processed_at    INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    lease_owner     TEXT,
    lease_until     INTEGER,
    next_attempt_at INTEGER NOT NULL DEFAULT 0
);

-- Only unprocessed events are indexed, so claiming stays cheap however many
-- processed events the log holds. The extra columns let the claim query skip
-- leased and not-yet-due events without reading their rows (processed_at is
-- always NULL here; it is listed so the index covers the query).
CREATE INDEX events_pending ON events (id, lease_until, next_attempt_at, processed_at) WHERE processed_at IS NULL;

CREATE TABLE customers (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    name                 TEXT    NOT NULL DEFAULT '',
    avatar               TEXT    NOT NULL DEFAULT '',
    stage                TEXT    NOT NULL,
    tier                 TEXT    NOT NULL DEFAULT '',
    fields               TEXT,
    last_customer_msg_at INTEGER,
    last_staff_touch_at  INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);

CREATE INDEX customers_stage ON customers (stage, id);

CREATE TABLE customer_identities (
    kind        TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    PRIMARY KEY (kind, value)
) WITHOUT ROWID;

CREATE INDEX customer_identities_customer ON customer_identities (customer_id);

CREATE TABLE customer_follows (
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    staff_id    TEXT    NOT NULL,
    remark      TEXT    NOT NULL DEFAULT '',
    state       TEXT    NOT NULL DEFAULT '',
    added_at    INTEGER NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (customer_id, staff_id)
) WITHOUT ROWID;

CREATE INDEX customer_follows_staff ON customer_follows (staff_id, customer_id) WHERE deleted = 0;

CREATE TABLE customer_tags (
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    tag         TEXT    NOT NULL,
    PRIMARY KEY (customer_id, tag)
) WITHOUT ROWID;

CREATE INDEX customer_tags_tag ON customer_tags (tag, customer_id);

-- Where a merged-away customer went, so late writes for its ID find the survivor.
CREATE TABLE customer_merges (
    id        INTEGER PRIMARY KEY,
    into_id   INTEGER NOT NULL,
    merged_at INTEGER NOT NULL
);

CREATE INDEX customer_merges_into ON customer_merges (into_id);

CREATE TABLE timeline (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    source_key  TEXT UNIQUE,
    kind        TEXT    NOT NULL,
    channel     TEXT    NOT NULL DEFAULT '',
    direction   TEXT    NOT NULL DEFAULT '',
    staff_id    TEXT    NOT NULL DEFAULT '',
    text        TEXT    NOT NULL DEFAULT '',
    attrs       TEXT,
    at          INTEGER NOT NULL
);

CREATE INDEX timeline_customer ON timeline (customer_id, id DESC);
