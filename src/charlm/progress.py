"""Signs of life on stderr while a long text is read, one pass per model.

`charlm score` of a text of millions of characters runs for minutes: the network, the n-gram
and, with --adaptive, each adaptive model read it in a pass of their own. For a text of at least
MIN_CHARACTERS, each pass prints a line when it starts, one every EVERY_SECONDS while it runs
and one when it ends:

    score: network: 5,000,000 characters to read
    score: network: 1,203,456 of 5,000,000 characters (24%), 5 s
    score: network: 5,000,000 characters in 21.3 s

A shorter text prints nothing, so the output of a short run is what it always was; stdout never
changes. The library's loops take `advance`, a callable given the characters read so far, and
call it as often as is cheap; only the clock decides when a line is printed.
"""

import contextlib
import time
from typing import Callable, Iterator

from charlm.cli import say

MIN_CHARACTERS = 100_000  # a shorter text reads in seconds: no progress lines
EVERY_SECONDS = 5.0


def ignore(done: int) -> None:
    """An `advance` that reports nothing."""


class Progress:
    """Progress lines for the passes over one text of `total` characters, each named by `step`."""

    def __init__(self, what: str, total: int, every: float, clock: Callable[[], float] = time.monotonic,
                 write: Callable[[str], None] = say):
        self.what, self.total, self.every, self.clock, self.write = what, total, every, clock, write

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[Callable[[int], None]]:
        """A pass named `name`: yields its `advance`; a line at its start, every `every` seconds, and its end."""
        start = last = self.clock()
        self.write(f"{self.what}: {name}: {self.total:,} characters to read")

        def advance(done: int) -> None:
            nonlocal last
            now = self.clock()
            if now - last >= self.every and done < self.total:  # the end has a line of its own
                last = now
                self.write(f"{self.what}: {name}: {done:,} of {self.total:,} characters ({100 * done // self.total}%), "
                           f"{now - start:.0f} s")

        yield advance
        self.write(f"{self.what}: {name}: {self.total:,} characters in {self.clock() - start:.1f} s")


class Quiet:
    """No progress: the passes over a short text."""

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[Callable[[int], None]]:
        yield ignore


QUIET = Quiet()


def for_text(what: str, total: int) -> Progress | Quiet:
    """Progress lines for a text of `total` characters if it is long enough to need them."""
    return Progress(what, total, EVERY_SECONDS) if total >= MIN_CHARACTERS else Quiet()
