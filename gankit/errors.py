"""The one exception type for user mistakes.

Anything a user can fix (a wrong name, a missing file, a bad config value) raises `UserError` with
a one-line message that says what is wrong and what to do. The command line prints it without a
traceback and exits with code 2.
"""


class UserError(Exception):
    """A mistake the user can fix; `str(err)` is the whole message, one line."""

    exit_code = 2
