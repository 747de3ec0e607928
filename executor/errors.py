"""The one hierarchy of errors Executor raises on purpose.

Every `ExecutorError` carries a message that is safe to show a user (no traceback, no
secrets) and says how the edge should report it: the CLI exits with `exit_code`, the
HTTP layer answers `http_status` with `{"error": {"code": code, "message": message}}`.
Errors from drivers are wrapped with ``raise ... from exc`` so the log keeps the cause.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class ExecutorError(Exception):
    code = "internal_error"
    http_status = 500
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(ExecutorError):
    """A setting has a value Executor cannot use; `setting` names it as the user wrote it."""

    code = "invalid_setting"
    exit_code = 2

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"invalid {setting}: {message}")
        self.setting = setting


class StartupError(ExecutorError):
    """The service cannot start (port taken, database unreachable, ...)."""


class StoreError(ExecutorError):
    """The database failed or could not be reached."""

    code = "database_unavailable"
    http_status = 503


class StoreConflict(StoreError):
    """Two transactions got in each other's way (a deadlock); running it again will do."""


class SchemaError(StoreError):
    """The database schema is not the one this binary was built for."""

    code = "schema_mismatch"


class MigrationError(StoreError):
    """Applying migrations failed; nothing past the failing migration was applied."""

    code = "migration_failed"


class LifecycleError(ExecutorError):
    """A lifecycle transition that the state table does not allow."""

    code = "invalid_state"
    http_status = 409


class WorkflowInvalid(ExecutorError):
    """A workflow definition breaks the language; `problems` lists every one found, not the first."""

    code = "invalid_workflow"
    http_status = 422
    exit_code = 1

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        heading = f"the workflow has {count} problem{'' if count == 1 else 's'}:"
        super().__init__("\n".join([heading, *(f"  {problem}" for problem in self.problems)]))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a workflow, located by path (``steps[2].retry.delay``) and line."""

    path: str
    line: int | None
    message: str
    file: str | None = None

    def __str__(self) -> str:
        if self.file and self.line:
            where = f"{self.file}:{self.line}: "
        elif self.file:
            where = f"{self.file}: "
        elif self.line:
            where = f"line {self.line}: "
        else:
            where = ""
        return f"{where}{self.path}: {self.message}" if self.path else f"{where}{self.message}"


class ExpressionError(ExecutorError):
    """A template failed while it was rendered (undefined name, unsafe access, bad operation)."""

    code = "expression_error"
    http_status = 422


class InputInvalid(ExecutorError):
    """A run's input does not match the workflow's input schema; `problems` are (JSON path, message)."""

    code = "invalid_input"
    http_status = 422

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        super().__init__(
            "invalid input: " + "; ".join(f"{path}: {message}" for path, message in self.problems)
        )


class RunNotFound(ExecutorError):
    """No run has that id."""

    code = "not_found"
    http_status = 404


class StepNotFound(ExecutorError):
    """The run's workflow has no step by that id."""

    code = "not_found"
    http_status = 404


class ParameterInvalid(ExecutorError):
    """A request's parameter names what the run does not have (a for_each item out of range,
    an item of a step without for_each); `parameter` names it, `detail` says why."""

    code = "invalid_request"
    http_status = 422

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(f"{parameter}: {detail}")
        self.parameter = parameter
        self.detail = detail


class WorkflowNotFound(ExecutorError):
    """No workflow (or no such version of it) is registered under that name."""

    code = "not_found"
    http_status = 404


class RunStateConflict(ExecutorError):
    """The action does not apply to the run in its current state (cancel a finished run...)."""

    code = "conflict"
    http_status = 409

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


class ArtifactRefused(ExecutorError):
    """A step's files cannot become its artifacts (over a size limit, a name that is not a
    relative path, a declared path that does not exist): the attempt fails with this."""

    code = "artifact_refused"
    http_status = 422


class ArtifactNotFound(ExecutorError):
    """The run has no kept artifact by that step, item and name."""

    code = "not_found"
    http_status = 404
