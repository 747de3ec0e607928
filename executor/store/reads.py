"""The `Store` reads both backends make alike: one named query outside a transaction, its
rows decoded by `common`. A backend gives the primitives they stand on (`_fetch_text`,
`_now_param`) and the shapes of its values (`_decode`, `_encode_list`); what it does its
own way (a read in a transaction of its own, a uuid checked first) it keeps."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from executor.statuses import RunStatus, StepStatus
from executor.store import common
from executor.store.base import Store
from executor.store.records import (
    Instance,
    LlmCallRecord,
    LlmTotals,
    Place,
    RunFilter,
    RunRecord,
    ScheduleRow,
    StoredLogLine,
    WorkflowRecord,
    WorkflowVersion,
)

R = TypeVar("R", bound=common.Row)


class SharedReads(Store, Generic[R]):
    """A `Store` whose reads are its dialect's named queries ``_sql``, run by `_fetch`."""

    _sql: dict[str, str]
    # How the dialect's JSON columns read (text to decode, or decoded by the driver), and
    # how it takes a list parameter (`common.run_filter`'s ``statuses``).
    _decode: Callable[[Any], Any]
    _encode_list: Callable[[list[Any]], Any]

    @abc.abstractmethod
    async def _fetch_text(self, query: str, params: dict[str, Any] | None = None) -> list[R]:
        """The rows of ``query``, run outside any write transaction; driver errors as
        `StoreError`."""

    @abc.abstractmethod
    def _now_param(self) -> float | None:
        """The queries' parameter ``now``: this store's clock (None: the database's)."""

    async def _fetch(self, name: str, params: dict[str, Any] | None = None) -> list[R]:
        return await self._fetch_text(self._sql[name], params)

    async def ping(self) -> None:
        await self._fetch("ping")

    # -- instances -----------------------------------------------------------------------

    async def list_instances(self) -> list[Instance]:
        return [common.instance(row) for row in await self._fetch("list_instances")]

    async def steps_in_flight(self) -> dict[str, int]:
        return {row["lease_owner"]: int(row["steps"]) for row in await self._fetch("steps_in_flight")}

    async def dead_local_instances(self, host: str, alive: Sequence[int]) -> list[Instance]:
        rows = await self._fetch("dead_local_instances", {"host": host})
        return [common.instance(row) for row in rows if row["pid"] not in alive]

    # -- workflows -----------------------------------------------------------------------

    async def get_workflow(self, name: str, version: int | None = None) -> WorkflowRecord | None:
        if version is None:
            rows = await self._fetch("latest_workflow", {"name": name})
        else:
            rows = await self._fetch("workflow_version", {"name": name, "version": version})
        return common.workflow_record(rows[0], self._decode) if rows else None

    async def list_workflows(self) -> list[WorkflowRecord]:
        return [common.workflow_record(row, self._decode) for row in await self._fetch("list_workflows")]

    async def list_workflow_versions(self, name: str) -> list[WorkflowVersion]:
        rows = await self._fetch("workflow_versions", {"name": name})
        return [common.workflow_version(row) for row in rows]

    # -- schedules -----------------------------------------------------------------------

    async def list_schedules(self, workflow: str | None = None) -> list[ScheduleRow]:
        rows = await self._fetch("list_schedules", {"workflow_name": workflow})
        return [common.schedule_row(row, self._decode) for row in rows]

    async def get_schedule(self, workflow: str, schedule_id: str) -> ScheduleRow | None:
        rows = await self._fetch("get_schedule", {"workflow_name": workflow, "schedule_id": schedule_id})
        return common.schedule_row(rows[0], self._decode) if rows else None

    async def due_schedules(self, limit: int) -> list[tuple[str, str]]:
        rows = await self._fetch("due_schedules", {"now": self._now_param(), "limit": limit})
        return [(row["workflow_name"], row["schedule_id"]) for row in rows]

    async def next_schedule_due(self) -> float | None:
        rows = await self._fetch("next_schedule_due")
        due: float | None = rows[0]["due_at"]
        return due

    # -- runs ----------------------------------------------------------------------------

    async def list_runs(
        self,
        filter: RunFilter = RunFilter(),
        *,
        before: tuple[float, str] | None = None,
        limit: int = 50,
    ) -> list[RunRecord]:
        query = common.run_filter(self._sql, "list_runs", filter, before, self._encode_list)
        if query is None:
            return []  # no run has an id that cannot be a run's
        text, params = query
        rows = await self._fetch_text(text, {**params, "limit": limit})
        return [common.run_record(row, self._decode) for row in rows]

    async def count_runs(self, filter: RunFilter = RunFilter()) -> int:
        query = common.run_filter(self._sql, "count_runs", filter, None, self._encode_list)
        if query is None:
            return 0
        return int((await self._fetch_text(*query))[0]["runs"])

    async def run_counts(self) -> dict[str, dict[RunStatus, int]]:
        return common.run_counts(await self._fetch("run_counts"))

    async def step_results(self, run_id: str) -> dict[str, tuple[StepStatus, Any]]:
        return common.step_results(await self._fetch("step_results", {"run_id": run_id}), self._decode)

    # -- claiming ------------------------------------------------------------------------

    async def expired_leases(self, limit: int) -> list[tuple[str, int, str]]:
        rows = await self._fetch("expired_leases", {"now": self._now_param(), "limit": limit})
        # str(): PostgreSQL's uuid columns (SQLite's are text already).
        return [(str(row["run_id"]), row["id"], str(row["lease_token"])) for row in rows]

    async def overdue_runs(self, limit: int) -> list[str]:
        rows = await self._fetch("overdue_runs", {"now": self._now_param(), "limit": limit})
        return [str(row["id"]) for row in rows]

    async def next_due(self) -> float | None:
        rows = await self._fetch("next_due")
        return rows[0]["due"] if rows else None

    # -- logs and metrics ----------------------------------------------------------------

    async def read_logs(self, step: int, after: int = 0, limit: int = 1000) -> list[StoredLogLine]:
        rows = await self._fetch("read_logs", {"step": step, "after": after, "limit": limit})
        return [common.log_line(row) for row in rows]

    async def step_counts(self) -> dict[str, int]:
        row = (await self._fetch("step_counts", {"now": self._now_param()}))[0]
        return {"ready": row["ready"], "running": row["running"]}

    async def run_traceparent(self, run_id: str) -> str | None:
        rows = await self._fetch("run_traceparent", {"id": run_id})
        return rows[0]["traceparent"] if rows else None

    # -- model calls ---------------------------------------------------------------------

    async def run_llm_totals(self, run_id: str) -> LlmTotals:
        if not common.is_uuid(run_id):
            return LlmTotals()
        row = (await self._fetch("run_llm_totals", {"run_id": run_id}))[0]
        return LlmTotals(
            calls=int(row["calls"]),
            input_tokens=int(row["input_tokens"]),
            output_tokens=int(row["output_tokens"]),
            cached_tokens=int(row["cached_tokens"]),
            reasoning_tokens=int(row["reasoning_tokens"]),
            cost_usd=float(row["cost_usd"]),
        )

    async def list_llm_calls(self, run_id: str, after: int = 0, limit: int = 1000) -> list[LlmCallRecord]:
        if not common.is_uuid(run_id):
            return []
        rows = await self._fetch("list_llm_calls", {"run_id": run_id, "after": after, "limit": limit})
        return [_llm_call(row) for row in rows]

    # -- mutual exclusion ----------------------------------------------------------------

    async def run_places(self, run_id: str) -> list[Place]:
        if not common.is_uuid(run_id):
            return []
        return [common.place(row) for row in await self._fetch("run_places", {"run_id": run_id})]

    async def places_under(self, key: str) -> list[Place]:
        return [common.place(row) for row in await self._fetch("places_under", {"key": key})]

    async def kept_places(self, age: float, limit: int) -> list[tuple[str, int | None]]:
        rows = await self._fetch("kept_places", {"now": self._now_param(), "age": age, "limit": limit})
        return [(str(row["run_id"]), row["step"]) for row in rows]


def _llm_call(row: common.Row) -> LlmCallRecord:
    return LlmCallRecord(
        id=row["id"],
        run_id=str(row["run_id"]),
        step_id=row["step_id"],
        item_index=row["item_index"],
        attempt=row["attempt"],
        model=row["model"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cached_tokens=row["cached_tokens"],
        reasoning_tokens=row["reasoning_tokens"],
        cost_usd=row["cost_usd"],
        seconds=row["seconds"],
        error=row["error"],
        created_at=row["created_at"],
    )
