-- Customer edits and filters (store.CustomerAdmin).

-- The latest analysis as JSON (store.Insight); NULL until the first one.
ALTER TABLE customers ADD COLUMN insight TEXT;

-- The later of the two last-contact times, 0 for never. SQLite maintains it:
-- a virtual column takes no space in the row, and its index is updated by
-- the same write that changes either time, so it can never drift.
ALTER TABLE customers ADD COLUMN last_contact_at INTEGER
    GENERATED ALWAYS AS (MAX(COALESCE(last_customer_msg_at, 0), COALESCE(last_staff_touch_at, 0))) VIRTUAL;

CREATE INDEX customers_last_contact ON customers (last_contact_at, id);
