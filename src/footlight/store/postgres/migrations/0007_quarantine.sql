-- footlight PostgreSQL store, version 7: quarantined processing jobs.
--
-- Claiming a job now counts an attempt (a run that kills the process never reaches the
-- failure path that used to count them), and a job that has used up its attempts is set
-- aside here instead of being claimed again: `quarantined_at` is when. It stays in the queue,
-- with its `last_error`, until an operator re-queues it (`footlight jobs retry`).
ALTER TABLE processing_queue ADD COLUMN quarantined_at BIGINT;
