"""English text normalisation: spell out numbers, money, dates, times, units, symbols and abbreviations.

Why: neither the TTS model nor eSpeak NG (the G2P in `espeak`) reads written forms the way a person says them:
eSpeak reads "$3.50" as "dollar three point five zero", and a model trained on one reading cannot say another.
The same `normalize_text` runs when the training corpus is built and at inference before phonemisation, so both
sides see identical spoken forms.

Contract: never raises on a str; idempotent on its own output; keeps sentence punctuation (. , ? ! ; :) for
prosody; collapses whitespace. Only ASCII digits are rewritten, and a number touching a non-ASCII letter or digit
("3个") is left alone, so Chinese, German, etc. pass through unchanged.

Rules run in the order of `_RULES`, one function each. The order matters: phone numbers, dates and times must see
"555-1234", "12/05" and "3:30" before ranges, ratios and plain numbers do; money, percent and units must see their
numeral before the plain-number rule spells it; the punctuation rules run last, on words only.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["normalize_text", "number_to_words", "ordinal_words"]


def _rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile with `\\d` meaning ASCII 0-9 only (Python's `\\d` also matches e.g. Arabic-Indic digits)."""
    return re.compile(pattern.replace(r"\d", "[0-9]"), flags)


# A numeral starts/ends here only if it does not touch a digit or a non-ASCII letter ("3个" stays as is).
_L = r"(?<![^\W_A-Za-z])"
_R = r"(?![^\W_A-Za-z])"
_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"  # 1,234.5 | 42 | 3.14 (no sign)

# ---------------------------------------------------------------------------------------------- number words

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()
_TENS = "- - twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ("", "thousand", "million", "billion", "trillion", "quadrillion")
_MAX_DIGITS = 3 * len(_SCALES)  # number_to_words covers |n| < 10**18
_IRREGULAR_ORDINALS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                       "nine": "ninth", "twelve": "twelfth"}


def number_to_words(n: int) -> str:
    """American cardinal without "and": 1234 -> "one thousand two hundred thirty four"; |n| < 10**18."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n >= 10**_MAX_DIGITS:
        raise ValueError(f"number_to_words supports |n| < 10**{_MAX_DIGITS}, got {n}")
    if n == 0:
        return "zero"
    words: list[str] = []
    for power in range(len(_SCALES) - 1, -1, -1):
        chunk = n // 1000**power % 1000
        if not chunk:
            continue
        hundreds, rest = divmod(chunk, 100)
        if hundreds:
            words += [_ONES[hundreds], "hundred"]
        if rest >= 20:
            words.append(_TENS[rest // 10])
            rest %= 10
        if rest:
            words.append(_ONES[rest])
        if _SCALES[power]:
            words.append(_SCALES[power])
    return " ".join(words)


def ordinal_words(n: int) -> str:
    """Ordinal: 1 -> "first", 22 -> "twenty second", 103 -> "one hundred third"."""
    head, _, last = number_to_words(n).rpartition(" ")
    if last in _IRREGULAR_ORDINALS:
        last = _IRREGULAR_ORDINALS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head} {last}".strip()


def _say_digits(digits: str) -> str:
    """Digit by digit: "007" -> "zero zero seven" (non-digits are skipped)."""
    return " ".join(_ONES[ord(c) - 48] for c in digits if "0" <= c <= "9")


def _say_int(digits: str) -> str:
    """Cardinal for a digit string (commas allowed); digit by digit beyond number_to_words' range."""
    digits = digits.replace(",", "")
    if not digits:
        return ""
    if len(digits.lstrip("0")) > _MAX_DIGITS:
        return _say_digits(digits)
    return number_to_words(int(digits))


def _say_number(token: str) -> str:
    """Signed cardinal or decimal: "-1,234.5" -> "minus one thousand two hundred thirty four point five"."""
    sign = "minus " if token.startswith(("-", "−")) else ""
    head, *rest = token.lstrip("-−").split(".")
    if len(rest) == 1:
        return f"{sign}{_say_int(head)} point {_say_digits(rest[0])}"
    return sign + " point ".join(_say_int(part) for part in (head, *rest))  # versions: 1.2.3


def _say_ordinal(digits: str) -> str:
    digits = digits.replace(",", "")
    if len(digits.lstrip("0")) > _MAX_DIGITS:
        return _say_digits(digits) + "th"
    return ordinal_words(int(digits))


def _year_words(year: int) -> str:
    """1999 -> "nineteen ninety nine", 2005 -> "two thousand five", 2010 -> "twenty ten", 1900 -> "nineteen hundred"."""
    century, rest = divmod(year, 100)
    if not 1000 <= year <= 9999 or year % 1000 < 10:
        return number_to_words(year)
    if rest == 0:
        return f"{number_to_words(century)} hundred"
    return f"{number_to_words(century)} {'oh ' if rest < 10 else ''}{number_to_words(rest)}"


def _plural_number(words: str) -> str:
    """ "nineteen ninety" -> "nineteen nineties", "nineteen hundred" -> "nineteen hundreds"."""
    head, _, last = words.rpartition(" ")
    last = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return f"{head} {last}".strip()


# ---------------------------------------------------------------------------------------------- rules
# Each rule is a str -> str function; most are one substitution built by `_sub`. `_RULES` fixes their order.

Rule = Callable[[str], str]


def _sub(pattern: str, replacement: str | Callable[[re.Match[str]], str], flags: int = 0) -> Rule:
    """A rule that is one regex substitution (compiled once, at import)."""
    compiled = _rx(pattern, flags)
    return lambda text: compiled.sub(replacement, text)


_SENTENCE_NEXT = _rx(r"\s*\Z|\s+[A-Z]")  # after an abbreviation's period: does a new sentence (or the end) follow?


def _keep_period(m: re.Match[str]) -> str:
    return "." if _SENTENCE_NEXT.match(m.string, m.end()) else ""


_collapse_spaces = _sub(r"\s+", " ")

_ABBREVIATIONS = {"Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Dr": "Doctor", "Prof": "Professor", "Mt": "Mount",
                  "Jr": "Junior", "Sr": "Senior", "Ave": "Avenue", "approx": "approximately", "etc": "et cetera",
                  "e.g": "for example", "i.e": "that is", "vs": "versus"}
_MAY_END_SENTENCE = {"Jr", "Sr", "Ave", "approx", "etc"}  # their period is kept before a new sentence


def _say_abbreviation(m: re.Match[str]) -> str:
    """Dr. Mr. Mrs. Ms. Prof. Mt. Jr. Sr. Ave. approx. etc. e.g. i.e. vs. and "No." before a number."""
    if m[3]:
        return "number"
    key = m[1] or "vs"
    word = _ABBREVIATIONS[key] + (_keep_period(m) if key in _MAY_END_SENTENCE else "")
    return word + " " if m.string[m.end():m.end() + 1].isalnum() else word


_abbreviations = _sub(r"(?<![\w.])(?:(Mrs|Mr|Ms|Dr|Prof|Mt|Jr|Sr|Ave|approx|etc|e\.g|i\.e)\.|(vs)\b\.?"
                      r"|([Nn]o)\.(?=\s?\d))", _say_abbreviation)
# "St." before a capitalised word is "Saint" (St. Louis), otherwise "Street" (Main St.)
_saint_street = _sub(r"(?<![\w.])St\.(?=(\s*[A-Z])|)", lambda m: "Saint " if m[1] else "Street" + _keep_period(m))
# 555-1234, 555-123-4567, (555) 123-4567: digit by digit, a comma between groups
_phone_numbers = _sub(r"(?<![\w-])(?:\(\d{3}\)\s?|\d{3}-)?\d{3}-\d{4}(?![\w-])",
                      lambda m: ", ".join(_say_digits(group) for group in re.findall("[0-9]+", m[0])))

_MONTHS = "January February March April May June July August September October November December".split()
_MONTH_BY_ABBR = {m[:3]: m for m in _MONTHS} | {"Sept": "September"}
_MONTH = (r"(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?"
          r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b")
_YEAR = r"(?:\.?,?\s(\d{4})" + _R + ")?"  # optional ", 2020" after a month-name date


def _date(month: int, day: int, year: str | None) -> str:
    """ "December fifth" or "December fifth, twenty twenty four"; a 2-digit year reads "oh five" / "twenty four"."""
    words = f"{_MONTHS[month - 1]} {ordinal_words(day)}"
    if year and len(year) == 2:
        return f"{words}, {'oh ' if year[0] == '0' else ''}{number_to_words(int(year))}"
    return f"{words}, {_year_words(int(year))}" if year else words


def _say_iso_date(m: re.Match[str]) -> str:
    """2024-03-01 -> "March first, twenty twenty four" (invalid month/day: left for the later rules)."""
    month, day = int(m[2]), int(m[3])
    return _date(month, day, m[1]) if 1 <= month <= 12 and 1 <= day <= 31 else m[0]


def _fraction(numerator: int, denominator: int) -> str:
    one, many = {2: ("half", "halves"), 4: ("quarter", "quarters")}.get(
        denominator, (ordinal_words(denominator), ordinal_words(denominator) + "s"))
    return f"{number_to_words(numerator)} {one if numerator == 1 else many}"


def _say_slash(m: re.Match[str]) -> str:
    """a/b[/year]: a US date (month/day) when a is 1-12, b is 1-31 and b has two digits or a year follows;
    else a fraction when 0 < a < b <= 10 ("3/4" -> "three quarters"); else untouched."""
    a, b, year = int(m[1]), int(m[2]), m[3]
    if 1 <= a <= 12 and 1 <= b <= 31 and (len(m[2]) == 2 or year):
        return _date(a, b, year)
    return _fraction(a, b) if 0 < a < b <= 10 and not year else m[0]


def _say_month_day(m: re.Match[str]) -> str:
    """ "March 3[rd][, 2020]" -> "March third[, twenty twenty]"."""
    day, month = int(m[2]), _MONTHS.index(_MONTH_BY_ABBR.get(m[1], m[1])) + 1
    return _date(month, day, m[3]) if 1 <= day <= 31 else m[0]


def _say_day_month(m: re.Match[str]) -> str:
    """ "3 March 2020" -> "the third of March, twenty twenty" (no second "the" after "the")."""
    day, month = int(m[1]), _MONTH_BY_ABBR.get(m[2], m[2])
    if not 1 <= day <= 31:
        return m[0]
    the = "" if m.string[max(0, m.start() - 4):m.start()].lower() == "the " else "the "
    return f"{the}{ordinal_words(day)} of {month}" + (f", {_year_words(int(m[3]))}" if m[3] else "")


_iso_dates = _sub(_L + r"(\d{4})-(\d{2})-(\d{2})(?![\w-])", _say_iso_date)
_slash_dates_and_fractions = _sub(_L + r"(?<!/)(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?" + _R + "(?!/)", _say_slash)
_month_day_dates = _sub(r"\b" + _MONTH + r"\.?\s(\d{1,2})(?:st|nd|rd|th)?(?![\w:]|[.,]\d)" + _YEAR, _say_month_day)
_day_month_dates = _sub(_L + r"(\d{1,2})(?:st|nd|rd|th)?\s(?:of\s)?" + _MONTH + _YEAR, _say_day_month)
_ranges = _sub(r"(?<=\d)(?:-|\s?–\s?)(?=\d)", " to ")  # 10-20, 1999–2005 -> "10 to 20" (spelled later)

_AMPM = r"\s?([AaPp])\.?\s?[Mm](\.)?(?!\w)"


def _say_ampm(m: re.Match[str], letter: str | None, period: str | None) -> str:
    return f" {letter.lower()} m" + (_keep_period(m) if period else "") if letter else ""


def _say_clock(m: re.Match[str]) -> str:
    """3:30 -> "three thirty", 10:05 pm -> "ten oh five p m", 7:00 -> "seven o'clock", 7:00 pm -> "seven p m"."""
    hour, minute, seconds = int(m[1]), int(m[2]), m[3]
    words = number_to_words(hour)
    if minute == 0:
        words += "" if m[4] else " o'clock" if 1 <= hour <= 12 else " hundred"
    else:
        words += f" {'oh ' if minute < 10 else ''}{number_to_words(minute)}"
    if seconds:
        words += f" and {number_to_words(int(seconds))} second{'' if int(seconds) == 1 else 's'}"
    return words + _say_ampm(m, m[4], m[5])


_clock_times = _sub(_L + r"([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?" + _R + f"(?:{_AMPM})?", _say_clock)
_hour_times = _sub(_L + r"(1[0-2]|0?[1-9])" + _AMPM, lambda m: number_to_words(int(m[1])) + _say_ampm(m, m[2], m[3]))
_ratios = _sub(_L + r"(\d+):(\d+)" + _R, lambda m: f"{_say_int(m[1])} to {_say_int(m[2])}")  # 16:9, not a time

_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
               "€": ("euro", "euros", "cent", "cents"), "¥": ("yen", "yen", "", "")}
_SCALE_ABBR = {"K": "thousand", "k": "thousand", "M": "million", "B": "billion", "bn": "billion"}


def _say_money(m: re.Match[str]) -> str:
    """$3.50 -> "three dollars fifty", $0.99 -> "ninety nine cents", $1 -> "one dollar",
    $2.5 million / $3M -> "two point five million dollars" / "three million dollars"; likewise £ € ¥."""
    minus, (one, many, sub_one, sub_many) = "minus " if m[1] else "", _CURRENCIES[m[2]]
    whole, frac, scale = m[3], m[4], m[5] or _SCALE_ABBR.get(m[6] or "")
    if scale or (frac and (len(frac) != 2 or not sub_one)):
        amount = _say_number(whole + ("." + frac if frac else ""))
        return f"{minus}{amount} {scale + ' ' if scale else ''}{many}"
    cents, units = int(frac or "0"), whole.replace(",", "").lstrip("0")
    main = f"{_say_int(whole)} {one if units == '1' else many}"
    if not cents:
        return minus + main
    if not units:
        return f"{minus}{number_to_words(cents)} {sub_one if cents == 1 else sub_many}"
    return f"{minus}{main} {number_to_words(cents)}"


def _say_temperature(m: re.Match[str]) -> str:
    """20°C -> "twenty degrees Celsius", 1°F -> "one degree Fahrenheit", 90° -> "ninety degrees"."""
    scale = "Celsius" if m[2] == "C" or m[3] else "Fahrenheit" if m[2] or m[4] else ""
    return f"{_say_number(m[1])} {'degree' if m[1] == '1' else 'degrees'} {scale}".rstrip()


_KMH = ("kilometer per hour", "kilometers per hour")
_UNITS = {"km/h": _KMH, "kph": _KMH, "mph": ("mile per hour", "miles per hour"), "km": ("kilometer", "kilometers"),
          "kg": ("kilogram", "kilograms"), "cm": ("centimeter", "centimeters"), "mm": ("millimeter", "millimeters"),
          "mg": ("milligram", "milligrams"), "ml": ("milliliter", "milliliters")}


def _say_unit(m: re.Match[str]) -> str:
    """5 km -> "five kilometers", 1 kg -> "one kilogram", 100 km/h -> "one hundred kilometers per hour"."""
    return f"{_say_number(m[1])} {_UNITS[m[2]][0 if m[1] == '1' else 1]}"


_money = _sub(r"(?<!\w)([-−](?=[$£€¥]))?([$£€¥])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?"
              r"(?:\s(thousand|million|billion|trillion)\b|(bn|[KkMB])\b)?" + _R, _say_money)
_percent = _sub(_L + r"([-−]?" + _NUM + r")\s?%", lambda m: f"{_say_number(m[1])} percent")
_temperature = _sub(_L + r"([-−]?" + _NUM + r")\s?(?:°\s?([CF])(?!\w)|°|(℃)|(℉))", _say_temperature)
_units = _sub(_L + r"(" + _NUM + r")\s?(km/h|kph|mph|km|kg|cm|mm|mg|ml)(?![\w/])", _say_unit)
# 1990s -> "nineteen nineties", 1900s -> "nineteen hundreds"; '80s -> "eighties"
_decades = _sub(_L + r"(1[1-9]\d0|20\d0)'?s(?!\w)", lambda m: _plural_number(_year_words(int(m[1]))))
_short_decades = _sub(r"(?<![\w'])'?([2-9]0)'?s(?!\w)", lambda m: _plural_number(number_to_words(int(m[1]))))
# 1st -> "first", 22nd -> "twenty second", 103rd -> "one hundred third"
_ordinals = _sub(_L + r"(\d{1,3}(?:,\d{3})+|\d+)(?:st|nd|rd|th)(?!\w)", lambda m: _say_ordinal(m[1]), re.IGNORECASE)
_number_sign = _sub(r"#\s?(?=\d)", " number ")  # #1 -> "number 1" (spelled later)
# 2 + 2 = 4 -> "2 plus 2 equals 4"; a spaced hyphen between numbers is minus (an unspaced one was a range)
_plus = _sub(r"(?<=\d)\s*\+\s*(?=\d)", " plus ")
_minus = _sub(r"(?<=\d)(?:\s+[-−]\s+|−)(?=\d)", " minus ")
_times_sign = _sub(r"(?<=\d)\s*×\s*(?=\d)", " times ")
_equals = _sub(r"\s*=\s*", " equals ")
_negatives = _sub(r"(?<![\w.)\]])[-−](?=\d)", "minus ")
_leading_point = _sub(r"(?<![\w.])\.(\d+)" + _R, lambda m: "point " + _say_digits(m[1]))  # .5 -> "point five"


def _say_number_token(m: re.Match[str]) -> str:
    """What is left: decimals ("three point one four"), years 1100-2099 ("nineteen ninety nine"), 5+ digits or a
    leading zero digit by digit ("one two three four five"), otherwise a cardinal ("one thousand two hundred ...")."""
    whole, frac = m[1], m[2]
    if frac:
        words = _say_number(whole + frac)
    elif "," not in whole and len(whole) == 4 and 1100 <= int(whole) <= 2099:
        words = _year_words(int(whole))
    elif "," not in whole and (len(whole) >= 5 or (len(whole) > 1 and whole[0] == "0")):
        words = _say_digits(whole)
    else:
        words = _say_int(whole)
    before, after = m.string[m.start() - 1:m.start()], m.string[m.end():m.end() + 1]  # "mp3" -> "mp three"
    return (" " if before.isalpha() else "") + words + (" " if after.isalpha() else "")


_numbers = _sub(_L + r"(\d{1,3}(?:,\d{3})+|\d+)((?:\.\d+)*)" + _R, _say_number_token)
_ampersand = _sub("&", " and ")
# "a - b", "a—b", "a...b" -> "a, b"; an ellipsis at the very end is a period. Only after ASCII: "他说——" stays.
_final_ellipsis = _sub(r"(?<![^\x00-\x7f])\s*(?:\.{3,}|…)\s*\Z", ".")
_pauses = _sub(r"(?<![^\x00-\x7f])\s*(?:(?:\.{3,}|…|—|–|--+|\s-\s)\s*)+", ", ")
_word_hyphens = _sub(r"(?<=\w)-(?=\w)", " ")  # well-known -> "well known"
_TIDY = tuple((_rx(pattern), replacement) for pattern, replacement in (
    (r"\s+", " "), (r"\s+(?=[.,?!;:])", ""), (r",(?:\s*,)+", ","), (r",\s*(?=[.?!;:])", ""),
    (r"(?<=[.?!;:]),", ""), (r"(?<=[?!])\.+", ""), (r"^[\s,]+|\s+\Z", "")))


def _tidy_punctuation(text: str) -> str:
    """Collapse spaces, drop spaces before punctuation and commas next to other punctuation (to a fixed point)."""
    previous = None
    while previous != text:
        previous = text
        for pattern, replacement in _TIDY:
            text = pattern.sub(replacement, text)
    return text


_RULES: tuple[Rule, ...] = (
    _collapse_spaces, _abbreviations, _saint_street, _phone_numbers,  # before anything reads their digits
    _iso_dates, _slash_dates_and_fractions, _month_day_dates, _day_month_dates,  # before ranges and numbers
    _ranges, _clock_times, _hour_times, _ratios,  # ranges first: "10:00-11:00"
    _money, _percent, _temperature, _units, _decades, _short_decades, _ordinals, _number_sign,  # numeral + symbol
    _plus, _minus, _times_sign, _equals, _negatives,  # still see digits
    _leading_point, _numbers,  # every remaining ASCII numeral
    _ampersand, _final_ellipsis, _pauses, _word_hyphens, _tidy_punctuation,  # words and punctuation only
)


def normalize_text(text: str) -> str:
    """Spell out numbers, money, dates, times, units, symbols and abbreviations as English words (see module doc)."""
    for rule in _RULES:
        text = rule(text)
    return text
