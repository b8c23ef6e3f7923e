"""Formats of the Job API's OpenAPI document that JSON Schema cannot spell, for schemathesis.

`schedule-expression` (a schedule's `cron`): a Unix 5-field cron, or EventBridge's
`cron(6 fields)` or `rate(value unit)`. Generated here from the grammar the API accepts
(job-core/src/cron.rs), always with a run ahead: one day field is left open, and no year
field names a past year. Loaded by scripts/conformance.sh through SCHEMATHESIS_HOOKS.
"""

import schemathesis
from hypothesis import strategies as st

MINUTES = ["*", "0", "30", "*/15", "0-59/5", "5,35", "10-20"]
HOURS = ["*", "7", "9-17", "*/6", "0,12"]
MONTHS = ["*", "6", "1-12", "JAN,JUL", "MAR-OCT"]
UNIX_WEEKDAYS = ["*", "MON", "1-5", "MON-FRI", "SUN,SAT", "0"]
EVENTBRIDGE_WEEKDAYS = ["MON", "2-6", "MON-FRI", "SUN,SAT", "1"]
DAYS_OF_MONTH = ["1", "15", "1-10", "L", "*/5"]


def _unix() -> st.SearchStrategy[str]:
    return st.builds(
        lambda m, h, dom, mon, dow: f"{m} {h} {dom} {mon} {dow}",
        st.sampled_from(MINUTES),
        st.sampled_from(HOURS),
        st.just("*"),
        st.sampled_from(MONTHS),
        st.sampled_from(UNIX_WEEKDAYS),
    )


def _eventbridge() -> st.SearchStrategy[str]:
    by_weekday = st.builds(
        lambda m, h, mon, dow: f"cron({m} {h} ? {mon} {dow} *)",
        st.sampled_from(["0", "30", "0/15", "5,35"]),
        st.sampled_from(HOURS),
        st.sampled_from(MONTHS),
        st.sampled_from(EVENTBRIDGE_WEEKDAYS),
    )
    by_day = st.builds(
        lambda m, h, dom: f"cron({m} {h} {dom} * ? *)",
        st.sampled_from(["0", "30", "0/15"]),
        st.sampled_from(HOURS),
        st.sampled_from(DAYS_OF_MONTH),
    )
    return by_weekday | by_day


def _rate() -> st.SearchStrategy[str]:
    def render(value: int, unit: str) -> str:
        return f"rate({value} {unit if value == 1 else unit + 's'})"

    return st.builds(render, st.integers(1, 59), st.sampled_from(["minute", "hour", "day"]))


schemathesis.openapi.format("schedule-expression", _unix() | _eventbridge() | _rate())
