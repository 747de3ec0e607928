"""Where the database is: the URL a user gives, and the dialect it selects."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class DatabaseURL:
    """A database location: `dialect` picks the store and the migrations folder."""

    url: str
    dialect: Literal["sqlite", "postgres"]

    @property
    def sqlite_path(self) -> Path:
        assert self.dialect == "sqlite"
        return Path(self.url[len("sqlite:///") :])

    def redacted(self) -> str:
        """The URL with any password replaced, for logs and error messages."""
        return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", self.url)

    @classmethod
    def parse(cls, text: str) -> DatabaseURL:
        text = text.strip()
        if text.startswith("sqlite:///"):
            path = text[len("sqlite:///") :]
            if not path or path == ":memory:" or path.startswith("file:"):
                raise ValueError(
                    "SQLite needs a file path (sqlite:///executor.db for a relative path, "
                    "sqlite:////var/lib/executor/executor.db for an absolute one)"
                )
            return cls(text, "sqlite")
        if text.startswith(("postgresql://", "postgres://")):
            return cls(text, "postgres")
        scheme = text.split("://", 1)[0] if "://" in text else text
        raise ValueError(f"unknown database URL scheme in {scheme!r}: use sqlite:///PATH or postgresql://...")
