"""`track` and `render` verbs end to end: rendered mp4 -> CSV -> mp4 (H.264)."""

from __future__ import annotations

import json

import av
import numpy as np
import skimage.data
from PIL import Image

from omnitalker_core import motion
from omnitalker_core.__main__ import main
from omnitalker_core.face.render_geometric import GeometricRenderer
from omnitalker_core.video import write_mp4


def test_track_then_render(tmp_path, capsys):
    head = np.ascontiguousarray(skimage.data.astronaut()[10:266, 110:366])
    n = 20
    codes = np.zeros((n, motion.MOTION_DIM), np.float32)
    codes[:, motion.CHANNEL["headYaw"]] = np.linspace(-0.2, 0.2, n)
    codes[:, motion.CHANNEL["jawOpen"]] = np.abs(np.sin(np.arange(n) / 3))
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(n * 24000 // 25) / 24000)).astype(np.float32)
    video = write_mp4(tmp_path / "ref.mp4", GeometricRenderer(head).render(codes), 25, audio=tone, sample_rate=24000)
    csv = tmp_path / "motion.csv"
    assert main(["track", str(video), "--out", str(csv), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["frames"] == n and summary["found"] == n
    tracked, fps = motion.load_csv(csv)
    assert tracked.shape == (n, 61) and fps == 25
    assert np.corrcoef(tracked[:, motion.CHANNEL["headYaw"]], codes[:, motion.CHANNEL["headYaw"]])[0, 1] > 0.9
    assert main(["track", str(video), "--out", str(csv)]) == 1, "must not overwrite without --overwrite"
    portrait = tmp_path / "p.png"
    Image.fromarray(head).save(portrait)
    out = tmp_path / "clip.mp4"
    assert (
        main(
            [
                "render",
                "--portrait",
                str(portrait),
                "--motion",
                str(csv),
                "--out",
                str(out),
                "--size",
                "128",
                "128",
                "--audio",
                str(video),
            ]
        )
        == 0
    )
    with av.open(str(out)) as c:
        vs = c.streams.video[0]
        assert vs.codec_context.name == "h264" and vs.codec_context.pix_fmt == "yuv420p"
        assert (vs.codec_context.width, vs.codec_context.height) == (128, 128)
        assert sum(1 for _ in c.decode(vs)) == n
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac", "--audio adds the clip's sound"
