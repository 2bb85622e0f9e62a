"""Entry-point wrapper: user errors become one line on stderr and a non-zero exit."""

import ctypes
import os
import signal
import sys
from typing import Callable

from charlm.errors import UserError

_PR_SET_PDEATHSIG = 1  # Linux prctl: a signal this process gets when its parent ends


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


class Stopped(Exception):
    """SIGTERM, or the parent process (`dvc repro`) gone."""


def _stop(signum, frame):
    raise Stopped


def end_with_parent() -> None:
    """End this process (through SIGTERM, so that its atomic writes clean up) when its parent
    ends: killing `dvc repro` must not leave a stage writing on as an orphan. Linux only."""
    signal.signal(signal.SIGTERM, _stop)
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent ended before the request took effect
        raise Stopped


def _say(message: str) -> None:
    try:
        print(message, file=sys.stderr, flush=True)
    except OSError:  # stderr went away with the parent
        pass


def run_stage(main: Callable[[], None]) -> None:
    """Run `main`; a UserError exits with status 1 and no traceback (bugs keep theirs)."""
    try:
        end_with_parent()
        main()
    except UserError as error:
        _say(f"error: {error}")
        sys.exit(1)
    except KeyboardInterrupt:
        _say("error: interrupted")
        sys.exit(130)
    except Stopped:
        _say("error: stopped (SIGTERM, or the parent process ended); earlier outputs are as they were")
        sys.exit(143)
