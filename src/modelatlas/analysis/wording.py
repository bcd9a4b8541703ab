"""How a figure compares with its class average, in words.

Tiers are ratios to the class average (the model itself excluded from the average). The
reference site's examples fix two points: an index of 14 against an average of 8 (x1.75) is
"well above average"; 62M output tokens against 16M (x3.9) is "very verbose". The other
boundaries are ours, chosen symmetric in ratio (x1.5 up is as far as /1.5 down).
"""

from __future__ import annotations

from collections.abc import Sequence

# (lower bound of the ratio, words), highest first; the last tier takes everything below.
HIGHER_IS_BETTER: Sequence[tuple[float, str]] = (
    (1.5, "well above average"),
    (1.1, "above average"),
    (1 / 1.1, "around average"),
    (1 / 1.5, "below average"),
    (0.0, "well below average"),
)
VERBOSITY: Sequence[tuple[float, str]] = (
    (2.0, "very verbose"),
    (1.25, "somewhat verbose"),
    (0.8, "about average in verbosity"),
    (0.5, "fairly concise"),
    (0.0, "very concise"),
)
PRICE: Sequence[tuple[float, str]] = (
    (2.0, "expensive"),
    (1.25, "somewhat expensive"),
    (0.8, "moderately priced"),
    (0.0, "competitively priced"),
)
SPEED: Sequence[tuple[float, str]] = (
    (1.5, "much faster than average"),
    (1.1, "faster than average"),
    (1 / 1.1, "around average speed"),
    (1 / 1.5, "slower than average"),
    (0.0, "much slower than average"),
)
LATENCY: Sequence[tuple[float, str]] = (
    (1.5, "much slower to respond than average"),
    (1.1, "slower to respond than average"),
    (1 / 1.1, "around average latency"),
    (1 / 1.5, "quicker to respond than average"),
    (0.0, "much quicker to respond than average"),
)


def tier(value: float, average: float, tiers: Sequence[tuple[float, str]]) -> str:
    """The words for ``value`` against ``average`` (both positive; else "around average")."""
    if average <= 0:
        return tiers[len(tiers) // 2][1]
    ratio = value / average
    for bound, words in tiers:
        if ratio >= bound:
            return words
    return tiers[-1][1]


def fmt_number(value: float, decimals: int = 1) -> str:
    """1.0 -> "1", 7.94 -> "7.9", 12345.6 -> "12,346"."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_tokens(count: float) -> str:
    """Token counts as the reference writes them: 62M, 1.2k, 850."""
    if count >= 1e9:
        return f"{fmt_number(count / 1e9)}B"
    if count >= 1e6:
        return f"{fmt_number(count / 1e6)}M"
    if count >= 1e3:
        return f"{fmt_number(count / 1e3)}k"
    return f"{count:.0f}"


def fmt_price(value: float) -> str:
    """USD with enough precision for small prices: $0.05, $1.25, $0.0375."""
    if value >= 100:
        return f"${value:,.0f}"
    if value >= 1:
        return f"${value:,.2f}"
    text = f"{value:.4f}".rstrip("0")
    if len(text.split(".")[1]) < 2:
        text = f"{value:.2f}"
    return f"${text}"


def fmt_seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
