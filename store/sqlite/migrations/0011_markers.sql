-- Markers (store.MarkerStore): records that something was done once, kept
-- per family (kind) for that family's retention. They used to be cursors
-- named "<kind>:<key>"; Open moves any such cursor here (markers.go).
CREATE TABLE markers (
    kind       TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    created_at INTEGER NOT NULL, -- unix nanoseconds
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;

-- The sweep deletes a kind's markers older than its retention.
CREATE INDEX markers_age ON markers (kind, created_at);
