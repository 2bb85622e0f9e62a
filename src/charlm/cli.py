"""Entry-point wrapper: user errors become one line on stderr and a non-zero exit."""

import sys
from typing import Callable

from charlm.errors import UserError


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def run_stage(main: Callable[[], None]) -> None:
    """Run `main`; a UserError exits with status 1 and no traceback (bugs keep theirs)."""
    try:
        main()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr, flush=True)
        sys.exit(130)
