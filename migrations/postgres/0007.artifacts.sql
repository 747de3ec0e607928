-- Executor schema 7 (PostgreSQL): artifacts, the files a step's successful attempt leaves.
-- Same tables as the SQLite migration of the same name, with native types.

-- One row per file. An attempt's files are uploaded while it still holds its claim
-- (`uploading`, under the claim's lease token); the transaction that records its success
-- makes them the step row's `kept` artifacts and the earlier ones `superseded`. Rows that are
-- neither kept nor still uploading under a live claim are swept, their bytes with them.
CREATE TABLE artifacts (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      uuid        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step        bigint      NOT NULL REFERENCES steps (id) ON DELETE CASCADE,
    step_id     text        NOT NULL,
    item_index  integer     NOT NULL,
    attempt     integer     NOT NULL,
    token       uuid        NOT NULL,
    name        text        NOT NULL,
    size        bigint      NOT NULL DEFAULT 0,
    sha256      text,
    media_type  text        NOT NULL,
    -- where the bytes are: 'database' (artifact_chunks) or 'directory' (--artifacts-dir)
    stored      text        NOT NULL CHECK (stored IN ('database', 'directory')),
    state       text        NOT NULL DEFAULT 'uploading'
                            CHECK (state IN ('uploading', 'kept', 'superseded')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- A step row keeps one artifact of a name.
CREATE UNIQUE INDEX artifacts_kept ON artifacts (step, name) WHERE state = 'kept';
-- A run's artifacts listed, one found by step, item and name.
CREATE INDEX artifacts_by_run ON artifacts (run_id, step_id, item_index, name) WHERE state = 'kept';
-- An attempt's uploads committed or discarded by its claim; the sweep's candidates.
CREATE INDEX artifacts_by_claim ON artifacts (step, token);
CREATE INDEX artifacts_unkept ON artifacts (state, id) WHERE state <> 'kept';

-- The bytes of an artifact stored in the database, in chunks of at most 1 MiB: written and
-- read a chunk at a time, never whole in memory. Kept out of line (EXTERNAL: no compression
-- attempt on what is mostly compressed already).
CREATE TABLE artifact_chunks (
    artifact  bigint NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
    seq       integer NOT NULL,
    data      bytea   NOT NULL,
    PRIMARY KEY (artifact, seq)
);
ALTER TABLE artifact_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
