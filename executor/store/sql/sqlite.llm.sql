-- Calls to models (`llm`) and what they add up to per run (`Store` `# -- model calls`).

-- name: record_llm_call
-- Dropped when its run is gone (deleted while the attempt ran): nothing left to charge.
INSERT INTO llm_calls (run_id, step_id, item_index, attempt, model, input_tokens, output_tokens,
                       cached_tokens, reasoning_tokens, cost_usd, seconds, outcome, error, created_at)
SELECT :run_id, :step_id, :item_index, :attempt, :model, :input_tokens, :output_tokens,
       :cached_tokens, :reasoning_tokens, :cost_usd, :seconds, :outcome, :error, :now
WHERE EXISTS (SELECT 1 FROM runs WHERE id = :run_id)

-- name: run_llm_totals
SELECT count(*) AS calls,
       COALESCE(sum(input_tokens), 0) AS input_tokens,
       COALESCE(sum(output_tokens), 0) AS output_tokens,
       COALESCE(sum(cached_tokens), 0) AS cached_tokens,
       COALESCE(sum(reasoning_tokens), 0) AS reasoning_tokens,
       COALESCE(sum(cost_usd), 0.0) AS cost_usd
FROM llm_calls WHERE run_id = :run_id

-- name: list_llm_calls
SELECT id, run_id, step_id, item_index, attempt, model, input_tokens, output_tokens, cached_tokens,
       reasoning_tokens, cost_usd, seconds, error, created_at
FROM llm_calls WHERE run_id = :run_id AND id > :after ORDER BY id LIMIT :limit
