"""One file's failure as a plain message: the batch goes on, the traceback goes to the log.

Every place that analyses many files (``core predict``, dataset extraction, the Classify page, table
uploads on the Explore page) turns any exception raised for one file into that file's message with
:func:`failure_message`, so a bug or a library failure on one file never stops the others.
"""

from __future__ import annotations

import logging

from core.audio import AudioError

log = logging.getLogger("core.failures")
EXPECTED: tuple[type[BaseException], ...] = (AudioError,)


def failure_message(exc: BaseException, what: str, expected: tuple[type[BaseException], ...] = EXPECTED) -> str:
    """The message for ``what`` (a file name) failing with ``exc``.

    An ``expected`` error (by default :class:`~core.audio.AudioError`) already speaks to the person who
    chose the file and is returned as it is; anything else is logged with its traceback and summarised.
    """
    if isinstance(exc, expected):
        return str(exc)
    log.error("analysing %s failed", what, exc_info=exc)
    return (f"Could not be analysed because of an internal error ({type(exc).__name__}); the details are in "
            "the log. Other files are not affected.")
