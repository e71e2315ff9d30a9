-- hotline schema, PostgreSQL dialect: the same tables as migrations/sqlite/0001_initial.sql.
-- Times are Unix milliseconds (BIGINT), as in SQLite; the two directories keep the same versions.

CREATE TABLE accounts (
    code              TEXT    PRIMARY KEY CHECK (length(code) = 10),
    personal_id       TEXT    UNIQUE CHECK (personal_id IS NULL OR length(personal_id) = 12),
    phone             TEXT    NOT NULL,
    registered        BOOLEAN NOT NULL,
    password_hash     TEXT,
    password_reset_at BIGINT
);

CREATE TABLE attempts (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           BIGINT  NOT NULL,
    caller       TEXT    NOT NULL,
    account_key  TEXT    NOT NULL,
    account_code TEXT,
    kind         TEXT    NOT NULL CHECK (kind IN ('failure', 'reset'))
);
CREATE INDEX attempts_by_caller ON attempts (caller, kind, at);
CREATE INDEX attempts_by_key ON attempts (account_key, kind, at);
CREATE INDEX attempts_by_account ON attempts (account_code, kind, at);

CREATE TABLE cdrs (
    call_id        TEXT    PRIMARY KEY,
    caller_raw     TEXT    NOT NULL,
    caller         TEXT,
    called         TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    answered_at    BIGINT  NOT NULL,
    ended_at       BIGINT,
    duration_ms    BIGINT,
    billed_minutes BIGINT,
    amount         BIGINT,
    currency       TEXT,
    outcome        TEXT
);
CREATE INDEX cdrs_open ON cdrs (ended_at);

CREATE TABLE billing_ticks (
    call_id TEXT    NOT NULL REFERENCES cdrs (call_id),
    minute  BIGINT  NOT NULL CHECK (minute >= 1),
    at      BIGINT  NOT NULL,
    UNIQUE (call_id, minute)
);
