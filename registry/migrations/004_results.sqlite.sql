-- SQLite variant; 004_results.postgresql.sql is the same with the "C" collation
-- on every TEXT column (see 002).
-- Result pages: the report a run-task delivery produced, kept for
-- --result-retention so that the result's `url` in HCP Terraform leads to
-- it. The id is a random 128-bit capability (the page's only key); rows are
-- written by the delivery worker before its final callback and pruned by
-- age. Sensitive values never reach a report, so never a page.
CREATE TABLE results (
    id             TEXT PRIMARY KEY,
    task_result_id TEXT NOT NULL,
    run_id         TEXT,
    organization   TEXT,
    workspace      TEXT,
    stage          TEXT,
    verdict        TEXT,
    created_at     BIGINT NOT NULL,
    page           TEXT NOT NULL
);
CREATE INDEX results_created ON results(created_at);
