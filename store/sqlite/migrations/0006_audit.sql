-- The append-only audit log (store.AuditStore).

CREATE TABLE audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    target TEXT    NOT NULL DEFAULT '',
    detail TEXT    NOT NULL DEFAULT '',
    at     INTEGER NOT NULL
);

CREATE INDEX audit_target ON audit (target, id);
