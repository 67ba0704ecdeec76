-- footlight embedded store, version 3: signed-in browser sessions of the UI, and the index the
-- session list (newest first, across projects) reads.

-- A UI session stands for the API token it was opened with; only a hash of the cookie value
-- is kept. Revoking the token ends its UI sessions.
CREATE TABLE ui_sessions (
    id_hash     BLOB PRIMARY KEY,
    token_id    BIGINT NOT NULL REFERENCES api_tokens(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE INDEX sessions_by_created ON sessions(created_at, id);
