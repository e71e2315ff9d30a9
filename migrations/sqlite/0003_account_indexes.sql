-- The uniqueness of an account's code and personal ID moves from column constraints to named
-- indexes, same rules. SQLite cannot drop a constraint's index, but it can drop a named one: a
-- first import into an empty table drops these two, appends every row and builds them again
-- sorted, minutes instead of the better part of an hour at 20 million accounts
-- (src/store/import/first_load.rs repeats the two CREATE INDEX statements below).
CREATE TABLE accounts_new (
    code              TEXT    NOT NULL CHECK (length(code) = 10),
    personal_id       TEXT    CHECK (personal_id IS NULL OR length(personal_id) = 12),
    phone             TEXT    NOT NULL,
    registered        BOOLEAN NOT NULL,
    password_hash     TEXT,
    password_reset_at INTEGER
);
INSERT INTO accounts_new (code, personal_id, phone, registered, password_hash, password_reset_at)
    SELECT code, personal_id, phone, registered, password_hash, password_reset_at FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_new RENAME TO accounts;
CREATE UNIQUE INDEX accounts_code ON accounts (code);
CREATE UNIQUE INDEX accounts_personal_id ON accounts (personal_id);
