"""Executor's chaos script for issue #11 (run it with scripts/chaos): the kill loops a user
fears, bounded by ``--minutes`` and ``--kills``, and the figures that say what they cost.

Per backend, a fresh database (``executor migrate``, then ``executor serve --skip-migrations``
with every other setting at its default: lease, retries, concurrency) and a steady load of
runs (``--rate`` a second, POSTed to a random live instance with an idempotency key, retried
elsewhere while instances die) of the workflow ``chaos``: shell ``prepare`` -> shell ``work``
-> noop ``finish``. Each shell attempt appends ``<time> start|done <run> <step> <attempt>
<pid> <instance>`` to a side-effect file when it starts and when it ends, sleeps a random
0..``--max-pause`` s in between (``prepare`` a quarter of that) so that kills land mid-step,
and prints ``<instance> <pid> <attempt>``, which becomes its recorded output; ``finish``
copies both outputs. Meanwhile, at random moments within the window:
  sqlite    the one instance is killed (SIGKILL to its process group) and started again
  postgres  a fleet of ``--instances``: a random one is killed and started again; at other
            moments (``--terminations``) pg_terminate_backend ends every connection to the
            database; with ``--postgres-restart``, the server itself is restarted once
A kill picks among the instances running shell commands at that moment (waiting up to 5 s
for one), so that it lands mid-step.
Each instance start is an incarnation with a name (``sqlite-i0-r2``: slot 0, restart 2) in
the environment variable CHAOS_INSTANCE, which its shell commands inherit. At the end of the
window submissions stop and every accepted run is waited for (``--drain-timeout``); the
instances are stopped with SIGTERM; then the figures, from the database, the side-effect
file, and what was seen during the window:

  submitted     runs POSTed (one idempotency key each); ``accepted`` of them got a run id
                (a POST retried for 60 s without an answer counts as refused, not lost)
  finished      accepted runs that succeeded
  failed        accepted runs that failed or were cancelled, grouped by error; ``by kills``:
                those whose error names a lost executor, a lease, a killed command or the
                database connection. The workload's commands never fail on their own, so
                any failed run is a failure of durability
  lost          accepted runs missing from the database, or not final at the drain deadline
  twice         steps whose completion was recorded more than once. The schema has one row
                per step, so a second recording shows as a change: the succeeded rows are
                read at every kill, every termination and every 5 s; a step counts when
                (a) its recorded completion (attempt, finished_at, output) later changed or
                stopped being succeeded, or (b) an attempt of it started (side-effect line)
                after its completion had been seen recorded, (c) ``finish`` consumed an
                output of ``prepare`` or ``work`` that is not their final recorded one, or
                (d) the step's attempt history (``steps.history``, where the schema has
                it) holds more than one ``succeeded`` attempt
  duplicates    side effects repeated: per shell step, the commands started (distinct
                instance and pid among its start lines) minus one, summed; and per kill.
                Expected: a step runs at least once, and a kill mid-step runs it again
  orphans       commands of a killed instance still running ``--orphan-grace`` s after the
                kill: found in /proc by CHAOS_INSTANCE in their environment at that moment,
                or by a ``done`` line of theirs stamped later than that
  longest wait  for each kill, the shell steps whose latest attempt before it ran on the
                killed instance and whose recorded completion is not that attempt
                (``interrupted``): from the kill to the next start line of the step, the
                longest; interrupted steps never started again are counted apart
Exit status: 0 when every backend shows 0 failed, 0 lost, 0 twice and 0 orphans; 1 when
any does not (its working directory is kept: logs, side effects, the SQLite file); 2 for
bad arguments; 3 when the chaos itself could not be carried out. ``--json`` prints one JSON
object per backend instead of the report. ``--kills 0 --terminations 0`` is the control:
the same load without chaos, which must show zeros everywhere.
"""

# One concern a module: cli (arguments, backends, exit status) runs a phase per backend
# (phase: database, fleet, load, chaos, drain, evidence), which uses databases (create,
# migrate, read-only SQL, backend terminations), fleet (executor incarnations: start, kill,
# stop), workload (the workflow, its side-effect command, the steady submitter), chaos (the
# schedule of events and carrying them out), orphans (/proc); figures computes every figure
# from the evidence alone (no I/O), report prints them.
