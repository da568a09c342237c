-- The staff directory and the tag catalogue (store.StaffStore, store.TagStore).

CREATE TABLE staff (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL DEFAULT '',
    role        TEXT    NOT NULL DEFAULT '',
    departments TEXT,            -- JSON array of department IDs
    team        TEXT,            -- JSON array of staff IDs
    active      INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;

CREATE TABLE tags (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    group_id   TEXT    NOT NULL DEFAULT '',
    group_name TEXT    NOT NULL DEFAULT '',
    ord        INTEGER NOT NULL DEFAULT 0,
    local      INTEGER NOT NULL DEFAULT 0,
    deleted    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
