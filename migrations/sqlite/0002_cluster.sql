-- Several nodes on one database.
-- Which node answered each call (NULL on calls from before this migration).
ALTER TABLE cdrs ADD COLUMN node TEXT;
-- When each billing tick reached the database, by the database's own clock: a node that stops
-- ticking is judged dead by this time, never by another node's clock. NULL on older ticks
-- (their `at` stands in). SQLite cannot add a column whose default reads the clock, so every
-- insert writes it.
ALTER TABLE billing_ticks ADD COLUMN recorded_at INTEGER;
