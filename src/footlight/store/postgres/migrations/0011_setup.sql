-- footlight PostgreSQL store, version 11: what ingest refused, for the setup page.
--
-- Counted per project (its verbose id; for an unknown project, the id the request named) and
-- reason (the error's code) in each process's memory, and added here every few seconds. Only
-- the most recently refused `FOOTLIGHT_REFUSALS_KEPT` pairs are kept: strangers choose the
-- unknown ids, so the table is bounded by that setting, not by them.
CREATE TABLE intake_refusals (
    project             TEXT NOT NULL,
    code                TEXT NOT NULL,
    count               BIGINT NOT NULL,
    first_at            BIGINT NOT NULL,
    last_at             BIGINT NOT NULL,
    example             TEXT NOT NULL,
    PRIMARY KEY (project, code)
);
CREATE INDEX intake_refusals_by_last ON intake_refusals(last_at);

-- The setup page asks when a project's backend last reported an error.
CREATE INDEX backend_errors_by_project ON backend_errors(project_id, received_at);
