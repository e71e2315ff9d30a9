-- hotline schema, SQLite dialect. Times are Unix milliseconds (INTEGER): exact, portable to
-- PostgreSQL's BIGINT, and free of time-zone ambiguity.

-- One row per VssID account the hotline may reset.
CREATE TABLE accounts (
    code              TEXT    PRIMARY KEY CHECK (length(code) = 10),    -- mã số BHXH, 10 digits
    personal_id       TEXT    UNIQUE CHECK (personal_id IS NULL OR length(personal_id) = 12),
    phone             TEXT    NOT NULL,                                 -- canonical +84…
    registered        BOOLEAN NOT NULL,                                 -- for electronic transactions
    password_hash     TEXT,                                             -- argon2id PHC string
    password_reset_at INTEGER
);

-- Failed matches and successful resets, kept so the 24-hour limits survive restarts.
CREATE TABLE attempts (
    id           INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    caller       TEXT    NOT NULL,            -- canonical caller number
    account_key  TEXT    NOT NULL,            -- what was keyed: a code or a personal ID
    account_code TEXT,                        -- the matched account (resets only)
    kind         TEXT    NOT NULL CHECK (kind IN ('failure', 'reset'))
);
CREATE INDEX attempts_by_caller ON attempts (caller, kind, at);
CREATE INDEX attempts_by_key ON attempts (account_key, kind, at);
CREATE INDEX attempts_by_account ON attempts (account_code, kind, at);

-- Call detail records: opened at answer, closed at hang-up (or at start-up after a crash).
CREATE TABLE cdrs (
    call_id        TEXT    PRIMARY KEY,
    caller_raw     TEXT    NOT NULL,          -- as received (From / P-Asserted-Identity user)
    caller         TEXT,                      -- normalised, when it parsed
    called         TEXT    NOT NULL,
    source         TEXT    NOT NULL,          -- signalling source address
    answered_at    INTEGER NOT NULL,
    ended_at       INTEGER,
    duration_ms    INTEGER,
    billed_minutes INTEGER,
    amount         INTEGER,
    currency       TEXT,
    outcome        TEXT
);
CREATE INDEX cdrs_open ON cdrs (ended_at);

-- One row per started minute, written when the minute starts: a crash loses no billed minute.
CREATE TABLE billing_ticks (
    call_id TEXT    NOT NULL REFERENCES cdrs (call_id),
    minute  INTEGER NOT NULL CHECK (minute >= 1),
    at      INTEGER NOT NULL,
    UNIQUE (call_id, minute)
);
