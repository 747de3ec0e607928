"""Executor: a durable workflow executor that ships as one binary."""

__version__ = "0.1.0"
