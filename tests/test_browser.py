"""The real ComfyUI frontend in headless Chromium (Debian package) driven by Playwright.

For every bundled workflow (and a small stock + Mux fixture): open the UI, load the workflow, assert that
every node is on screen at a readable zoom at the view it restores (1600x1000 window), that every node type
is known and that the UI builds exactly the prompt `omnitalker_core.host.ui_to_api` builds, queue it with
the UI's Run button, wait for the host to finish it, assert no node is marked with an error, and save a
screenshot to test-output/browser/. Where the workflow has an OmniTalker Mux node, the web extension's
player must show the mp4 and actually decode its audio track. The template browser must list the bundled
workflows as cards with their thumbnails, and open one with every node on screen.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import REPO

from omnitalker_core.host import load_workflow
from omnitalker_core.host.process import PACK_DIR_NAME

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip
WORKFLOWS = sorted((REPO / "workflows").glob("*.json")) + [Path(__file__).parent / "data" / "mux_stock.json"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def page(comfy_host, test_output):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.console_errors = []
        page.on("pageerror", lambda e: page.console_errors.append(f"{e}\n{e.stack}"))
        page.goto(comfy_host.url)
        page.wait_for_function("() => window.app && window.app.graph && window.LiteGraph", timeout=120_000)
        page.wait_for_timeout(1000)
        # Frontend 1.27.10 itself throws once during start-up on a fresh profile (the NavigationMode setting's
        # onChange touches a setting registered later); only errors after start-up concern this pack.
        page.console_errors.clear()
        yield page
        browser.close()


def _declared(prompt: dict, info: dict) -> dict:
    """class_type + the inputs the node declares (the UI also sends UI-only widgets such as LoadVideo's
    'video-preview', which the server ignores)."""
    out = {}
    for nid, node in prompt.items():
        spec = info[node["class_type"]]["input"]
        names = set(spec.get("required", {})) | set(spec.get("optional", {}))
        out[nid] = {"class_type": node["class_type"], "inputs": {k: v for k, v in node["inputs"].items() if k in names}}
    return out


# Nodes whose box (title bar included) is not wholly on the canvas as the window shows it: inside the canvas
# element (right of the side bar, below the menu bars) and clear of the zoom buttons at its bottom right.
OFF_SCREEN_JS = """() => {
    const canvas = window.app.canvas, ds = canvas.ds, r = canvas.canvas.getBoundingClientRect();
    const zoom = document.querySelector('.graph-canvas-panel .p-buttongroup-vertical')?.getBoundingClientRect();
    const off = [];
    for (const n of window.app.graph._nodes) {
        const [x, y, w, h] = n.boundingRect, [cx, cy] = ds.convertOffsetToCanvas([x, y]);
        const b = {l: r.left + cx, t: r.top + cy, r: r.left + cx + w * ds.scale, b: r.top + cy + h * ds.scale};
        const inside = b.l >= r.left && b.t >= r.top && b.r <= r.right && b.b <= r.bottom;
        const underZoom = zoom && b.r > zoom.left && b.l < zoom.right && b.b > zoom.top && b.t < zoom.bottom;
        if (!inside || underZoom) off.push(`${n.id} ${n.type} [${[b.l, b.t, b.r, b.b].map(Math.round)}]`);
    }
    return {scale: ds.scale, canvas: [r.left, r.top, r.right, r.bottom].map(Math.round), off};
}"""
MIN_SCALE = 0.8  # LiteGraph draws nodes without text below ~0.57


def _assert_on_screen(page, name: str) -> None:
    view = page.evaluate(OFF_SCREEN_JS)
    assert not view["off"], f"{name}: nodes not on screen at load in a 1600x1000 window: {view}"
    assert view["scale"] >= MIN_SCALE, f"{name} opens at zoom {view['scale']:.2f}, below {MIN_SCALE}"


def _fit_view(page) -> None:
    page.mouse.click(800, 980)  # focus the canvas (below the nodes), then "." = fit view
    page.keyboard.press(".")
    page.wait_for_timeout(300)


@pytest.mark.parametrize("workflow_path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_workflow_in_browser(page, comfy_host, test_output, workflow_path):
    workflow = load_workflow(workflow_path)
    page.console_errors.clear()
    page.evaluate("wf => window.app.loadGraphData(wf)", workflow)
    page.wait_for_timeout(500)

    missing = page.evaluate(
        "types => types.filter(t => !window.LiteGraph.registered_node_types[t])",
        sorted({n["type"] for n in workflow["nodes"]}),
    )
    assert not missing, f"the UI does not know these node types: {missing}"
    _assert_on_screen(page, workflow_path.stem)  # at the view the workflow restores (extra.ds)
    shots = test_output / "browser"
    shots.mkdir(exist_ok=True)
    page.screenshot(path=str(shots / f"{workflow_path.stem}.load.png"))

    ui_prompt = page.evaluate("async () => (await window.app.graphToPrompt()).output")
    ours = comfy_host.ui_to_api(workflow)
    assert _declared(ui_prompt, comfy_host.object_info()) == _declared(ours, comfy_host.object_info()), (
        "omnitalker_core.host.ui_to_api differs from the frontend's graphToPrompt"
    )

    with page.expect_response(
        lambda r: r.url.endswith("/prompt") and r.request.method == "POST", timeout=60_000
    ) as resp:
        page.get_by_role("button", name="Run", exact=True).first.click()
    assert resp.value.status == 200, f"the UI's prompt was rejected: {resp.value.text()}"
    prompt_id = resp.value.json()["prompt_id"]
    entry = comfy_host.wait(prompt_id, timeout=1800)
    page.wait_for_timeout(1000)

    errors = page.evaluate("() => window.app.graph._nodes.filter(n => n.has_errors).map(n => `${n.id} ${n.type}`)")
    assert not errors, f"nodes marked with errors in the UI: {errors}"
    assert not page.console_errors, page.console_errors

    players = ("OmniTalkerMux", "OmniTalkerRenderVideo")  # the nodes that show a <video> with sound
    if any(n["type"] in players for n in workflow["nodes"]):
        mux_ids = [str(n["id"]) for n in workflow["nodes"] if n["type"] in players]
        expected = comfy_host.output_files(entry, node_id=mux_ids[0], suffix=".mp4")[0]
        player = page.locator("video.omnitalker-player").first
        player.wait_for(state="attached", timeout=30_000)
        assert expected.name in player.get_attribute("src"), "the Mux player does not show this run's mp4"
        state = player.evaluate(
            """async v => {
                v.currentTime = 0;
                await v.play();
                await new Promise(r => setTimeout(r, 1200));
                v.pause();
                return {time: v.currentTime, audio: v.webkitAudioDecodedByteCount, video: v.webkitVideoDecodedByteCount,
                        muted: v.muted, w: v.videoWidth, h: v.videoHeight, err: v.error && v.error.code};
            }"""
        )
        assert state["err"] is None and state["w"] > 0 and state["time"] > 0, state
        assert state["audio"] > 0 and not state["muted"], f"the player decoded no audio: {state}"

    _fit_view(page)
    page.screenshot(path=str(shots / f"{workflow_path.stem}.png"))
    (shots / f"{workflow_path.stem}.prompt.json").write_text(json.dumps(ui_prompt, indent=1))


def test_template_browser(page, comfy_host, test_output):
    """The bundled workflows as cards in the UI's template browser (Templates -> Custom Nodes -> the pack's
    folder): each with its file name as the title and its `<name>.jpg` thumbnail (frontend 1.27 reads
    nothing else for a custom node's template); picking one opens it with every node on screen."""
    names = sorted(p.stem for p in (REPO / "workflows").glob("*.json"))
    listed = comfy_host.get("/workflow_templates")
    assert sorted(listed.get(PACK_DIR_NAME, [])) == names, listed
    for name in names:
        thumb = REPO / "workflows" / f"{name}.jpg"
        assert thumb.is_file(), f"no thumbnail {thumb.name}: run scripts/make_thumbnails.py"
        assert thumb.read_bytes()[:3] == b"\xff\xd8\xff" and thumb.stat().st_size < 60_000, thumb

    page.console_errors.clear()
    page.locator("button.templates-tab-button").click()
    page.get_by_role("option", name=PACK_DIR_NAME, exact=True).click()
    cards = page.locator('[data-testid^="template-workflow-"]')
    cards.first.wait_for(timeout=30_000)
    page.wait_for_function(
        "n => [...document.querySelectorAll('[data-testid^=template-workflow-] img')]"
        ".filter(i => i.complete && i.naturalWidth > 0).length >= n",
        arg=len(names),
        timeout=30_000,
    )
    shown = page.evaluate(
        """() => [...document.querySelectorAll('[data-testid^=template-workflow-]')].map(c => ({
            title: c.querySelector('h3').textContent.trim(), description: c.querySelector('p').textContent.trim(),
            image: [...c.querySelectorAll('img')].map(i => [i.naturalWidth, i.naturalHeight])}))"""
    )
    shots = test_output / "browser"
    shots.mkdir(exist_ok=True)
    page.screenshot(path=str(shots / "templates.png"))
    assert sorted(c["title"] for c in shown) == names, shown
    for card in shown:
        assert card["description"] == card["title"] and card["image"] == [[512, 512]], card

    first = names[0]
    page.locator(f'[data-testid="template-workflow-{first}"]').click()
    page.wait_for_function(
        "n => window.app.graph._nodes.length === n && !document.querySelector('[data-testid^=template-workflow-]')",
        arg=len(load_workflow(REPO / "workflows" / f"{first}.json")["nodes"]),
        timeout=30_000,
    )
    page.wait_for_timeout(500)
    _assert_on_screen(page, first)
    page.screenshot(path=str(shots / "template_opened.png"))
    assert not page.console_errors, page.console_errors
