"""The price history of 180 days for every model stays under 50 MB, and pruning keeps it so.

Generated at the bound: every series of the generator's models (each GPU model x each GPU
count, plus its all-counts series) with 180 days of hourly aggregates and 48 hours of a
snapshot every 30 seconds (the default poll interval), prices in the ranges the market has.
Rows are written with sqlite3 directly (the repository's inserts would take minutes here).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from bot.db.engine import create_engine, session_factory
from bot.db.migrate import upgrade_to_head
from bot.db.repositories import price_history as repo
from bot.market.generate import GPU_COUNTS, GPU_MODELS

NOW = 1_800_000_000
LIMIT_MB = 50


def _rows(rng: random.Random, series: int, span: int, start: int, step: int, n: int
          ) -> Iterator[tuple[int, ...]]:  # fmt: skip
    for k in range(n):
        at = start + k * step
        for sid in range(1, series + 1):
            low = rng.randint(1_000, 400_000)  # 1 to 400 CLORE/day per GPU, in thousandths
            yield (sid, span, at, rng.randint(0, 500), rng.randint(0, 400), low,
                   low + rng.randint(0, 5_000), low + rng.randint(5_000, 20_000),
                   low + rng.randint(20_000, 90_000))  # fmt: skip


def _count(db: Path, where: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM price_points WHERE {where}").fetchone()[0]


async def test_180_days_of_every_model_fit_in_50_mb(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    url = f"sqlite+aiosqlite:///{db}"
    await upgrade_to_head(url)
    keys = [(m[0], c) for m in GPU_MODELS for c in sorted({*GPU_COUNTS, 0})]
    rng = random.Random(1)
    conn = sqlite3.connect(db)
    conn.executemany(
        "INSERT INTO price_series (id, model, gpu_count, first_at) VALUES (?, ?, ?, ?)",
        [(i, model, count, NOW - 200 * 86400) for i, (model, count) in enumerate(keys, 1)],
    )
    insert = "INSERT INTO price_points VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    # one day more than kept, of both kinds, for pruning to remove
    conn.executemany(insert, _rows(rng, len(keys), 3600, NOW - 181 * 86400, 3600, 181 * 24))
    conn.executemany(insert, _rows(rng, len(keys), 0, NOW - 72 * 3600, 30, 72 * 120))
    conn.commit()
    conn.close()
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s, s.begin():
            await repo.prune(s, list(range(1, len(keys) + 1)), NOW)
    finally:
        await engine.dispose()
    assert _count(db, "span = 0") == len(keys) * 48 * 120
    assert _count(db, "span = 3600") == len(keys) * 180 * 24
    assert _count(db, f"span = 0 AND at < {NOW - 48 * 3600}") == 0
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")  # the file as the kept rows need it (freed pages are reused)
    conn.close()
    size_mb = db.stat().st_size / 1e6
    assert len(keys) == 105
    assert size_mb < LIMIT_MB, f"{size_mb:.1f} MB"
