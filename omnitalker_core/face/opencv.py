"""OpenCV, whichever build the user has (opencv-python, -headless, -contrib): the pack does not force one."""

try:
    import cv2
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "OmniTalker's face tracker and renderer need OpenCV, and none is installed: "
        "pip install opencv-python-headless (any OpenCV build works; ComfyUI-Manager runs the pack's install.py, "
        "which does this)"
    ) from e

__all__ = ["cv2", "resize"]


def resize(image, size: tuple[int, int]):
    """image resized to size (width, height): averaged over each pixel's area when it shrinks, bicubic when it grows.
    Area averaging grows an image as nearest neighbour does: workflow (a)'s 256 px reference, rendered at 512,
    showed 2x2 blocks and stair-stepped edges along the jaw and the hair."""
    w, h = (int(v) for v in size)
    grows = w * h > image.shape[0] * image.shape[1]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_CUBIC if grows else cv2.INTER_AREA)
