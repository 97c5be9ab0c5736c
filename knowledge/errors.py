"""Errors of the knowledge base: one clear message naming the file and the reason."""

from __future__ import annotations


class KnowledgeError(Exception):
    """Base class of the knowledge base errors."""


class LoadError(KnowledgeError):
    """A file could not be loaded; `file` names it and `reason` says why, in plain words."""

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason


class DocumentNotFound(KnowledgeError):
    def __init__(self, name: str) -> None:
        super().__init__(f"{name}: no such document in the knowledge base")
        self.name = name
