"""Text data: `TokenizedTextDataModule` (imports lightning, so it loads on first use) and the embedded corpus."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autointerp.data.module import TokenizedTextDataModule

__all__ = ["TokenizedTextDataModule"]


def __getattr__(name: str) -> Any:
    """Load the DataModule lazily: importing `autointerp.data` must not import lightning."""
    if name == "TokenizedTextDataModule":
        from autointerp.data.module import TokenizedTextDataModule

        return TokenizedTextDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
