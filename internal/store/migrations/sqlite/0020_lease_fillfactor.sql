-- PostgreSQL's 0020 leaves room on the leases table's pages for the claim's
-- updates; SQLite rewrites a row in place, so it needs nothing.
SELECT 1;
