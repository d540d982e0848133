"""Text front-ends: eSpeak NG phonemes with timings (`espeak`), the phoneme vocabulary and
frame-level alignment (`phonemes`), and the F5-TTS character vocabulary (`tokenizer`)."""
