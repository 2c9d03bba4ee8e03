"""What a user wants to hear, and how: pure decisions over their alert settings. No I/O.

Each kind of alert is on, silent (delivered with `disable_notification`) or off. `/pause`
pauses match alerts only (until `/resume`, or until a time). Quiet hours, in the user's time
zone, hold match alerts for one digest when they end and make every other alert silent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.i18n import N_, Say

AlertKind = Literal["match", "outbid", "autoraise", "orders", "market", "balance"]
ALERT_KINDS: tuple[str, ...] = get_args(AlertKind)
Mode = Literal["on", "silent", "off"]
MODES: tuple[str, ...] = get_args(Mode)
# What happens to one alert: sent with sound, sent silently, dropped, held for the digest.
Route = Literal["send", "silent", "drop", "hold"]

MAX_PAUSE = timedelta(days=365)
_DURATION = re.compile(r"(\d+)\s*(d|h|m|min|w)", re.IGNORECASE)
_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "min": 60}
_CLOCK = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*[-–]\s*(\d{1,2})(?::(\d{2}))?\s*$")
_OFFSET = re.compile(r"^(?:utc|gmt)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)


KIND_NAMES = {
    "match": N_("Match alerts"),
    "outbid": N_("Outbid alerts"),
    "autoraise": N_("Automatic raises"),
    "orders": N_("Order news"),
    "market": N_("Market status"),
    "balance": N_("Low balance"),
}
MODE_NAMES = {"on": N_("on"), "silent": N_("silent"), "off": N_("off")}


class BadSetting(ValueError):
    """A setting as typed cannot be understood; `say` tells what would work."""

    def __init__(self, say: Say) -> None:
        self.say = say
        super().__init__(say.english())


@dataclass(frozen=True, slots=True)
class AlertPrefs:
    modes: dict[str, str] = field(default_factory=dict)  # kind -> mode; missing: "on"
    paused: bool = False
    paused_until: datetime | None = None
    quiet_start: int | None = None  # minutes after local midnight
    quiet_end: int | None = None
    time_zone: str | None = None

    def mode(self, kind: str) -> str:
        return self.modes.get(kind, "on")

    def match_paused(self, now: datetime) -> bool:
        if not self.paused:
            return False
        return self.paused_until is None or now < self.paused_until

    def zone(self) -> tzinfo:
        return zone_of(self.time_zone)

    def quiet_now(self, now: datetime) -> bool:
        if self.quiet_start is None or self.quiet_end is None:
            return False
        local = now.astimezone(self.zone())
        minute = local.hour * 60 + local.minute
        start, end = self.quiet_start, self.quiet_end
        if start <= end:
            return start <= minute < end
        return minute >= start or minute < end  # over midnight

    def quiet_ends_at(self, now: datetime) -> datetime | None:
        """When the quiet hours `now` is in end (None when not in quiet hours)."""
        if not self.quiet_now(now) or self.quiet_end is None:
            return None
        local = now.astimezone(self.zone())
        end = local.replace(
            hour=self.quiet_end // 60, minute=self.quiet_end % 60, second=0, microsecond=0
        )
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(UTC)


def route(prefs: AlertPrefs, kind: str, now: datetime) -> Route:
    """How one alert of `kind` reaches this user at `now`."""
    mode = prefs.mode(kind)
    if mode == "off":
        return "drop"
    if kind == "match":
        if prefs.match_paused(now):
            return "drop"
        if prefs.quiet_now(now):
            return "hold"
    elif prefs.quiet_now(now):
        return "silent"
    return "silent" if mode == "silent" else "send"


def match_muted(prefs: AlertPrefs, now: datetime) -> bool:
    """Match alerts are not wanted now at all (paused or off): the pairs count as told."""
    return prefs.mode("match") == "off" or prefs.match_paused(now)


def parse_modes(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k in ALERT_KINDS and v in MODES}


def dump_modes(modes: dict[str, str]) -> str | None:
    kept = {k: v for k, v in sorted(modes.items()) if v != "on"}
    return json.dumps(kept, separators=(",", ":")) if kept else None


def next_mode(mode: str) -> Mode:
    """The settings button cycles on -> silent -> off -> on."""
    return {"on": "silent", "silent": "off"}.get(mode, "on")  # type: ignore[return-value]


def parse_duration(text: str) -> timedelta:
    """`2h`, `30m`, `1d`, `1h30m`, `90` (minutes)."""
    word = text.strip().lower().replace(" ", "")
    if word.isdigit():
        seconds = int(word) * 60
    else:
        parts = _DURATION.findall(word)
        if not parts or "".join(n + u for n, u in parts) != word:
            raise BadSetting(Say("Give a duration like 30m, 2h, 1d or 1h30m."))
        seconds = sum(int(n) * _UNITS[u.lower()] for n, u in parts)
    if seconds <= 0:
        raise BadSetting(Say("The duration must be longer than zero."))
    if seconds > MAX_PAUSE.total_seconds():
        raise BadSetting(Say("At most 365 days; /pause alone pauses until /resume."))
    return timedelta(seconds=seconds)


def parse_quiet(text: str) -> tuple[int, int]:
    """`23:00-07:00` (or `23-7`) -> minutes after midnight, start and end."""
    found = _CLOCK.match(text)
    if not found:
        raise BadSetting(Say("Give quiet hours like 23:00-07:00, or /quiet off."))
    h1, m1, h2, m2 = (int(g) if g else 0 for g in found.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise BadSetting(Say("Hours go from 00:00 to 23:59, e.g. 23:00-07:00."))
    start, end = h1 * 60 + m1, (h2 % 24) * 60 + m2
    if start == end:
        raise BadSetting(Say("The quiet hours start and end at the same time."))
    return start, end


def parse_zone(text: str) -> str:
    """An IANA name (`Europe/Berlin`) or an offset (`UTC+3`, `+03:00`, `-5`), canonical."""
    word = text.strip()
    if offset := _OFFSET.match(word.replace(" ", "")):
        sign, hours, minutes = offset.group(1), int(offset.group(2)), int(offset.group(3) or 0)
        if hours > 14 or minutes > 59:
            raise BadSetting(Say("An offset goes from UTC-12 to UTC+14."))
        return f"UTC{sign}{hours:02d}:{minutes:02d}"
    if word.upper() in {"UTC", "GMT", "Z"}:
        return "UTC"
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+\-/]{1,63}", word):
        raise BadSetting(Say("Give a time zone like Europe/Berlin, or an offset like UTC+3."))
    for candidate in (word, "/".join(p[:1].upper() + p[1:] for p in word.split("/"))):
        try:
            ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        return candidate
    raise BadSetting(Say(
        "I do not know the time zone {zone}. Give a name like Europe/Berlin, or an offset "
        "like UTC+3.",
        zone=word[:40],
    ))  # fmt: skip


def zone_of(name: str | None) -> tzinfo:
    if not name or name == "UTC":
        return UTC
    if offset := _OFFSET.match(name):
        sign = -1 if offset.group(1) == "-" else 1
        delta = timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3) or 0))
        return timezone(sign * delta)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
