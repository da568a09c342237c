-- The address book sync (bot.StaffSync): where a staff record came from and
-- which fields an admin set by hand, which the sync never changes.

-- 'wecom' once the sync has seen the member in WeCom's address book.
ALTER TABLE staff ADD COLUMN source TEXT NOT NULL DEFAULT '';

-- JSON array of field names (store.StaffField*), NULL when none.
ALTER TABLE staff ADD COLUMN manual TEXT;
