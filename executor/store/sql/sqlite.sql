-- Named queries of the SQLite store. Times are Unix seconds (REAL), bound as :now.

-- name: register_instance
INSERT INTO instances (id, host, pid, version, state, started_at, heartbeat_at)
VALUES (:id, :host, :pid, :version, :state, :now, :now)
ON CONFLICT (id) DO UPDATE SET
    host = excluded.host, pid = excluded.pid, version = excluded.version,
    state = excluded.state, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at

-- name: heartbeat
UPDATE instances SET state = :state, heartbeat_at = :now WHERE id = :id

-- name: list_instances
SELECT id, host, pid, version, state, started_at, heartbeat_at
FROM instances ORDER BY started_at, id

-- name: ping
SELECT 1
