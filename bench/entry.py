"""How every bench script ends: a user mistake (gankit's UserError: data not found, a bad flag
value) is one line on stderr and exit code 2, as with `gankit` itself; Ctrl-C or SIGTERM ends it
with one line too and exit code 130 or 143 (128 + the signal, as `gankit train`), after the `with`
blocks it was in have closed (a training run's temporary folder removed, a results file's claim
dropped); anything else keeps its traceback. Usage, at the end of a bench:
`if __name__ == "__main__": run(main)`."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from gankit.errors import UserError  # noqa: E402
from gankit.training import interrupt  # noqa: E402


def _terminate(signum, frame):
    interrupt.note(signum)  # exit code 143, as `gankit train` stopped by SIGTERM
    raise KeyboardInterrupt  # unwinds like Ctrl-C (during training, gankit's trainer defers it a step)


def run(main: Callable[[], Optional[int]]) -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        code = main()
    except UserError as e:
        print(f"{Path(sys.argv[0]).name}: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print(f"{Path(sys.argv[0]).name}: interrupted", file=sys.stderr)
        sys.exit(interrupt.exit_code())  # 128 + the first signal: 130 for Ctrl-C, 143 for SIGTERM
    sys.exit(code or 0)
