-- The console's reports (store.ReportStore): customer messages per staff
-- member by time. The WHERE must match incomingTerms in reports.go word for
-- word, or SQLite cannot use the partial index.
CREATE INDEX timeline_incoming ON timeline (staff_id, at)
    WHERE staff_id <> '' AND kind = 'message' AND direction = 'in';

-- Follow-ups that answered a waiting customer, by staff and time, for the
-- response-time percentiles.
CREATE INDEX timeline_waits ON timeline (staff_id, at, waited)
    WHERE waited IS NOT NULL;
