"""Process settings for a long-running bot that handles arrays of millions of entries.

Applied by `gigaspot-bot run` and by both benchmarks (which measure what `run` does). On
the 2-core VM these figures were measured on, a first cycle at 10,000 servers x 10,000
rules spent more time in the kernel and the garbage collector than in its own work:

- numpy asks for transparent huge pages (`madvise`) on every array of 4 MB or more; where
  the kernel cannot give them (THP "madvise" with direct compaction, no huge page ever
  granted), each such array paid for failed compactions: about 0.4 s of system time;
- glibc hands large freed blocks back to the kernel at once, so the next cycle's arrays
  fault their pages in again; keeping up to `_KEEP_FREED` bytes mapped lets them be reused;
- numpy calls give up the GIL and take it back; while the event loop runs Python (answers
  to a busy chat), each take-back by the matcher's thread waited up to Python's switch
  interval, 5 ms: a 0.3 s update took 11.6 s beside a busy Python thread, 1.6 s with
  `SWITCH_INTERVAL` (`python -m tests.market.measure_switch_interval`);
- Python's cyclic collector ran about 600 times during a first cycle (thousands of
  messages, states and rows are built) and rescanned every long-lived object (rules,
  interners, SQLAlchemy, the Telegram stack): rarer young collections, and `settle()`
  moves what start-up built out of the collector's sight (`gc.freeze`).

Nothing here changes behaviour, only when memory is returned and garbage collected.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import sys

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -2, -3, -8
_KEEP_FREED = 256 << 20  # freed heap kept mapped, for reuse by the next arrays
_MMAP_THRESHOLD = 32 << 20  # glibc's largest: blocks below come from the heap
SWITCH_INTERVAL = 0.0005  # s; Python's default is 0.005 (see above)
_YOUNG_THRESHOLD = 100_000  # allocations between young collections (Python's default: 700)
_tuned = False  # settle() acts only in a process tune() set up (not in in-process tests)


def tune() -> None:
    """Call once, early, before worker threads start."""
    global _tuned
    _tuned = True
    try:
        from numpy._core.multiarray import (  # type: ignore[attr-defined]  # not in the stubs
            _set_madvise_hugepage,
        )
    except ImportError:  # pragma: no cover - numpy < 2
        from numpy.core.multiarray import _set_madvise_hugepage  # type: ignore[no-redef]
    _set_madvise_hugepage(False)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):  # not glibc: its defaults stay
            log.debug("mallopt not available")
        else:
            # one arena: worker threads' arrays reuse the same freed memory
            mallopt(_M_ARENA_MAX, 1)
            mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
            mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED)
            mallopt(_M_TOP_PAD, 64 << 20)
    _, middle, old = gc.get_threshold()
    gc.set_threshold(_YOUNG_THRESHOLD, middle, old)
    sys.setswitchinterval(SWITCH_INTERVAL)


def settle() -> None:
    """After start-up (rules registered, memory restored): what exists now lives as long
    as the process, so later collections need not scan it again. A no-op unless `tune()`
    ran (tests start the application many times in one process)."""
    if not _tuned:
        return
    # No gc.collect() first: it cost 0.1 s on the way to the first cycle after a restart, and
    # what cyclic garbage start-up leaves (imports, compiled statements) is small.
    gc.freeze()
