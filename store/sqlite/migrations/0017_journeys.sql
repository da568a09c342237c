-- Follow-up journeys (store.JourneyStore): journeys as JSON documents with a
-- version for compare-and-set updates; runs as JSON documents beside the
-- columns they are found and advanced by.

CREATE TABLE journeys (
    id         TEXT    PRIMARY KEY,
    doc        TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE journey_runs (
    id          TEXT    PRIMARY KEY,
    journey_id  TEXT    NOT NULL,
    customer_id TEXT    NOT NULL,
    occurrence  TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    next_at     INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    doc         TEXT    NOT NULL
);
-- A customer enters a journey once per trigger occurrence.
CREATE UNIQUE INDEX journey_runs_occurrence ON journey_runs (journey_id, customer_id, occurrence);
-- The runs due: only active ones are indexed, so the index stays as small as
-- the work waiting however many runs ever ended.
CREATE INDEX journey_runs_due ON journey_runs (state, next_at) WHERE state = 'active';
CREATE INDEX journey_runs_journey ON journey_runs (journey_id, state, started_at);
CREATE INDEX journey_runs_customer ON journey_runs (customer_id, state);

-- A journey's reminder carries a ready-to-send text for the customer.
ALTER TABLE reminders ADD COLUMN script TEXT NOT NULL DEFAULT '';

-- A journey's one-customer messages are campaigns too (the caps count them),
-- kept out of the list of the campaigns people made.
ALTER TABLE campaigns ADD COLUMN journey_id TEXT NOT NULL DEFAULT '';
DROP INDEX campaigns_created;
CREATE INDEX campaigns_created ON campaigns (journey_id, created_at);
