"""The festival calendar for 2025-2027 (dates from the holidays package's China calendar)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from prompts import environment
from scheduler.calendar import festival_on, festivals

EXPECTED = {
    2025: {"new_year": date(2025, 1, 1), "spring_festival": date(2025, 1, 28), "lantern": date(2025, 2, 12),
           "qingming": date(2025, 4, 4), "dragon_boat": date(2025, 5, 31), "mid_autumn": date(2025, 10, 6),
           "national_day": date(2025, 10, 1)},
    2026: {"new_year": date(2026, 1, 1), "spring_festival": date(2026, 2, 16), "lantern": date(2026, 3, 3),
           "qingming": date(2026, 4, 5), "dragon_boat": date(2026, 6, 19), "mid_autumn": date(2026, 9, 25),
           "national_day": date(2026, 10, 1)},
    2027: {"new_year": date(2027, 1, 1), "spring_festival": date(2027, 2, 5), "lantern": date(2027, 2, 20),
           "qingming": date(2027, 4, 5), "dragon_boat": date(2027, 6, 9), "mid_autumn": date(2027, 9, 15),
           "national_day": date(2027, 10, 1)},
}
SPRING_FESTIVAL_DAY = {2025: date(2025, 1, 29), 2026: date(2026, 2, 17), 2027: date(2027, 2, 6)}


@pytest.mark.parametrize("year", sorted(EXPECTED))
def test_festival_dates(year: int) -> None:
    got = {f.key: f.first_day for f in festivals(year)}
    assert got == EXPECTED[year]
    spring = next(f for f in festivals(year) if f.key == "spring_festival")
    assert spring.day == SPRING_FESTIVAL_DAY[year]  # eve is the day before: 腊月廿九 in these years
    assert spring.first_day == spring.day - timedelta(days=1)


@pytest.mark.parametrize("year", sorted(EXPECTED))
def test_one_spring_festival_occasion_per_year(year: int) -> None:
    start = date(year, 1, 1)
    keys = {festival_on(start + timedelta(days=i)).dedupe_key for i in range(365)
            if festival_on(start + timedelta(days=i)) is not None
            and festival_on(start + timedelta(days=i)).key == "spring_festival"}
    assert keys == {f"greeting:spring_festival:{year}"}
    days = [start + timedelta(days=i) for i in range(365)
            if (f := festival_on(start + timedelta(days=i))) and f.key == "spring_festival"]
    assert days == [EXPECTED[year]["spring_festival"], SPRING_FESTIVAL_DAY[year]]  # the eve or the day


@pytest.mark.parametrize("day", [
    date(2026, 2, 14),  # make-up working day (调休 Saturday)
    date(2026, 2, 18), date(2026, 2, 20), date(2026, 2, 23),  # further days off / substituted days off
    date(2025, 10, 7), date(2025, 10, 8), date(2027, 2, 9), date(2027, 10, 4),  # observed / substituted
    date(2026, 5, 1),  # Labour Day is not a greeting occasion
])
def test_days_off_and_workdays_are_not_occasions(day: date) -> None:
    assert festival_on(day) is None


def test_qingming_by_setting_and_never_happy() -> None:
    assert festival_on(date(2026, 4, 5)).key == "qingming"
    assert festival_on(date(2026, 4, 5), qingming_greeting=False) is None
    for lang in ("zh", "en"):
        text = environment().get_template(f"drafts/greeting/qingming_{lang}.j2").render(
            salutation="张先生", signature="王敏")
        assert "快乐" not in text and "happy" not in text.lower()
        assert "安康" in text if lang == "zh" else "peace" in text


def test_mid_autumn_on_national_day_is_one_greeting() -> None:
    keys = [f.key for f in festivals(2020)]
    assert "mid_autumn_national_day" in keys and "mid_autumn" not in keys and "national_day" not in keys


def test_beyond_the_lunar_tables_nothing_is_guessed() -> None:
    keys = [f.key for f in festivals(2150)]
    assert "new_year" in keys and "national_day" in keys and "spring_festival" not in keys
    assert festival_on(date(2150, 10, 1)).key == "national_day"
