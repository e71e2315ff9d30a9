-- CDRs by answer time: `hotline cdr report` and the status page (`/`) read a period of answer
-- times, which without this index is a scan of every CDR ever kept.
CREATE INDEX cdrs_answered_at ON cdrs (answered_at);
