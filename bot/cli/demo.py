"""`rmbot demo`: build the demo workspace and serve it (being written)."""

from __future__ import annotations
