-- Acquisition channels (store.ChannelStore). The channel itself is a JSON
-- document beside the columns it is found by; states are unique for ever,
-- deleted channels included.
CREATE TABLE channels (
    id         TEXT PRIMARY KEY,
    state      TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    doc        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER
);

-- One row per attributed add or deletion, written once per callback.
CREATE TABLE channel_events (
    key         TEXT PRIMARY KEY,
    channel_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    staff_id    TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX channel_events_channel ON channel_events (channel_id, at);
CREATE INDEX channel_events_customer ON channel_events (customer_id, at);
