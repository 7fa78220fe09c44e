-- PostgreSQL's 0022 leaves more room on the leases table's pages for the
-- claim's updates; SQLite rewrites a row in place, so it needs nothing.
SELECT 1;
