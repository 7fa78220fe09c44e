-- A drain claims a page of leases in one statement, and with them every row
-- of a table page at once: each gets a new version. 0020 left 30% of each
-- page free, room for the new versions of only some of its rows; the others
-- went to other pages, with an entry in every index of the table. Filling
-- pages only half leaves room for a new version of every row beside the
-- old, so a claim writes no index (a HOT update). Pages written before keep
-- their rows as they are.
ALTER TABLE leases SET (fillfactor = 50);
