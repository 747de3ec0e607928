-- Calls to models (`llm`) and what they add up to per run (`Store` `# -- model calls`).

-- name: record_llm_call
-- Dropped when its run is gone (deleted while the attempt ran): nothing left to charge.
INSERT INTO llm_calls (run_id, step_id, item_index, attempt, model, input_tokens, output_tokens,
                       cached_tokens, reasoning_tokens, cost_usd, seconds, outcome, error, created_at)
SELECT %(run_id)s::uuid, %(step_id)s::text, %(item_index)s::integer, %(attempt)s::integer,
       %(model)s::text, %(input_tokens)s::bigint, %(output_tokens)s::bigint, %(cached_tokens)s::bigint,
       %(reasoning_tokens)s::bigint, %(cost_usd)s::float8, %(seconds)s::float8, %(outcome)s::text,
       %(error)s::text, COALESCE(to_timestamp(%(now)s::float8), clock_timestamp())
WHERE EXISTS (SELECT 1 FROM runs WHERE id = %(run_id)s::uuid)

-- name: run_llm_totals
SELECT count(*) AS calls,
       COALESCE(sum(input_tokens), 0)::bigint AS input_tokens,
       COALESCE(sum(output_tokens), 0)::bigint AS output_tokens,
       COALESCE(sum(cached_tokens), 0)::bigint AS cached_tokens,
       COALESCE(sum(reasoning_tokens), 0)::bigint AS reasoning_tokens,
       COALESCE(sum(cost_usd), 0.0)::float8 AS cost_usd
FROM llm_calls WHERE run_id = %(run_id)s

-- name: list_llm_calls
SELECT id, run_id::text AS run_id, step_id, item_index, attempt, model, input_tokens, output_tokens,
       cached_tokens, reasoning_tokens, cost_usd, seconds, error,
       extract(epoch FROM created_at)::float8 AS created_at
FROM llm_calls WHERE run_id = %(run_id)s AND id > %(after)s ORDER BY id LIMIT %(limit)s
