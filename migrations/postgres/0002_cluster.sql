-- Several nodes on one database: the same columns as migrations/sqlite/0002_cluster.sql.
ALTER TABLE cdrs ADD COLUMN node TEXT;
ALTER TABLE billing_ticks ADD COLUMN recorded_at BIGINT;
