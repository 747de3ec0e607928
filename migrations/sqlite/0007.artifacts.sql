-- Executor schema 7 (SQLite): artifacts, the files a step's successful attempt leaves. The
-- PostgreSQL migration of the same name makes the same tables with native types; keep the
-- two in step.

-- One row per file. An attempt's files are uploaded while it still holds its claim
-- (`uploading`, under the claim's lease token); the transaction that records its success
-- makes them the step row's `kept` artifacts and the earlier ones `superseded`. Rows that are
-- neither kept nor still uploading under a live claim are swept, their bytes with them.
CREATE TABLE artifacts (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step        INTEGER NOT NULL REFERENCES steps (id) ON DELETE CASCADE,
    step_id     TEXT    NOT NULL,
    item_index  INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    token       TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    size        INTEGER NOT NULL DEFAULT 0,
    sha256      TEXT,
    media_type  TEXT    NOT NULL,
    -- where the bytes are: 'database' (artifact_chunks) or 'directory' (--artifacts-dir)
    stored      TEXT    NOT NULL CHECK (stored IN ('database', 'directory')),
    state       TEXT    NOT NULL DEFAULT 'uploading'
                        CHECK (state IN ('uploading', 'kept', 'superseded')),
    created_at  REAL    NOT NULL
);
-- A step row keeps one artifact of a name.
CREATE UNIQUE INDEX artifacts_kept ON artifacts (step, name) WHERE state = 'kept';
-- A run's artifacts listed, one found by step, item and name.
CREATE INDEX artifacts_by_run ON artifacts (run_id, step_id, item_index, name) WHERE state = 'kept';
-- An attempt's uploads committed or discarded by its claim; the sweep's candidates.
CREATE INDEX artifacts_by_claim ON artifacts (step, token);
CREATE INDEX artifacts_unkept ON artifacts (state, id) WHERE state <> 'kept';

-- The bytes of an artifact stored in the database, in chunks of at most 1 MiB: written and
-- read a chunk at a time, never whole in memory.
CREATE TABLE artifact_chunks (
    artifact  INTEGER NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    data      BLOB    NOT NULL,
    PRIMARY KEY (artifact, seq)
) WITHOUT ROWID;
