-- Typed state of handovers and of the inbox (store.HandoverStateStore,
-- store.InboxStateStore). It used to be cursors holding JSON or a bare
-- value; Open moves any such cursor here (state.go).

-- One handover of a customer per member handing over; a new one replaces a
-- settled one.
CREATE TABLE handovers (
    customer_id     TEXT    NOT NULL,
    from_staff      TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    external_userid TEXT    NOT NULL,
    to_staff        TEXT    NOT NULL,
    resigned        INTEGER NOT NULL,
    message         TEXT    NOT NULL,
    by_actor        TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    submitted       INTEGER NOT NULL,
    started_at      INTEGER NOT NULL, -- unix nanoseconds
    takeover_at     INTEGER,
    finished_at     INTEGER,
    PRIMARY KEY (customer_id, from_staff)
) WITHOUT ROWID;

-- The inbox's current offer of an unassigned customer.
CREATE TABLE inbox_offers (
    customer_id TEXT    NOT NULL PRIMARY KEY,
    round       INTEGER NOT NULL,
    to_staff    TEXT    NOT NULL, -- JSON array of staff IDs
    at          INTEGER NOT NULL,
    opener      TEXT    NOT NULL,
    claimed_by  TEXT    NOT NULL
) WITHOUT ROWID;

-- Who won each round's claim of a customer.
CREATE TABLE inbox_claims (
    customer_id TEXT    NOT NULL,
    round       INTEGER NOT NULL,
    staff_id    TEXT    NOT NULL,
    PRIMARY KEY (customer_id, round)
) WITHOUT ROWID;

-- The 微信客服 account each kf user last wrote to (replies go through it).
CREATE TABLE kf_accounts (
    external_userid TEXT NOT NULL PRIMARY KEY,
    open_kfid       TEXT NOT NULL
) WITHOUT ROWID;
