"""The face side of OmniTalker: landmarks (offline LiteRT models), the 61-D rig, the tracker
(video -> codes) and two renderers (geometric, weightless; GAN, trained).

Import the submodules directly (`face.tracker`, `face.render_geometric`, ...): they pull in
OpenCV / LiteRT / scipy only when used.
"""
