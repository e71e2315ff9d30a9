-- The audit of every verification: who keyed what, on which call and node, and what came of it.
-- Kept for audit.retention_days (the service purges older rows). Holds callers' numbers and the
-- codes they keyed in full, by design: it is the record an operator answers a complaint from.
CREATE TABLE verifications (
    call_id TEXT    NOT NULL,
    attempt BIGINT  NOT NULL CHECK (attempt >= 1),   -- the call's 1st, 2nd… verification
    at      BIGINT  NOT NULL,                        -- Unix milliseconds
    node    TEXT    NOT NULL,
    caller  TEXT    NOT NULL,                      -- canonical caller number
    keyed   TEXT    NOT NULL,                      -- the code or personal ID keyed
    result  TEXT    NOT NULL
            CHECK (result IN ('reset', 'mismatch', 'locked_out', 'system_busy')),
    PRIMARY KEY (call_id, attempt)
);
CREATE INDEX verifications_at ON verifications (at);
CREATE INDEX verifications_caller ON verifications (caller, at);
CREATE INDEX verifications_keyed ON verifications (keyed, at);
