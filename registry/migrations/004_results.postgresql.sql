-- PostgreSQL variant of 004_results.sqlite.sql: every TEXT column in the "C"
-- collation, as 002 made them all.
-- Result pages: the report a run-task delivery produced, kept for
-- --result-retention so that the result's `url` in HCP Terraform leads to
-- it. The id is a random 128-bit capability (the page's only key); rows are
-- written by the delivery worker before its final callback and pruned by
-- age. Sensitive values never reach a report, so never a page.
CREATE TABLE results (
    id             TEXT COLLATE "C" PRIMARY KEY,
    task_result_id TEXT COLLATE "C" NOT NULL,
    run_id         TEXT COLLATE "C",
    organization   TEXT COLLATE "C",
    workspace      TEXT COLLATE "C",
    stage          TEXT COLLATE "C",
    verdict        TEXT COLLATE "C",
    created_at     BIGINT NOT NULL,
    page           TEXT COLLATE "C" NOT NULL
);
CREATE INDEX results_created ON results(created_at);
