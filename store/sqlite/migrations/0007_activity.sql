-- Write-time team activity (store.ActivityStore).

-- The first customer message no follow-up has answered yet (ns), NULL when
-- nobody is waiting.
ALTER TABLE customers ADD COLUMN awaiting_since INTEGER;

-- On a follow-up that answered a waiting customer: how long they waited (ns).
ALTER TABLE timeline ADD COLUMN waited INTEGER;

-- A manager's overview sums these: each staff member's follow-ups by time.
-- The WHERE must match followUpTerms in activity.go word for word, or
-- SQLite cannot use the index; kind and direction make it covering (SQLite
-- re-checks those terms).
CREATE INDEX timeline_followups ON timeline (staff_id, at, waited, kind, direction)
    WHERE staff_id <> '' AND (kind = 'note' OR (kind = 'message' AND direction = 'out'));

CREATE INDEX customer_follows_added ON customer_follows (staff_id, added_at);
