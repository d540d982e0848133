"""Run by ComfyUI-Manager after `pip install -r requirements.txt`: adds an OpenCV build only when none is
installed, so a user's own OpenCV (contrib, CUDA, GUI) is never replaced by opencv-python-headless."""

import importlib.util
import subprocess
import sys

if importlib.util.find_spec("cv2") is None:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "opencv-python-headless"])
