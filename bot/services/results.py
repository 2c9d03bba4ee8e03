"""What services answer, as data: the Telegram layer (`bot.telegram.render`) says it in the
user's language. A leaf module (it imports no service), so rendering never imports a
service and services may render what they queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.i18n import Say
from bot.market.ranking import BidStanding
from bot.market.snapshot import Server
from bot.market.suggest import GpuModel
from bot.orders.protection import ProtectionSettings
from bot.orders.template import Template
from bot.services.alert_prefs import AlertPrefs  # pure: imports nothing of the bot
from bot.services.events import MatchItem  # data only
from bot.services.payloads import Builder, ServerPrice  # data only

RuleRow = tuple[int, str, bool]  # rule id, canonical text, paused


@dataclass(frozen=True, slots=True)
class TapButton:
    """A button a tap's answer offers; its action is made by the Telegram layer."""

    label: Say
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BidView:
    """A bid's current line (as /bids shows it), under a tap's note."""

    standing: BidStanding
    server: Server | None


@dataclass(frozen=True, slots=True)
class RulesView:
    """A page of /rules (after a pause, resume or delete tap)."""

    rules: list[RuleRow]
    start: int


@dataclass(frozen=True, slots=True)
class ProtectHint:
    order_id: int
    cap: float


@dataclass(frozen=True, slots=True)
class LanguageView:
    """The /lang picker, in the language just chosen."""


@dataclass(frozen=True, slots=True)
class SettingsView:
    """/settings: the account and bidding settings, and the alert settings with a button
    per kind of alert."""

    profile: Profile
    prefs: AlertPrefs
    now: datetime


@dataclass(frozen=True, slots=True)
class Choice:
    """A button of the rule builder: its label and the builder's state after it."""

    label: Say
    state: Builder


@dataclass(frozen=True, slots=True)
class BuilderView:
    """One step of the /watch builder: what is asked, the rule so far, the choices."""

    step: str
    rule: str  # canonical text of the rule so far ("" before a model is chosen)
    matching: int  # machines the rule so far matches now
    choices: list[Choice]
    ready: bool = True  # False: the market is not loaded yet


@dataclass(frozen=True, slots=True)
class MarketView:
    """A page of the machines a rule matches now, cheapest first, with Bid offers for a
    user who has a linked key and a template."""

    canonical: str
    items: list[MatchItem]  # this page's machines
    total: int
    start: int
    size: int
    offers: list[ServerPrice]
    ready: bool = True


@dataclass(frozen=True, slots=True)
class DetailsView:
    """A match alert's machines in full, as the market has them now."""

    items: list[MatchItem]


@dataclass(frozen=True, slots=True)
class GpusView:
    """/gpus: the market's GPU models (None: the market is not loaded yet)."""

    models: list[GpuModel] | None


@dataclass(frozen=True, slots=True)
class TapResult:
    toast: Say  # the short answer to the callback query
    note: Say | None = None  # added to the message (None: keep it as it is)
    buttons: list[list[TapButton]] | None = None  # new buttons (None: remove them)
    view: (
        BidView | RulesView | ProtectHint | LanguageView | SettingsView | BuilderView
        | GpusView | MarketView | DetailsView | None
    ) = None  # shown with or instead of the note
    used: bool = True  # False: nothing was done, the tapped button stays usable


@dataclass(frozen=True, slots=True)
class Profile:
    user_id: int
    clore_user_id: int | None
    raise_step: float
    price_cap: float | None
    alerts_paused: bool
    key_unreadable: bool = False


@dataclass(frozen=True, slots=True)
class OwnBid:
    """One of the user's bids in the snapshot in force, and what its Raise button sets."""

    standing: BidStanding
    server: Server
    raise_to: float


@dataclass(frozen=True, slots=True)
class TemplateSaved:
    template: Template
    lost_env: bool  # the earlier environment could not be decrypted and was dropped


@dataclass(frozen=True, slots=True)
class ProtectionOn:
    order_id: int
    server_id: str
    settings: ProtectionSettings


@dataclass(frozen=True, slots=True)
class ProtectionOff:
    order_id: int


@dataclass(frozen=True, slots=True)
class BudgetState:
    budget: float | None  # CLORE/day automatic raises may add per 24 h; None: no limit
    spent: float  # added in the last 24 h
    below_step: float | None = None  # the raise step, when the budget cannot pay one raise
