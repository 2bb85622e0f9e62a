"""The one exception type for mistakes a user can fix (bad corpus, bad params, bad prefix)."""


class UserError(Exception):
    """A problem in the user's input. Entry points print it as one `error: ...` line."""
