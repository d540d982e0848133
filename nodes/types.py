"""The pack's own socket types (everything else uses ComfyUI's AUDIO / IMAGE / VIDEO)."""

from comfy_api.latest import io

Model = io.Custom("OMNITALKER_MODEL")  # omnitalker_core.checkpoints.OmniTalkerBundle
Style = io.Custom("OMNITALKER_STYLE")  # omnitalker_core.style.Style
Mel = io.Custom("OMNITALKER_MEL")  # log-mel [100, N] at 93.75 frames/s (24 kHz, hop 256)
Motion = io.Custom("OMNITALKER_MOTION")  # 61-D codes [F, 61] at 25 fps (omnitalker_core.motion)

CATEGORY = "OmniTalker"
