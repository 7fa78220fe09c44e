-- Leases are claimed before they are revoked: the claim writes each row's
-- next attempt, which no index holds. Room left on each page lets
-- PostgreSQL write the new row version beside the old one (a HOT update)
-- instead of adding an entry to every index of the table.
ALTER TABLE leases SET (fillfactor = 70);
