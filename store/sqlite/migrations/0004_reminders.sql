-- Reminders (store.ReminderStore). Times are unix nanoseconds in UTC.

CREATE TABLE reminders (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT UNIQUE,                          -- NULL: no idempotency key
    customer_id INTEGER REFERENCES customers (id),    -- NULL: not about one customer
    staff_id    TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    text        TEXT    NOT NULL DEFAULT '',
    due_at      INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    sent_at     INTEGER,
    done_at     INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until INTEGER,                              -- lease end; after a release, the retry time
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Only pending reminders are indexed for the scheduler, so the index stays
-- as small as the queue however many reminders were ever sent.
CREATE INDEX reminders_due ON reminders (due_at, id, lease_until) WHERE status = 'pending';
CREATE INDEX reminders_staff ON reminders (staff_id, due_at, id);
CREATE INDEX reminders_customer ON reminders (customer_id, due_at, id);
