"""Entry-point wrapper: user errors become one line on stderr and a non-zero exit; a stage's
outputs are replaced together when it succeeds (charlm.io.outputs_together). And the two streams:
results and reports go to stdout through `write_line`, which turns an output that cannot take
them into one error line; messages go to stderr through `say`, which never fails."""

import ctypes
import errno
import os
import signal
import sys
from typing import Callable

from charlm.errors import UserError
from charlm.io import outputs_pending, outputs_together

_PR_SET_PDEATHSIG = 1  # Linux prctl: a signal this process gets when its parent ends


def warn(message: str) -> None:
    say(f"warning: {message}")


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


def say(message: str) -> None:
    """One line on stderr. Messages, warnings and progress are not results: a stderr that cannot
    take them (gone with the parent, a full disk, /dev/full) loses them and nothing else."""
    if sys.stderr is None:  # `2>&-` (print would fall back to stdout)
        return
    try:
        print(message, file=sys.stderr, flush=True)
    except OSError:
        pass


def write_line(text: str = "", flush: bool = False) -> None:
    """Print one line of results on stdout (see `write`)."""
    write(text + "\n", flush)


def write(text: str, flush: bool = False) -> None:
    """Print results on stdout; an output that cannot take them is the user's to fix
    (`> /dev/full`, a locale whose encoding lacks the characters), and is one error line."""
    if sys.stdout is None:  # `>&-`
        raise UserError("standard output is closed, so the results would be lost; "
                        "redirect it to a file or a pipe instead")
    try:
        sys.stdout.write(text)
        if flush:
            sys.stdout.flush()
    except UnicodeEncodeError as e:
        raise _unencodable(e) from None
    except BrokenPipeError:
        raise
    except OSError as e:
        raise _output_failed(e) from None


def check_output_encoding(text: str) -> None:
    """Fail now, not after the work, if stdout's encoding cannot write `text` (which the results
    will hold, as a continuation holds its prefix)."""
    if sys.stdout is None or not sys.stdout.encoding:
        return
    try:
        text.encode(sys.stdout.encoding, errors=sys.stdout.errors or "strict")
    except UnicodeEncodeError as e:
        raise _unencodable(e) from None


def _unencodable(e: UnicodeEncodeError) -> UserError:
    character = f"U+{ord(e.object[e.start]):04X}"  # a code point, which any stderr can show
    return UserError(f"standard output's encoding ({sys.stdout.encoding}) cannot write {character}; "
                     f"use a UTF-8 locale or set PYTHONIOENCODING=utf-8")


def flush_output() -> None:
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        raise _output_failed(e) from None


def _output_failed(e: OSError) -> UserError:
    _discard_output()  # what is left in the buffer goes nowhere, so that Python's flush at exit fails no second time
    hint = "; free some space or write elsewhere" if e.errno in (errno.ENOSPC, errno.EDQUOT) else ""
    # A stage's report comes before its outputs replace the earlier ones, which it then leaves.
    kept = "; the earlier outputs are as they were" if outputs_pending() else ""
    return UserError(f"standard output: cannot write ({e.strerror}){kept}{hint}")


def _discard_output() -> None:
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def run_stage(main: Callable[[], None]) -> None:
    """Run `main`; a UserError exits with status 1 and no traceback (bugs keep theirs). The files
    it writes replace the earlier outputs together once it has succeeded and its report on stdout
    is out; if anything fails first, no output changes."""
    try:
        end_with_parent()
        with outputs_together():
            main()
            flush_output()
    except UserError as error:
        say(f"error: {error}")
        sys.exit(1)
    except BrokenPipeError:
        # The reader (`| head`) went away: stop quietly, as command-line tools do.
        _discard_output()
        sys.exit(1)
    except KeyboardInterrupt:
        say("error: interrupted")
        sys.exit(130)
    except Stopped:
        say("error: stopped (SIGTERM, or the parent process ended); earlier outputs are as they were")
        sys.exit(143)
