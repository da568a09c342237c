-- Durable, debounced jobs (store.JobStore). A row exists while the job is
-- pending or running; completing its current version deletes it.

CREATE TABLE jobs (
    key         TEXT    PRIMARY KEY,
    kind        TEXT    NOT NULL,
    payload     TEXT    NOT NULL DEFAULT '',
    due_at      INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT    NOT NULL DEFAULT '',
    lease_owner TEXT,
    lease_until INTEGER                               -- lease end; after a failure, the retry time
) WITHOUT ROWID;

CREATE INDEX jobs_due ON jobs (kind, due_at);
