"""English text normaliser (`omnitalker_core.text.normalize`): the written -> spoken table, idempotence,
never raising on arbitrary strings, and leaving non-English scripts alone.

The expected strings are written by hand from the normaliser's rules (module docstring and rule docstrings).
"""

from __future__ import annotations

import random

import pytest

from omnitalker_core.text.normalize import normalize_text, number_to_words, ordinal_words

CASES = [
    # the reference sentence
    ("Dr. Smith paid $3.50 on 12/05 - really?!", "Doctor Smith paid three dollars fifty on December fifth, really?!"),
    # money: "<units> <unit name> <cents>", cents alone below one unit, scale words before the currency
    ("$3.50", "three dollars fifty"),
    ("$0.99", "ninety nine cents"),
    ("$0.01", "one cent"),
    ("$1", "one dollar"),
    ("$1.00", "one dollar"),
    ("$12.05", "twelve dollars five"),
    ("$100", "one hundred dollars"),
    ("$2000", "two thousand dollars"),
    ("$1,234.56", "one thousand two hundred thirty four dollars fifty six"),
    ("$1.5", "one point five dollars"),
    ("£5", "five pounds"),
    ("£1", "one pound"),
    ("£0.50", "fifty pence"),
    ("€20", "twenty euros"),
    ("€1.50", "one euro fifty"),
    ("¥100", "one hundred yen"),
    ("$2.5 million", "two point five million dollars"),
    ("$3M", "three million dollars"),
    ("$1 billion", "one billion dollars"),
    ("-$5", "minus five dollars"),
    ("It costs $5.", "It costs five dollars."),
    # plain numbers
    ("0", "zero"),
    ("42", "forty two"),
    ("100", "one hundred"),
    ("1,234", "one thousand two hundred thirty four"),
    ("1,000,000", "one million"),
    ("1,000,000,000,000,000", "one quadrillion"),
    ("3.14", "three point one four"),
    ("0.5", "zero point five"),
    (".5", "point five"),
    ("-5", "minus five"),
    ("-3.5", "minus three point five"),
    ("version 1.2.3", "version one point two point three"),
    ("12345", "one two three four five"),
    ("007", "zero zero seven"),
    ("I have 3 cats", "I have three cats"),
    ("GPT-4", "GPT four"),
    ("mp3", "mp three"),
    ("A4 paper", "A four paper"),
    # years: a lone 4-digit 1100-2099
    ("1999", "nineteen ninety nine"),
    ("2005", "two thousand five"),
    ("2010", "twenty ten"),
    ("2000", "two thousand"),
    ("1900", "nineteen hundred"),
    ("1905", "nineteen oh five"),
    ("In 1999, he left.", "In nineteen ninety nine, he left."),
    ("1,999", "one thousand nine hundred ninety nine"),
    ("1099", "one thousand ninety nine"),
    ("2100", "two thousand one hundred"),
    # decades
    ("1990s", "nineteen nineties"),
    ("the 1900s", "the nineteen hundreds"),
    ("2010s", "twenty tens"),
    ("the '80s", "the eighties"),
    # ordinals
    ("1st", "first"),
    ("22nd", "twenty second"),
    ("103rd", "one hundred third"),
    ("11th", "eleventh"),
    ("12th", "twelfth"),
    ("20th", "twentieth"),
    ("1,000th", "one thousandth"),
    # dates
    ("12/05", "December fifth"),
    ("12/05/2024", "December fifth, twenty twenty four"),
    ("1/2/2024", "January second, twenty twenty four"),
    ("2024-03-01", "March first, twenty twenty four"),
    ("March 3", "March third"),
    ("March 3rd, 2020", "March third, twenty twenty"),
    ("Jan. 5", "January fifth"),
    ("3 March 2020", "the third of March, twenty twenty"),
    ("on the 3rd of March", "on the third of March"),
    # fractions (a/b that is not a date)
    ("1/2", "one half"),
    ("3/4", "three quarters"),
    ("1/4", "one quarter"),
    ("2/3", "two thirds"),
    ("5/8", "five eighths"),
    # times
    ("3:30", "three thirty"),
    ("10:05 pm", "ten oh five p m"),
    ("7:00", "seven o'clock"),
    ("7:00 pm", "seven p m"),
    ("10pm", "ten p m"),
    ("13:45", "thirteen forty five"),
    ("at 5 p.m. Then we ate.", "at five p m. Then we ate."),
    ("It opens at 9:05 a.m.", "It opens at nine oh five a m."),
    # ratios and ranges
    ("16:9", "sixteen to nine"),
    ("pages 10-20", "pages ten to twenty"),
    ("1999–2005", "nineteen ninety nine to two thousand five"),
    ("10-20 km", "ten to twenty kilometers"),
    # percent, symbols, operators
    ("50%", "fifty percent"),
    ("2.5%", "two point five percent"),
    ("-3%", "minus three percent"),
    ("Tom & Jerry", "Tom and Jerry"),
    ("2 + 2 = 4", "two plus two equals four"),
    ("2+2=4", "two plus two equals four"),
    ("3×4", "three times four"),
    ("5 - 3", "five minus three"),
    ("#1", "number one"),
    ("No. 5", "number five"),
    # temperature and units
    ("20°C", "twenty degrees Celsius"),
    ("-5°C", "minus five degrees Celsius"),
    ("98.6°F", "ninety eight point six degrees Fahrenheit"),
    ("1°C", "one degree Celsius"),
    ("90°", "ninety degrees"),
    ("5 km", "five kilometers"),
    ("1 km", "one kilometer"),
    ("2.5 kg", "two point five kilograms"),
    ("10cm", "ten centimeters"),
    ("3 mm", "three millimeters"),
    ("100 km/h", "one hundred kilometers per hour"),
    ("60 mph", "sixty miles per hour"),
    ("1 mph", "one mile per hour"),
    # phone numbers
    ("555-1234", "five five five, one two three four"),
    ("(555) 123-4567", "five five five, one two three, four five six seven"),
    # abbreviations
    ("Mr. and Mrs. Jones", "Mister and Missus Jones"),
    ("Ms. Lee", "Miz Lee"),
    ("Prof. Xavier", "Professor Xavier"),
    ("St. Louis", "Saint Louis"),
    ("I live on Main St.", "I live on Main Street."),
    ("Martin Luther King Jr. was here", "Martin Luther King Junior was here"),
    ("cats vs. dogs", "cats versus dogs"),
    ("apples, pears, etc.", "apples, pears, et cetera."),
    ("pears etc. Then we left", "pears et cetera. Then we left"),
    ("fruit, e.g., apples", "fruit, for example, apples"),
    ("i.e. now", "that is now"),
    ("approx. 5 km", "approximately five kilometers"),
    ("Mt. Everest", "Mount Everest"),
    ("Fifth Ave.", "Fifth Avenue."),
    # punctuation and whitespace
    ("Wait... what?", "Wait, what?"),
    ("I don't know…", "I don't know."),
    ("Yes—no", "Yes, no"),
    ("a -- b", "a, b"),
    ("well-known", "well known"),
    ("Really?!", "Really?!"),
    ("Hello, world. How are you; fine: yes!", "Hello, world. How are you; fine: yes!"),
    ("  lots   of\n\tspace  ", "lots of space"),
    ("", ""),
]

NON_ENGLISH = [
    "我们今天去北京。",
    "他说：“不要走”；然后离开了",
    "他说——不要走……",
    "我有3个苹果",
    "OmniTalker是一个模型。",
    "Grüße aus München, schöne Straße!",
    "Привет, мир!",
    "こんにちは、世界",
    "Café au lait, s'il vous plaît.",
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_normalize_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_idempotent(text: str, expected: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once


@pytest.mark.parametrize("text", NON_ENGLISH)
def test_non_english_untouched(text: str) -> None:
    assert normalize_text(text) == text


def test_mixed_keeps_non_english_part() -> None:
    assert normalize_text("我们在 2024 年去 Paris, paying €20.") == "我们在 twenty twenty four 年去 Paris, paying twenty euros."


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (40, "forty"),
        (99, "ninety nine"),
        (101, "one hundred one"),
        (1234, "one thousand two hundred thirty four"),
        (1_000_001, "one million one"),
        (10**15, "one quadrillion"),
        (2_000_030_000, "two billion thirty thousand"),
        (
            10**18 - 1,
            "nine hundred ninety nine quadrillion nine hundred ninety nine trillion nine hundred ninety nine billion"
            " nine hundred ninety nine million nine hundred ninety nine thousand nine hundred ninety nine",
        ),
        (-5, "minus five"),
    ],
)
def test_number_to_words(n: int, words: str) -> None:
    assert number_to_words(n) == words


def test_number_to_words_range() -> None:
    with pytest.raises(ValueError):
        number_to_words(10**18)


@pytest.mark.parametrize(
    ("n", "words"),
    [(1, "first"), (2, "second"), (3, "third"), (5, "fifth"), (8, "eighth"), (9, "ninth"), (12, "twelfth"),
     (20, "twentieth"), (22, "twenty second"), (103, "one hundred third"), (1000, "one thousandth")],
)
def test_ordinal_words(n: int, words: str) -> None:
    assert ordinal_words(n) == words


def test_never_raises_on_random_strings() -> None:
    rng = random.Random(0)
    pieces = list("0123456789" * 3 + " " * 5 + "$£€¥%°℃…—–−×#&+=/:-.,'?!;()[]aZstndrhkmpMBKCF\n\t\u3000\xa0")
    pieces += ["St.", "Dr.", "etc.", "e.g.", "No.", "March ", "3 May", "p.m.", "1990s", "12/05", "3:30", "$3.50",
               "1,234", "2024-03-01", "555-1234", "km/h", "我", "ü"]
    for _ in range(3000):
        text = "".join(
            rng.choice(pieces) if rng.random() < 0.8 else chr(rng.randrange(0x110000))
            for _ in range(rng.randrange(40))
        )
        out = normalize_text(text)
        assert isinstance(out, str)
        assert isinstance(normalize_text(out), str)


def test_never_raises_on_huge_numbers() -> None:
    assert normalize_text("9" * 30) == " ".join(["nine"] * 30)
    assert normalize_text("$1" + ",000" * 20).endswith(" zero dollars")  # beyond 10**18: digit by digit
    assert normalize_text("1" * 5000 + "th").endswith("th")
    assert normalize_text("x" * 20000 + " 1").endswith(" one")
