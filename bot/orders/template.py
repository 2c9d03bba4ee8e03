"""Order templates: what a new bid needs besides the server and the price.

`/template` takes `key=value` settings separated by spaces, like the watch rules:

    image=ubuntu pl=min core_offset=100 env=KEY:VALUE,K2:"a b" currency=CLORE-Blockchain

Pure: parsing, canonical formatting (`parse_template(format_template(t)) == t`) and the
check against one server's ranges that turns a template into a `NewOrder`. Limits come from
/work/shared/docs/gigaspot-api.md (create_gigaspot_orders).

Environment values may be secrets: an error about `env` names the variable or the item's
position, never a value, and other echoed input is cut to `ECHO_LIMIT` characters.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import msgspec

from bot.clore.models import DEFAULT_CURRENCY, NewOrder, Overclock
from bot.i18n import Say, say_n
from bot.market.ranking import best_competitor, energy
from bot.market.rules import unquote
from bot.market.snapshot import Gpu, Range, Server

UBUNTU_IMAGE = "a3f9c4d7e5b088d8a0bff880"
HIVEOS_IMAGE = "c9a4e2f6b7d488d8f0bab0ff"
IMAGE_ALIASES = {"ubuntu": UBUNTU_IMAGE, "hiveos": HIVEOS_IMAGE}
IMAGE_NAMES = {UBUNTU_IMAGE: "Ubuntu 24.04", HIVEOS_IMAGE: "HiveOS"}

MIN_PRICE = 0.0001  # CLORE/day, clore's accepted range for `price`
MAX_PRICE = 5000.0
ENV_MAX_SERIALISED = 12_288  # the serialised env must stay under this many characters
ENV_MAX_KEY = 128
ENV_MAX_VALUE = 1_536
MAX_WATTS = 10_000  # a typo guard, far above any GPU's power limit
MAX_MHZ = 100_000
ECHO_LIMIT = 40  # characters of the user's input an error message repeats

OVERCLOCK_FIELDS = ("core_lock", "mem_lock", "core_offset", "mem_offset")
KEY_ORDER = ("image", "pl", *OVERCLOCK_FIELDS, "env", "currency")
CLEARABLE = (*OVERCLOCK_FIELDS, "env")  # `key=none` removes the setting
EPS = 1e-9

_PIECE = re.compile(r"([A-Za-z_]+)=(.*)", re.DOTALL)
_IMAGE_ID = re.compile(r"[0-9a-f]{24}")
_INTEGER = re.compile(r"[+-]?\d+")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CURRENCY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_BARE_VALUE = re.compile(r"[A-Za-z0-9_./:@+=%-]+")  # env values printed without quotes

Power = int | Literal["min"]


def _shown(text: str) -> str:
    """The user's input as an error repeats it: short enough to read, never a wall."""
    return text if len(text) <= ECHO_LIMIT else text[: ECHO_LIMIT - 1] + "…"


def _is_env(piece: str) -> bool:
    return piece.lstrip().lower().startswith("env=")


def _blame(piece: str) -> str:
    """How an error names a piece of input: `env` for the environment, else the piece."""
    return "env" if _is_env(piece) else _shown(piece)


class TemplateError(ValueError):
    """A template (or a template on one server) that cannot be used; the message says why
    in plain words and `part` is the offending setting's text (or the server id)."""

    def __init__(self, message: Say, part: str) -> None:
        super().__init__(message.english())
        self.say = message  # for the user, in their language
        self.part = part


@dataclass(frozen=True)
class Template:
    """Not hashable (env is a dict); compare with ==."""

    image: str  # 24 lowercase hex characters
    power: Power = "min"  # watts per GPU, or each GPU's own lowest allowed limit
    core_lock: int | None = None  # MHz, the same for every GPU
    mem_lock: int | None = None
    core_offset: int | None = None
    mem_offset: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    currency: str = DEFAULT_CURRENCY


# ------------------------------------------------------------------------------ parsing


def _split(text: str, is_separator: Callable[[str], bool], part: str | None = None) -> list[str]:
    """Split on separators outside quotes ("..." with backslash escapes, or '...').

    An unclosed quote is blamed on `part`, or else on the piece it opens in."""
    pieces: list[str] = []
    current: list[str] = []
    start = i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char in "\"'":
            end = i + 1
            while end < n and text[end] != char:
                end += 2 if char == '"' and text[end] == "\\" else 1
            if end >= n:
                blamed = part or _blame(text[start:].strip())
                raise TemplateError(Say("{part}: a quote is not closed", part=blamed), blamed)
            current.append(text[i : end + 1])
            i = end + 1
            continue
        if is_separator(char):
            pieces.append("".join(current))
            current = []
            start = i + 1
        else:
            current.append(char)
        i += 1
    pieces.append("".join(current))
    return pieces


def _integer(piece: str, value: str, what: str | Say, low: int, high: int) -> int:
    digits = value.strip()
    if not (digits.isascii() and _INTEGER.fullmatch(digits)):
        raise TemplateError(
            Say(
                "{part}: {what} must be a whole number, not {value}",
                part=_shown(piece),
                what=what,
                value=repr(_shown(value)),
            ),
            piece,
        )
    # A huge number is out of range anyway; int() of thousands of digits raises ValueError.
    number = int(digits) if len(digits.lstrip("+-").lstrip("0")) <= 9 else None
    if number is None or not low <= number <= high:
        raise TemplateError(
            Say(
                "{part}: {what} must be between {low} and {high}",
                part=_shown(piece),
                what=what,
                low=low,
                high=high,
            ),
            piece,
        )
    return number


def _image(piece: str, value: str) -> str:
    value = value.strip().lower()
    image = IMAGE_ALIASES.get(value, value)
    if not _IMAGE_ID.fullmatch(image):
        raise TemplateError(
            Say(
                "{part}: the image must be ubuntu, hiveos or a 24-character image id "
                "from your clore registry",
                part=_shown(piece),
            ),
            piece,
        )
    return image


def _power(piece: str, value: str) -> Power:
    if value.strip().lower() == "min":
        return "min"
    what = Say("the power limit (watts per GPU, or min)")
    return _integer(piece, value, what, 1, MAX_WATTS)


def _currency(piece: str, value: str) -> str:
    value = value.strip()
    if not _CURRENCY.fullmatch(value):
        raise TemplateError(
            Say(
                "{part}: {value} is not a currency name",
                part=_shown(piece),
                value=repr(_shown(value)),
            ),
            piece,
        )
    return value


def check_env(env: Mapping[str, str], part: str = "env") -> None:
    """clore's limits on `env`, plus portable variable names."""
    for key, value in env.items():
        if not _ENV_KEY.fullmatch(key):
            raise TemplateError(
                Say(
                    "{part}: {name} is not a variable name (letters, digits and _, "
                    "not starting with a digit)",
                    part=part,
                    name=repr(_shown(key)),
                ),
                part,
            )
        if len(key) > ENV_MAX_KEY:
            raise TemplateError(
                Say(
                    "{part}: the name {name}… is over {limit} characters",
                    part=part,
                    name=key[:20],
                    limit=ENV_MAX_KEY,
                ),
                part,
            )
        if len(value) > ENV_MAX_VALUE:
            raise TemplateError(
                Say(
                    "{part}: the value of {name} is over {limit} characters",
                    part=part,
                    name=key,
                    limit=ENV_MAX_VALUE,
                ),
                part,
            )
    if len(serialise_env(env)) >= ENV_MAX_SERIALISED:
        raise TemplateError(
            Say(
                "{part}: the environment is too large (clore takes under {limit} characters "
                "in total)",
                part=part,
                limit=ENV_MAX_SERIALISED,
            ),
            part,
        )


def serialise_env(env: Mapping[str, str]) -> str:
    """The env as sent to clore (compact JSON, UTF-8), the text its size limit applies to."""
    return json.dumps(dict(env), separators=(",", ":"), ensure_ascii=False)


def _env(value: str) -> dict[str, str]:
    """`KEY:VALUE,...`; errors are blamed on `env` and never repeat a value."""
    env: dict[str, str] = {}
    for number, item in enumerate(_split(value, lambda c: c == ",", "env"), 1):
        name, colon, raw_value = item.partition(":")
        name = name.strip()
        if not item.strip():
            raise TemplateError(
                Say("env: item {number} is empty (two commas in a row?)", number=number), "env"
            )
        if not colon or not name:
            raise TemplateError(
                Say(
                    "env: item {number} is not KEY:VALUE (separate variables with commas, "
                    'and quote a value that has one: KEY:"a,b")',
                    number=number,
                ),
                "env",
            )
        if name in env:
            raise TemplateError(Say("env: {name} is given twice", name=_shown(name)), "env")
        env[name] = unquote(raw_value)
    check_env(env, "env")
    return env


def parse_template(text: str, base: Template | None = None) -> Template:
    """Parse a `/template` argument. With `base`, only the settings given change (`image` is
    then optional) and `core_lock=none` etc. remove one; without it `image` is required."""
    values: dict[str, object] = {}  # Template field -> value
    previous = ""
    for piece in _split(text.strip(), str.isspace):
        if not piece:
            continue
        match = _PIECE.fullmatch(piece)
        if match is None and _is_env(previous):
            # Most likely the rest of an env value with a space in it: never repeat it.
            raise TemplateError(Say('env: put a value with spaces in quotes: env=KEY:"a b"'), "env")
        if match is None:
            raise TemplateError(
                Say("{part}: expected a setting like pl=min", part=_shown(piece)), piece
            )
        previous = piece
        key, raw = match.group(1).lower(), match.group(2)
        if key not in KEY_ORDER:
            raise TemplateError(
                Say(
                    "unknown setting {name} (known: {known})",
                    name=_shown(key),
                    known=", ".join(KEY_ORDER),
                ),
                _shown(key),
            )
        name = "power" if key == "pl" else key
        if name in values:
            raise TemplateError(
                Say("{key}: {key} is given twice", key=key), "env" if key == "env" else piece
            )
        if key in CLEARABLE and raw.strip().lower() == "none":
            values[name] = {} if key == "env" else None
        elif key == "env":
            values[name] = _env(raw)
        elif key == "image":
            values[name] = _image(piece, unquote(raw))
        elif key == "pl":
            values[name] = _power(piece, unquote(raw))
        elif key == "currency":
            values[name] = _currency(piece, unquote(raw))
        else:
            values[name] = _integer(piece, unquote(raw), f"{key} (MHz)", -MAX_MHZ, MAX_MHZ)
    if base is not None:
        return replace(base, **values)  # type: ignore[arg-type]
    if "image" not in values:
        raise TemplateError(
            Say(
                "image: say which image to run: image=ubuntu, image=hiveos or "
                "image=<24-character id>"
            ),
            "image",
        )
    return Template(**values)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- formatting


def _quote(value: str) -> str:
    if _BARE_VALUE.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_template(template: Template) -> str:
    """The canonical one-line form; `parse_template` reads it back unchanged."""
    image = next(
        (alias for alias, image_id in IMAGE_ALIASES.items() if image_id == template.image),
        template.image,
    )
    parts = [f"image={image}", f"pl={template.power}"]
    parts += [
        f"{name}={getattr(template, name)}"
        for name in OVERCLOCK_FIELDS
        if getattr(template, name) is not None
    ]
    if template.env:
        parts.append("env=" + ",".join(f"{k}:{_quote(v)}" for k, v in template.env.items()))
    parts.append(f"currency={template.currency}")
    return " ".join(parts)


# ---------------------------------------------------------------------- one server's fit


def _gpu_power(template: Template, gpu: Gpu) -> int:
    if template.power == "min":
        return math.ceil(gpu.pl[0] - EPS)  # whole watts, never below the GPU's floor
    return template.power


def order_pl(template: Template, server: Server) -> float:
    """Total watts a bid from this template asks on `server` (what the ranking charges)."""
    return float(sum(_gpu_power(template, gpu) for gpu in server.gpus))


def price_to_lead(
    template: Template, server: Server, clore_price: float | None, exclude_owner: int | None
) -> float:
    """Price above which a new bid from this template leads (`ranking.price_to_win` at the
    template's power rather than the server's lowest; equal for `pl=min`)."""
    best = best_competitor(server, clore_price, exclude_owner)
    if best is None:
        return server.min_bid
    pl = order_pl(template, server)
    return max(server.min_bid, best[1] + energy(pl, server.energy_price, clore_price))


def _outside(value: float, limits: Range) -> bool:
    return not limits[0] - EPS <= value <= limits[1] + EPS


def _gpu_numbers(numbers: list[int]) -> str:
    """`3`, `1-8`, `1, 4-5`: consecutive GPU numbers as ranges."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and runs[-1][1] + 1 == number:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def _misfit(kind: str, model: str, limits: Range, asked: int, numbers: list[int]) -> Say:
    """One line of "does not fit": what these GPUs allow and what the template asks."""
    values = {
        "gpus": _gpu_numbers(numbers),
        "model": model,
        "low": f"{limits[0]:g}",
        "high": f"{limits[1]:g}",
    }
    n = len(numbers)
    if kind == "pl":
        return say_n(
            "GPU {gpus} ({model}) allows {low} to {high} W, not {asked} W",
            "GPUs {gpus} ({model}) allow {low} to {high} W, not {asked} W",
            n,
            asked=asked,
            **values,
        )
    if kind == "min":
        return say_n(
            "GPU {gpus} ({model}) has no whole-watt limit in {low} to {high} W",
            "GPUs {gpus} ({model}) have no whole-watt limit in {low} to {high} W",
            n,
            **values,
        )
    return say_n(
        "GPU {gpus} ({model}) allows a {setting} of {low} to {high} MHz, not {asked}",
        "GPUs {gpus} ({model}) allow a {setting} of {low} to {high} MHz, not {asked}",
        n,
        setting=kind.replace("_", " "),
        asked=asked,
        **values,
    )


def build_order(template: Template, server_id: str, server: Server, price: float) -> NewOrder:
    """The create_gigaspot_orders entry for `server_id` at `price` CLORE/day; raises
    `TemplateError` (part = server id or "price") when the template does not fit."""
    if not (server_id.isascii() and server_id.isdigit()):
        raise TemplateError(Say("{server} is not a server id", server=repr(server_id)), server_id)
    if not (math.isfinite(price) and MIN_PRICE <= price <= MAX_PRICE):
        raise TemplateError(
            Say(
                "A price of {price} CLORE/day is outside what clore accepts ({low} to {high}).",
                price=float(price),
                low=float(MIN_PRICE),
                high=float(MAX_PRICE),
            ),
            "price",
        )
    if not server.gpus:
        raise TemplateError(
            Say("Server {server} lists no GPUs to set a power limit for.", server=server_id),
            server_id,
        )
    # one line per distinct problem (kind, model, limits, asked), with its GPUs
    problems: dict[tuple[str, str, Range, int], list[int]] = {}
    overclocks = []
    for number, gpu in enumerate(server.gpus, 1):
        watts = _gpu_power(template, gpu)
        if _outside(watts, gpu.pl):
            kind = "pl" if template.power != "min" else "min"
            problems.setdefault((kind, gpu.model, gpu.pl, watts), []).append(number)
        settings: dict[str, int] = {}
        for name in OVERCLOCK_FIELDS:
            value: int | None = getattr(template, name)
            if value is None:
                continue
            limits: Range | None = getattr(gpu, name)
            if limits is not None and _outside(value, limits):
                problems.setdefault((name, gpu.model, limits, value), []).append(number)
            settings[name] = value
        overclocks.append(Overclock(pl=watts, **settings))
    if problems:
        lines = [_misfit(*problem, numbers) for problem, numbers in problems.items()]
        raise TemplateError(
            Say(
                "Your template does not fit server {server}: {problems}.",
                server=server_id,
                problems=lines,
            ),
            server_id,
        )
    return NewOrder(
        renting_server=int(server_id),
        price=price,
        image=template.image,
        oc=tuple(overclocks),
        currency=template.currency,
        env=dict(template.env) if template.env else msgspec.UNSET,
    )
