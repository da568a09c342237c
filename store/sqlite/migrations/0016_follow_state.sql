-- The customer's stage and "waiting since" kept on each of their follows, so
-- that the console's per-member counts (customers in a stage, lost
-- customers, customers waiting for an answer) are grouped counts off an
-- index instead of joins of the follows with the customers.
--
-- waiting_since is the customer's last message when it is newer than every
-- staff touch (bot.isWaiting), NULL otherwise. Triggers keep both columns
-- current through every path that writes a customer or a follow (callbacks,
-- core actions, imports, merges), so no write path can forget them.

ALTER TABLE customer_follows ADD COLUMN stage TEXT NOT NULL DEFAULT '';
ALTER TABLE customer_follows ADD COLUMN waiting_since INTEGER;

-- Backfill existing databases.
UPDATE customer_follows SET
    stage = (SELECT c.stage FROM customers AS c WHERE c.id = customer_follows.customer_id),
    waiting_since = (SELECT CASE WHEN c.last_customer_msg_at > 0
            AND (c.last_staff_touch_at IS NULL OR c.last_staff_touch_at < c.last_customer_msg_at)
        THEN c.last_customer_msg_at END FROM customers AS c WHERE c.id = customer_follows.customer_id);

-- A new follow (a customer adding a salesperson, a merge moving follows)
-- takes its customer's state.
CREATE TRIGGER customer_follows_state AFTER INSERT ON customer_follows
BEGIN
    UPDATE customer_follows SET
        stage = (SELECT c.stage FROM customers AS c WHERE c.id = NEW.customer_id),
        waiting_since = (SELECT CASE WHEN c.last_customer_msg_at > 0
                AND (c.last_staff_touch_at IS NULL OR c.last_staff_touch_at < c.last_customer_msg_at)
            THEN c.last_customer_msg_at END FROM customers AS c WHERE c.id = NEW.customer_id)
    WHERE customer_id = NEW.customer_id AND staff_id = NEW.staff_id;
END;

-- A change of stage or of the contact times is copied to the follows; the
-- WHEN keeps writes that change neither (most updates) from touching them.
CREATE TRIGGER customers_follow_state AFTER UPDATE OF stage, last_customer_msg_at, last_staff_touch_at ON customers
WHEN OLD.stage IS NOT NEW.stage
    OR (CASE WHEN OLD.last_customer_msg_at > 0
            AND (OLD.last_staff_touch_at IS NULL OR OLD.last_staff_touch_at < OLD.last_customer_msg_at)
        THEN OLD.last_customer_msg_at END)
    IS NOT (CASE WHEN NEW.last_customer_msg_at > 0
            AND (NEW.last_staff_touch_at IS NULL OR NEW.last_staff_touch_at < NEW.last_customer_msg_at)
        THEN NEW.last_customer_msg_at END)
BEGIN
    UPDATE customer_follows SET
        stage = NEW.stage,
        waiting_since = CASE WHEN NEW.last_customer_msg_at > 0
                AND (NEW.last_staff_touch_at IS NULL OR NEW.last_staff_touch_at < NEW.last_customer_msg_at)
            THEN NEW.last_customer_msg_at END
    WHERE customer_id = NEW.id;
END;

-- Per-member counts by stage, ended follows included for the lost ones:
-- covering, so a count never reads the table.
CREATE INDEX customer_follows_stage ON customer_follows (staff_id, stage, deleted, customer_id);

-- The customers waiting for an answer, per member, by how long.
CREATE INDEX customer_follows_waiting ON customer_follows (staff_id, waiting_since, customer_id)
    WHERE deleted = 0 AND waiting_since IS NOT NULL;

-- The customers whose latest analysis is negative or a complaint, by last
-- contact: the workbench's open complaints (store.OpenConcerns) are a short
-- range of it. The WHERE must match concernTerms in reports.go word for word;
-- the label and intent are store.ConcernLabel and store.ConcernIntent.
CREATE INDEX customers_concern ON customers (last_contact_at)
    WHERE json_extract(insight, '$.sentiment_label') = 'negative' OR json_extract(insight, '$.intent') = '投诉';
