"""The one hierarchy of errors Executor raises on purpose.

Every `ExecutorError` carries a message that is safe to show a user (no traceback, no
secrets) and says how the edge should report it: the CLI exits with `exit_code`, the
HTTP layer answers `http_status` with `{"error": {"code": code, "message": message}}`.
Errors from drivers are wrapped with ``raise ... from exc`` so the log keeps the cause.
"""

from __future__ import annotations


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
