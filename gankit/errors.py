"""The one exception type for user mistakes.

Anything a user can fix (a wrong name, a missing file, a bad config value) raises `UserError` with
a one-line message that says what is wrong and what to do. The command line prints it without a
traceback and exits with code 2.
"""


class UserError(Exception):
    """A mistake the user can fix; `str(err)` is the whole message, one line."""

    exit_code = 2


class NoClassifier(UserError):
    """No domain classifier for this data. `reason` says why; the message adds what `gankit eval`
    can use instead, which callers outside eval (projection) leave out."""

    def __init__(self, reason: str, instead: str = "use --extractor inception"):
        super().__init__(f"{reason}; {instead}")
        self.reason = reason
