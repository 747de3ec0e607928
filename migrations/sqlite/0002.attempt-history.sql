-- Executor schema 2 (SQLite): each step row keeps the history of its ended attempts
-- (outcome, instance, times; a lost attempt's reason), oldest first: a JSON list. And each
-- instance records its heartbeat timeout.
ALTER TABLE steps ADD COLUMN history TEXT;

-- How long each instance may go without a heartbeat before its peers take it for dead (its
-- --heartbeat-timeout): peers judge it by its own bound. NULL: an older version.
ALTER TABLE instances ADD COLUMN heartbeat_timeout REAL;
