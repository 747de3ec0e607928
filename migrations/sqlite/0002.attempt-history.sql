-- Executor schema 2 (SQLite): each step row keeps the history of its ended attempts
-- (outcome, instance, times; a lost attempt's reason), oldest first: a JSON list.
ALTER TABLE steps ADD COLUMN history TEXT;
