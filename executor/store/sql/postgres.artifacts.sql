-- Named queries of artifacts on PostgreSQL: the files steps leave (`Store.add_artifact` and
-- the rest), their bytes in chunks when the database keeps them.

-- name: _artifact_columns
id, run_id, step, step_id, item_index, attempt, name, size, sha256, media_type, stored, state,
extract(epoch FROM created_at)::float8 AS created_at

-- name: add_artifact
INSERT INTO artifacts (run_id, step, step_id, item_index, attempt, token, name, media_type, stored, created_at)
VALUES (%(run_id)s, %(step)s, %(step_id)s, %(item_index)s, %(attempt)s, %(token)s, %(name)s,
        %(media_type)s, %(stored)s, COALESCE(to_timestamp(%(now)s), now()))
RETURNING id

-- name: put_artifact_chunk
INSERT INTO artifact_chunks (artifact, seq, data) VALUES (%(artifact)s, %(seq)s, %(data)s)

-- name: finish_artifact
UPDATE artifacts SET size = %(size)s, sha256 = %(sha256)s WHERE id = %(id)s AND state = 'uploading'
RETURNING id

-- name: discard_artifacts
DELETE FROM artifacts WHERE step = %(step)s AND token = %(token)s AND state = 'uploading'
RETURNING {artifact_columns}

-- name: list_artifacts
SELECT {artifact_columns} FROM artifacts WHERE run_id = %(run_id)s AND state = 'kept'
ORDER BY step_id, item_index, name

-- name: get_artifact
SELECT {artifact_columns} FROM artifacts
WHERE run_id = %(run_id)s AND step_id = %(step_id)s AND item_index = %(item_index)s
  AND name = %(name)s AND state = 'kept'

-- name: read_artifact_chunk
SELECT data FROM artifact_chunks WHERE artifact = %(artifact)s AND seq = %(seq)s

-- name: kept_artifact_bytes
SELECT COALESCE(sum(size), 0)::bigint AS size FROM artifacts
WHERE run_id = %(run_id)s AND state = 'kept' AND step <> %(besides)s

-- name: unkept_artifacts
-- Superseded ones, and uploads whose claim is over: the step row is not running under the
-- token any more (the attempt failed, lost its lease, or its instance died mid-upload).
SELECT {artifact_columns} FROM artifacts AS a
WHERE a.state = 'superseded'
   OR (a.state = 'uploading' AND NOT EXISTS (
        SELECT 1 FROM steps s WHERE s.id = a.step AND s.status = 'running' AND s.lease_token = a.token))
ORDER BY a.id LIMIT %(limit)s

-- name: delete_artifacts
DELETE FROM artifacts WHERE id = ANY(%(ids)s::bigint[]) AND state <> 'kept'

-- name: missing_runs
SELECT n.id::text AS id FROM unnest(%(ids)s::uuid[]) AS n (id)
WHERE NOT EXISTS (SELECT 1 FROM runs WHERE runs.id = n.id)

-- name: supersede_artifacts
UPDATE artifacts SET state = 'superseded' WHERE step = %(step)s AND state = 'kept'

-- name: keep_artifacts
UPDATE artifacts SET state = 'kept' WHERE step = %(step)s AND token = %(token)s AND state = 'uploading'
