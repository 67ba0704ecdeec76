-- footlight embedded store, version 12: each payload names its session's start.
--
-- The PostgreSQL store keeps payloads in monthly partitions by their session's start, so that
-- a purge drops whole months and gives their disk back (see its migration 12). SQLite gives
-- space back page by page instead (incremental vacuum); the column keeps the two stores'
-- schemas and SQL the same. Rows stored before this version leave it empty.
ALTER TABLE payloads ADD COLUMN session_created_at INTEGER;
