-- Named queries of the PostgreSQL store. Times come from the database's clock (now()),
-- so that every instance of a fleet measures leases and heartbeats against one clock.

-- name: register_instance
INSERT INTO instances (id, host, pid, version, state, started_at, heartbeat_at)
VALUES (%(id)s, %(host)s, %(pid)s, %(version)s, %(state)s, now(), now())
ON CONFLICT (id) DO UPDATE SET
    host = excluded.host, pid = excluded.pid, version = excluded.version,
    state = excluded.state, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at

-- name: heartbeat
UPDATE instances SET state = %(state)s, heartbeat_at = now() WHERE id = %(id)s

-- name: list_instances
SELECT id, host, pid, version, state, started_at, heartbeat_at
FROM instances ORDER BY started_at, id

-- name: ping
SELECT 1
