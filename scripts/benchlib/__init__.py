"""Executor's benchmark suite for issue #6 (run it with scripts/bench).

Everything goes through the real service: each measurement gets a fresh database (a copy of
one that ``python -m executor migrate`` migrated at the start), then ``python -m executor
--database URL --port P --skip-migrations`` (plus ``--concurrency N`` when given), driven over
HTTP. Figures come from the database's own
timestamps (read-only SQL: ``runs`` and ``steps``, same clock on both sides), never from
the client, except where a workload says so. Each workload runs against SQLite (a temp
file, default durability settings) and PostgreSQL (``EXECUTOR_BENCH_POSTGRES``, default
postgresql://postgres@127.0.0.1:5432/postgres; a uniquely named database is created and
dropped per measurement), unless ``--database`` picks one.

Workloads (``--only NAME,...``; full sizes, ``--quick`` shrinks them):
  steps      durable steps/s = steps / (last run finished_at - first run created_at), after
             every run is final (any run that did not succeed fails the suite):
             chain_long  one run of a 2,000-step chain of noop steps
             chains      200 runs of a 10-step noop chain, submitted at once (32 connections)
  runs       runs/s = 2,000 / (last finished_at - first created_at) for 2,000 single-step
             noop runs POSTed by an async client over 32 connections; by-products: POST /runs
             req/s during that burst (client side), and GET /runs/{id} req/s afterwards
             (2,000 requests over 16 connections on the now idle service); then
             single_step_batched: the same for 5,000 runs sent 1,000 per POST /runs/batch
             (2 requests at a time), with the client's submission rate (POST /runs/batch runs/s)
  fanout     items/s = 5,000 / (finished_at - created_at) of one run whose step has
             ``for_each`` over 5,000 items with ``concurrency: 100``
  latency    an idle service, 500 single-step noop runs one at a time (each waited for, by
             polling the database, before the next; 3 warm-up runs not counted):
             post_to_first_step = steps.started_at - runs.created_at and post_to_finished =
             runs.finished_at - runs.created_at (database timestamps on both sides), and
             sent_to_first_step = steps.started_at - the client's clock when it sent the POST
             (same host, same clock; includes HTTP and request handling); p50 and p99 in ms
  fleet      PostgreSQL only: the ``chains`` workload with 1, 2 and 3 instances sharing one
             database, runs POSTed round-robin; and ``latency`` on an idle fleet of 3
  workers    ``chains`` (200 runs x 10 steps) of noop steps and of shell steps (``sh -c
             true``: a process per step) on one service with ``--workers 1`` and ``--workers 2``
             (``serve --workers``: worker processes sharing the port and the database), steps/s
  footprint  binary size; launch to /health 200; idle RSS (process tree); idle CPU over
             ``--idle`` seconds; SIGTERM to exit. For the CLI and, when built, the binary
             (dist/executor, or EXECUTOR_BINARY). Then RSS before, halfway through and after
             10,000 finished single-step runs (CLI), so growth is visible
  history    an empty database and one of 1,000,000 finished 10-step runs (--quick: 2,000;
             bulk SQL), side by side: claim transactions (in-process), POST /runs (client)
             and the run's created_at -> finished_at, first pages of GET /runs?workflow=W&
             status=succeeded (client); p50/p99, ratios full / empty (target <= 1.5), bytes
             per finished run, the build's seconds
  artifacts  one 200 MiB artifact (--quick: 8) left by a shell step, kept in the database
             (chunks_in_db) and in --artifacts-dir (files_in_dir): upload MiB/s = size / (the
             step's finished_at - the moment its command ended, printed by the command);
             download MiB/s = size / the client's time to read GET .../artifacts/make/blob.bin
             whole; the service's RSS before and its peak during each (sampled every 20 ms)
  peers      scripts/bench-peers (DBOS, PgQueuer, Procrastinate in their own venv) run as a
             subprocess; its JSON lines become ``peers`` figures. Skipped by ``--quick``
             unless named in ``--only``
Ratios: for every Executor figure with a matching peer figure in the same invocation and on
the same database, a ``ratio`` figure = Executor / peer: chains vs each DBOS system's chain
(dbos-sqlite and dbos-sqlite-wal on SQLite, dbos-postgres), chain_long vs DBOS chain_long,
and single-step runs/s on PostgreSQL vs PgQueuer and Procrastinate jobs/s (targets >= 1, >= 10;
batched: vs PgQueuer, >= 1).

Output: one JSON line per figure as soon as it is measured (``workload, variant, metric,
value, unit, database, target?, target_met?, samples, cores, repeat`` and details such as
``shape``), then a table. ``value`` is the median of ``--repeat`` repetitions (default 3);
``samples`` holds each repetition's value. Timing lives here, never in pass/fail tests.
"""

# One concern a module: cli (arguments, which workloads run) drives a Suite (suite: repetitions
# and medians) through workloads/ (one module a group of workloads), which use databases (fresh
# migrated copies), processes (executor instances, /proc), load (HTTP to the service) and
# workflows (the YAML submitted); figures says what a figure is, report prints them.
