"""Pages of a long list (the inbox, Mina ärenden): which rows a page shows, from `?sida=N`."""

from __future__ import annotations

from dataclasses import dataclass

PAGE_SIZE = 50


def page_number(text: str | None) -> int:
    """The page asked for in `?sida=`: a positive number, else the first."""
    return int(text) if text and text.isdigit() and 0 < int(text) < 10**6 else 1


@dataclass(frozen=True)
class Page:
    """Page `number` (1-based) of `pages`, each of `size` rows."""

    number: int
    pages: int
    size: int = PAGE_SIZE

    @classmethod
    def of(cls, number: int, total: int, size: int = PAGE_SIZE) -> Page:
        """The page asked for, or the last one where it lies beyond the end."""
        pages = max(1, -(-total // size))
        return cls(min(max(number, 1), pages), pages, size)

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None
