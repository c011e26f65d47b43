"""The national deployment dashboard: `central.progress.unit_report`, unchanged, on each province's copy, merged.

The national root is the country: its children are every province's top units (its figures are the sum of the
provinces'), and a unit below is drilled into on its province's copy alone. A unit is named nationally by its
province and its own code, "67:660" (`national_code`): each copy keeps its province's ids, which collide across
provinces, and a province may reuse another's venue codes. The copies hold what the figures need and nothing
personal: the tree, the venues (no address or policy), the devices' enrolment, revocation and last contact,
and the daily rollup per venue (central/national/publication.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection, Engine

from central.db import make_engine
from central.errors import CentralError, NotFound
from central.national.subscription import CopyState, checked_province, copy_state, copy_url, provinces
from central.progress import ChildRow, DailySeries, Figures, OfflineDevice, UnitReport, VenueRow, unit_report
from central.unittree import Unit, UnitTree

SEPARATOR = ":"
OFFLINE_LIMIT = 50  # offline devices listed for the country, longest first (as for a unit)


def national_code(province: str, code: str) -> str:
    return f"{province}{SEPARATOR}{code}"


def split_code(code: str) -> tuple[str, str]:
    """("67", "660") from "67:660"; NotFound for anything else (the page refuses it as it refuses an unknown unit)."""
    province, separator, unit = code.partition(SEPARATOR)
    try:
        province = checked_province(province)
    except CentralError:
        raise NotFound(f"no unit {code[:70]!r}: give PROVINCE:UNIT, e.g. 67:660") from None
    if not separator or not unit:
        raise NotFound(f"no unit {code[:70]!r}: give PROVINCE:UNIT, e.g. 67:660")
    return province, unit


def national_report(copies: Mapping[str, Connection], unit: str | None, now: datetime) -> UnitReport:
    """The country (`unit` None) or one province's unit ("67:660") at `now`, as the dashboard shows a unit."""
    if unit is None:
        return _country(copies, now)
    province, code = split_code(unit)
    if province not in copies:
        raise NotFound(f"no copy of province {province} here")
    conn = copies[province]
    tree = UnitTree.load(conn)
    found = next((u for u in tree.units.values() if u.code == code), None)
    if found is None:
        raise NotFound(f"no unit {code!r} in province {province}")
    return _qualified(unit_report(conn, found.id, now, tree=tree), province)


def _country(copies: Mapping[str, Connection], now: datetime) -> UnitReport:
    reports = {province: _qualified(unit_report(conn, None, now), province) for province, conn in copies.items()}
    totals = Figures()
    children: list[ChildRow] = []
    offline: list[OfflineDevice] = []
    for report in reports.values():
        totals.add(report.totals)
        children += report.children
        offline += report.offline
    offline.sort(key=lambda d: (d.since, d.venue_code, d.device_id))
    first = next(iter(reports.values()), None)
    return UnitReport(
        unit=None,
        path=[],
        now=now,
        today=first.today if first else now.date(),
        totals=totals,
        children=sorted(children, key=lambda row: row.unit.code),
        direct=None,
        venues=[],
        offline=offline[:OFFLINE_LIMIT],
        series=_summed([r.series for r in reports.values()]),
    )


def _qualified(report: UnitReport, province: str) -> UnitReport:
    """`report` with every unit and venue code qualified by its province."""

    def unit(u: Unit) -> Unit:
        return replace(u, code=national_code(province, u.code))

    def venue(v: VenueRow) -> VenueRow:
        return replace(v, code=national_code(province, v.code))

    def device(d: OfflineDevice) -> OfflineDevice:
        return replace(d, venue_code=national_code(province, d.venue_code), unit=unit(d.unit))

    return replace(
        report,
        unit=unit(report.unit) if report.unit else None,
        path=[unit(u) for u in report.path],
        children=[replace(row, unit=unit(row.unit)) for row in report.children],
        venues=[venue(v) for v in report.venues],
        offline=[device(d) for d in report.offline],
    )


def _summed(series: list[DailySeries]) -> DailySeries:
    if not series:
        return DailySeries([], [], [], [], [])
    days = series[0].days

    def total(name: str) -> list[int]:
        return [sum(values) for values in zip(*(getattr(s, name) for s in series), strict=True)]

    return DailySeries(days, total("scans"), total("active"), total("registered"), total("deployed"))


class NationalCopies:
    """The province copies beside the national database, read by the dashboard page: an engine per copy, made
    the first time a page needs it (copies are migrated by `national subscribe`, never here)."""

    def __init__(self, national: Engine) -> None:
        self.national = national
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def provinces(self, conn: Connection) -> dict[str, str]:
        """The provinces whose copies the national database holds; {} on a province's own centre."""
        return provinces(conn) if conn.dialect.name == "postgresql" else {}

    @contextmanager
    def reading(self, known: Iterable[str]) -> Iterator[dict[str, Connection]]:
        with ExitStack() as stack:
            yield {province: stack.enter_context(self._engine(province).connect()) for province in known}

    def _engine(self, province: str) -> Engine:
        with self._lock:
            if province not in self._engines:
                url = copy_url(self.national.url.render_as_string(hide_password=False), province)
                self._engines[province] = make_engine(url, pool_size=2)  # the URL's options too
            return self._engines[province]

    def dispose(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


def province_states(copies: Mapping[str, Connection]) -> list[CopyState]:
    """How each province's copy stands (streaming, last message), for the page to say how old its figures are."""
    return [copy_state(conn, province, count_events=False) for province, conn in sorted(copies.items())]
