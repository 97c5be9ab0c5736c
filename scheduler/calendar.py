"""Festivals worth a greeting, from the `holidays` package's China calendar.

- Dates come from the calendar (lunar festivals differ every year). The Spring Festival eve (除夕)
  is the calendar's "Chinese New Year's Eve" (腊月廿九 in 2025-2027, not a computed 12/30); when
  the calendar has no eve entry, it is the day before the lunar new year (the last day of the
  lunar year, by definition).
- One greeting per festival: each festival has one key per year and a short window in which it may
  be planned (Spring Festival: the eve or the day; the others: the day itself). Observed days off
  and make-up working days (调休) are never occasions.
- Lantern (元宵) is the 15th day of the first lunar month: lunar new year + 14 days.
- Qingming (清明) is a day of remembrance: a quiet 安康 wish when `qingming_greeting`, else nothing.
- When Mid-Autumn falls on National Day, one "双节" greeting replaces both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import holidays

NEW_YEAR = "new_year"
SPRING_FESTIVAL = "spring_festival"
LANTERN = "lantern"
QINGMING = "qingming"
DRAGON_BOAT = "dragon_boat"
MID_AUTUMN = "mid_autumn"
NATIONAL_DAY = "national_day"
MID_AUTUMN_NATIONAL_DAY = "mid_autumn_national_day"

FESTIVAL_NAMES: dict[str, tuple[str, str]] = {
    NEW_YEAR: ("元旦", "New Year's Day"),
    SPRING_FESTIVAL: ("春节", "Spring Festival"),
    LANTERN: ("元宵节", "Lantern Festival"),
    QINGMING: ("清明", "Qingming"),
    DRAGON_BOAT: ("端午节", "Dragon Boat Festival"),
    MID_AUTUMN: ("中秋节", "Mid-Autumn Festival"),
    NATIONAL_DAY: ("国庆节", "National Day"),
    MID_AUTUMN_NATIONAL_DAY: ("中秋国庆双节", "Mid-Autumn Festival and National Day"),
}

# Names in the package's en_US China calendar (observed days carry "(observed)", substituted days
# off are "Day off (substituted ...)": neither matches these exactly).
_CAL_NAMES = {
    "New Year's Day": NEW_YEAR,
    "Chinese New Year's Eve": "eve",
    "Chinese New Year (Spring Festival)": "lunar_new_year",
    "Tomb-Sweeping Day": QINGMING,
    "Dragon Boat Festival": DRAGON_BOAT,
    "Mid-Autumn Festival": MID_AUTUMN,
    "National Day": NATIONAL_DAY,
}


@dataclass(frozen=True)
class Festival:
    key: str  # e.g. "spring_festival"
    year: int  # the Gregorian year the festival belongs to (Spring Festival: year of the new year day)
    first_day: date  # first day it may be greeted (Spring Festival: the eve); not `date`, which is the type
    window_days: int = 1  # days from `first_day` in which it may still be planned
    day: date | None = None  # the festival day itself when it differs from `first_day`

    @property
    def dedupe_key(self) -> str:
        return f"greeting:{self.key}:{self.year}"

    @property
    def name_zh(self) -> str:
        return FESTIVAL_NAMES[self.key][0]

    @property
    def name_en(self) -> str:
        return FESTIVAL_NAMES[self.key][1]

    def covers(self, day: date) -> bool:
        return self.first_day <= day < self.first_day + timedelta(days=self.window_days)


@lru_cache(maxsize=64)
def _calendar_dates(year: int) -> dict[str, date]:
    """First calendar date of each named festival in `year` (observed/substituted days ignored)."""
    found: dict[str, date] = {}
    cn = holidays.country_holidays("CN", years=year, language="en_US")
    for day in sorted(cn):
        for name in cn.get_list(day):
            key = _CAL_NAMES.get(name.strip())
            if key and key not in found:
                found[key] = day
    return found


def _lunar(year: int, method: str) -> date | None:
    """A lunar festival's date from the package's lunisolar tables (None outside their range)."""
    from holidays.calendars.chinese import _ChineseLunisolar

    found = getattr(_ChineseLunisolar(), method)(year)[0]
    return found if isinstance(found, date) else None


@lru_cache(maxsize=64)
def festivals(year: int, *, qingming_greeting: bool = True) -> tuple[Festival, ...]:
    """The festivals of one Gregorian year, in date order. Outside the calendar's range (after
    2100) the lunar festivals are unknown and left out rather than guessed."""
    cal = _calendar_dates(year)
    out = [Festival(NEW_YEAR, year, cal.get(NEW_YEAR, date(year, 1, 1)))]
    new_year_day = cal.get("lunar_new_year") or _lunar(year, "lunar_new_year_date")
    if new_year_day is not None:
        eve = cal.get("eve")
        if eve is None or eve.year != year or eve >= new_year_day:
            eve = new_year_day - timedelta(days=1)
        out.append(Festival(SPRING_FESTIVAL, year, eve, window_days=(new_year_day - eve).days + 1,
                            day=new_year_day))
        out.append(Festival(LANTERN, year, new_year_day + timedelta(days=14)))
    dragon = cal.get(DRAGON_BOAT) or _lunar(year, "dragon_boat_date")
    if dragon is not None:
        out.append(Festival(DRAGON_BOAT, year, dragon))
    if qingming_greeting:
        qingming = cal.get(QINGMING) or _lunar(year, "qingming_date")
        if qingming is not None:
            out.append(Festival(QINGMING, year, qingming))
    mid_autumn = cal.get(MID_AUTUMN) or _lunar(year, "mid_autumn_date")
    national = date(year, 10, 1)
    if mid_autumn == national:
        out.append(Festival(MID_AUTUMN_NATIONAL_DAY, year, national))
    else:
        if mid_autumn is not None:
            out.append(Festival(MID_AUTUMN, year, mid_autumn))
        out.append(Festival(NATIONAL_DAY, year, national))
    return tuple(sorted(out, key=lambda f: f.first_day))


def festival_on(day: date, *, qingming_greeting: bool = True) -> Festival | None:
    """The festival that may be greeted on `day` (None on ordinary days, observed days off and
    make-up working days)."""
    for year in (day.year, day.year + 1):  # an eve in late January belongs to its own year anyway
        for fest in festivals(year, qingming_greeting=qingming_greeting):
            if fest.covers(day):
                return fest
    return None
