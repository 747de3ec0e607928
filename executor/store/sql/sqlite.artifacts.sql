-- Named queries of artifacts on SQLite: the files steps leave (`Store.add_artifact` and
-- the rest), their bytes in chunks when the database keeps them.

-- name: _artifact_columns
id, run_id, step, step_id, item_index, attempt, name, size, sha256, media_type, stored, state, created_at

-- name: add_artifact
INSERT INTO artifacts (run_id, step, step_id, item_index, attempt, token, name, media_type, stored, created_at)
VALUES (:run_id, :step, :step_id, :item_index, :attempt, :token, :name, :media_type, :stored, :now)
RETURNING id

-- name: put_artifact_chunk
INSERT INTO artifact_chunks (artifact, seq, data) VALUES (:artifact, :seq, :data)

-- name: finish_artifact
UPDATE artifacts SET size = :size, sha256 = :sha256 WHERE id = :id AND state = 'uploading'
RETURNING id

-- name: discard_artifacts
DELETE FROM artifacts WHERE step = :step AND token = :token AND state = 'uploading'
RETURNING {artifact_columns}

-- name: list_artifacts
SELECT {artifact_columns} FROM artifacts WHERE run_id = :run_id AND state = 'kept'
ORDER BY step_id, item_index, name

-- name: get_artifact
SELECT {artifact_columns} FROM artifacts
WHERE run_id = :run_id AND step_id = :step_id AND item_index = :item_index AND name = :name
  AND state = 'kept'

-- name: read_artifact_chunk
SELECT data FROM artifact_chunks WHERE artifact = :artifact AND seq = :seq

-- name: kept_artifact_bytes
SELECT COALESCE(sum(size), 0) AS size FROM artifacts
WHERE run_id = :run_id AND state = 'kept' AND step <> :besides

-- name: unkept_artifacts
-- Superseded ones, and uploads whose claim is over: the step row is not running under the
-- token any more (the attempt failed, lost its lease, or its instance died mid-upload).
SELECT {artifact_columns} FROM artifacts AS a
WHERE a.state = 'superseded'
   OR (a.state = 'uploading' AND NOT EXISTS (
        SELECT 1 FROM steps s WHERE s.id = a.step AND s.status = 'running' AND s.lease_token = a.token))
ORDER BY a.id LIMIT :limit

-- name: delete_artifacts
DELETE FROM artifacts WHERE id IN (SELECT value FROM json_each(:ids)) AND state <> 'kept'

-- name: missing_runs
SELECT value AS id FROM json_each(:ids) WHERE NOT EXISTS (SELECT 1 FROM runs WHERE runs.id = value)

-- name: supersede_artifacts
UPDATE artifacts SET state = 'superseded' WHERE step = :step AND state = 'kept'

-- name: keep_artifacts
UPDATE artifacts SET state = 'kept' WHERE step = :step AND token = :token AND state = 'uploading'
