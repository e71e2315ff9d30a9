-- CDRs by answer time: `hotline cdr report` and the status page (`/`) read a period of answer
-- times, which without this index is a scan of every CDR ever kept. A plain CREATE INDEX, in
-- the migration's transaction: it holds CDR writes (not reads) while it builds, about a second
-- per million CDRs (5 million took 4.4 s on a 2-core machine, docs/deploy.md). CONCURRENTLY
-- would not, but it cannot run in a transaction and waits for every older snapshot, among them
-- a second node's migrator waiting on the migration lock this one holds.
CREATE INDEX cdrs_answered_at ON cdrs (answered_at);
