"""One file's failure as a plain message: the batch goes on, the traceback goes to a log file.

Every place that analyses many files (``core predict``, dataset extraction, the Classify page, table
uploads on the Explore page) turns any exception raised for one file into that file's message with
:func:`failure_message`, so a bug or a library failure on one file never stops the others. Tracebacks
are appended to :func:`log_path` (``$CPUNK_LOG``, else ``classically-punk.log`` in the temp folder),
in worker processes too, and never shown to the person who chose the file. A ``python -m core`` command
that an unexpected error stops prints one line (:func:`command_failure`) and logs the traceback the same way.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

from core.audio import AudioError

LOG_ENV = "CPUNK_LOG"
EXPECTED: tuple[type[BaseException], ...] = (AudioError,)
log = logging.getLogger("core.failures")
log.propagate = False


def log_path() -> Path:
    """Where tracebacks of unexpected failures are appended."""
    return Path(os.environ.get(LOG_ENV) or Path(tempfile.gettempdir()) / "classically-punk.log")


def log_to(path: Path | None = None, verbose: bool | None = None) -> Path:
    """Send tracebacks to ``path`` (default :func:`log_path`; worker processes started later follow) and,
    when ``verbose``, to stderr as well (``None``: as before). Returns the path."""
    path = Path(path or log_path())
    os.environ[LOG_ENV] = str(path)
    if verbose is None:
        verbose = any(type(h) is logging.StreamHandler for h in log.handlers)
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [logging.FileHandler(path, encoding="utf-8", delay=True)]
    if verbose:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(message)s"))
        log.addHandler(handler)
    return path


def failure_message(exc: BaseException, what: str, expected: tuple[type[BaseException], ...] = EXPECTED,
                    *, name_log: bool = True) -> str:
    """The message for ``what`` (a file name) failing with ``exc``.

    An ``expected`` error (by default :class:`~core.audio.AudioError`) already speaks to the person who
    chose the file and is returned as it is; anything else is logged with its traceback and summarised,
    naming the log file unless ``name_log`` is false (a public server names no server path).
    """
    if isinstance(exc, expected):
        return str(exc)
    _log(exc, f"analysing {what} failed")
    where = f"the log ({log_path()})" if name_log else "the server's log"
    return (f"Could not be analysed because of an internal error ({type(exc).__name__}); the details are in "
            f"{where}. Other files are not affected.")


def command_failure(exc: BaseException, command: str) -> str:
    """The one line a ``python -m core`` command prints when ``exc`` stops it unexpectedly: what happened,
    naming the file when the exception does, and where the traceback was logged."""
    _log(exc, f"python -m core {command} failed")
    return (f"error: {command} stopped because of an internal error ({type(exc).__name__}: "
            f"{' '.join(str(exc).split()) or 'no message'}); the details are in the log ({log_path()}).")


def _log(exc: BaseException, headline: str) -> None:
    """Append ``headline`` and the traceback of ``exc`` to the log file (:func:`log_to` on first use)."""
    if not any(isinstance(h, logging.FileHandler) and h.baseFilename == str(log_path().absolute())
               for h in log.handlers):
        log_to()
    log.error("%s", headline, exc_info=exc)
