"""OpenCV, whichever build the user has (opencv-python, -headless, -contrib): the pack does not force one."""

try:
    import cv2
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "OmniTalker's face tracker and renderer need OpenCV, and none is installed: "
        "pip install opencv-python-headless (any OpenCV build works; ComfyUI-Manager runs the pack's install.py, "
        "which does this)"
    ) from e

__all__ = ["cv2"]
