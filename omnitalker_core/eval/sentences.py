"""Real English target sentences for the evaluation: the Harvard sentences, lists 1-3.

Source: IEEE Subcommittee on Subjective Measurements, "IEEE Recommended Practice for Speech
Quality Measurements", IEEE Transactions on Audio and Electroacoustics 17(3), 1969, Appendix C
(the "Harvard sentences", phonetically balanced lists of ten sentences each). The lists are in
the public domain; lists 1-3 are copied here verbatim.

Why: the corpus sentences are random words from a word list, which Whisper tiny.en
transcribes badly even from the corpus's own audio (WER ~0.7), so a WER target relative to the
ground truth could not tell speech from babble. Whisper reads these everyday sentences from
eSpeak audio well (shared/MEASURED.md: WER 0.00-0.33 per eSpeak sentence).
"""

from __future__ import annotations

import numpy as np

SOURCE = (
    "Harvard sentences, lists 1-3 (IEEE Recommended Practice for Speech Quality Measurements, "
    "IEEE Trans. Audio Electroacoustics 17(3), 1969; public domain)"
)

HARVARD: tuple[str, ...] = (
    # list 1
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    # list 2
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    # list 3
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
)


def harvard_order(seed: int) -> list[int]:
    """Indices into `HARVARD` in a seeded order: item i of the evaluation says sentence order[i % 30]."""
    return [int(i) for i in np.random.default_rng([seed, 0x4A7]).permutation(len(HARVARD))]
