-- Nothing to change on PostgreSQL: this version exists so that both databases keep the same
-- migration versions. SQLite's 0003 moves the uniqueness of an account's code and personal ID to
-- named indexes that its first import can drop and rebuild; PostgreSQL's import loads with
-- COPY into its constraints' indexes fast enough as they are.
SELECT 1;
