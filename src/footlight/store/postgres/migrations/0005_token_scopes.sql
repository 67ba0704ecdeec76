-- footlight PostgreSQL store, version 5: what an API token may do.
--
-- read: every GET of the read API and the UI; admin: also what changes data (DELETE). Tokens
-- made before this version become read tokens, the safe side: a script that deletes sessions
-- needs a new token made with `footlight token create --scope admin`.

ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'read'
    CHECK (scope IN ('read', 'admin'));
