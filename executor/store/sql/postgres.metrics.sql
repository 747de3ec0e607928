-- Reads for metrics and traces (`Store` `# -- metrics`): never on the engine's path.

-- name: step_counts
-- Steps ready (the claim's condition: queued and due, or waiting with its timer over, of a
-- run neither paused nor final) and steps running; each arm read from its partial index,
-- the run's status as a subquery (see claim).
SELECT
    (SELECT count(*) FROM steps s
     WHERE s.status = 'queued' AND s.available_at <= COALESCE(to_timestamp(%(now)s), clock_timestamp())
       AND (SELECT r.status FROM runs r WHERE r.id = s.run_id) IN ('pending', 'running'))
  + (SELECT count(*) FROM steps s
     WHERE s.status = 'waiting' AND s.available_at <= COALESCE(to_timestamp(%(now)s), clock_timestamp())
       AND (SELECT r.status FROM runs r WHERE r.id = s.run_id) IN ('pending', 'running'))
    AS ready,
    (SELECT count(*) FROM steps WHERE status = 'running') AS running

-- name: run_traceparent
SELECT traceparent FROM runs WHERE id = %(id)s
