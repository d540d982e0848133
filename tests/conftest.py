"""Shared fixtures: `comfy_host` runs one real ComfyUI server (headless, CPU) for the whole test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from omnitalker_core.host import ComfyHost, start_host

# The checkout under test. pytest's rootdir is tests/ (see pytest.ini) and puts tests/ on sys.path, so tests
# import `conftest`; omnitalker_core is the installed package (pip install -e .).
REPO = Path(__file__).resolve().parents[1]
TEST_OUTPUT = REPO / "test-output"

# Every node the pack must register in the host (V3 node ids; display names are in the README table).
EXPECTED_NODE_IDS = [
    "OmniTalkerLoadModel",
    "OmniTalkerCaptureStyle",
    "OmniTalkerSaveStyle",
    "OmniTalkerLoadStyle",
    "OmniTalkerGenerate",
    "OmniTalkerVocoder",
    "OmniTalkerRender",
    "OmniTalkerRenderVideo",
    "OmniTalkerMux",
    "OmniTalkerMotionToCSV",
    "OmniTalkerMotionPreview",
]


@pytest.fixture(scope="session")
def test_output() -> Path:
    TEST_OUTPUT.mkdir(exist_ok=True)
    return TEST_OUTPUT


@pytest.fixture(scope="session")
def comfy_host(tmp_path_factory, test_output) -> ComfyHost:
    """ComfyUI with this pack linked into `BASE/custom_nodes/omnitalker`, on a free port; stopped at the end.

    Each session has its own base directory (under pytest's per-session temporary directory) and port
    (`start_host` picks another one if the chosen port is taken before the server binds it). The server
    log is copied to `test-output/comfyui.log` when the session ends.
    """
    base = tmp_path_factory.mktemp("comfy_base")
    host = start_host(base)
    (test_output / "host-startup.txt").write_text(f"{host.startup_seconds:.1f}\n")
    yield host
    host.stop()
    if host.log_path and host.log_path.exists():
        shutil.copy2(host.log_path, test_output / "comfyui.log")


def pack_has_nodes() -> bool:
    return (REPO / "nodes").is_dir() and (REPO / "__init__.py").is_file()


requires_pack = pytest.mark.skipif(not pack_has_nodes(), reason="the pack's nodes/ and __init__.py do not exist yet")


@pytest.hookimpl(trylast=True)  # after pytest-randomly's shuffle (and any other reordering plugin)
def pytest_collection_modifyitems(config, items):
    """Browser tests last: they queue the same workflows, and the host's cache would otherwise make the
    workflow tests (and their timings) cache hits."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


# ---- process-global state: every test starts from the same settings, whatever ran before it ----------------

TORCH_TEST_SEED = 0  # torch's global generator at the start of every module and every test


def _global_state() -> dict:
    """Process-wide settings that tests (or the CLI verbs they call, e.g. `--threads`) change."""
    import logging
    import os
    import random

    import numpy as np
    import torch

    loggers = {name: lg for name, lg in logging.Logger.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    return {
        "torch_threads": torch.get_num_threads(),
        "torch_rng": torch.get_rng_state(),
        "torch_grad": torch.is_grad_enabled(),
        "torch_dtype": torch.get_default_dtype(),
        "torch_deterministic": torch.are_deterministic_algorithms_enabled(),
        "numpy_rng": np.random.get_state(),
        "random": random.getstate(),
        "loggers": {name: (lg.level, lg.disabled, lg.propagate) for name, lg in loggers.items()},
        "root_level": logging.getLogger().level,
        "environ": dict(os.environ),
        "cwd": os.getcwd(),
    }


def _restore_global_state(saved: dict) -> None:
    import logging
    import os
    import random

    import numpy as np
    import torch

    if torch.get_num_threads() != saved["torch_threads"]:
        torch.set_num_threads(saved["torch_threads"])
    torch.set_rng_state(saved["torch_rng"])
    torch.set_grad_enabled(saved["torch_grad"])
    torch.set_default_dtype(saved["torch_dtype"])
    torch.use_deterministic_algorithms(saved["torch_deterministic"])
    np.random.set_state(saved["numpy_rng"])
    random.setstate(saved["random"])
    for name, lg in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(lg, logging.Logger) and name in saved["loggers"]:
            level, lg.disabled, lg.propagate = saved["loggers"][name]
            lg.setLevel(level)
    logging.getLogger().setLevel(saved["root_level"])
    own = "PYTEST_CURRENT_TEST"  # pytest's own, set for each phase
    for key in set(os.environ) - set(saved["environ"]) - {own}:
        del os.environ[key]
    for key, value in saved["environ"].items():
        if key != own and os.environ.get(key) != value:
            os.environ[key] = value
    if os.getcwd() != saved["cwd"]:
        os.chdir(saved["cwd"])


@pytest.fixture(scope="module", autouse=True)
def _module_global_state():
    """Around each module (its module-scoped fixtures included, e.g. one that sets one torch thread)."""
    import torch

    saved = _global_state()
    torch.manual_seed(TORCH_TEST_SEED)
    yield
    _restore_global_state(saved)


@pytest.fixture(autouse=True)
def _test_global_state():
    """Around each test: torch threads, RNG states, grad mode, default dtype, logger levels, environment and
    working directory are put back, and torch's generator starts from a fixed seed, so a test sees the same
    state whatever order pytest-randomly picks."""
    import torch

    saved = _global_state()
    torch.manual_seed(TORCH_TEST_SEED)
    yield
    _restore_global_state(saved)


# ---- strict skips: OMNITALKER_STRICT_SKIPS=1 (CI) turns every skip into a failure -----------------------------

STRICT_SKIPS_ENV = "OMNITALKER_STRICT_SKIPS"


def _strict_skips() -> bool:
    import os

    return os.environ.get(STRICT_SKIPS_ENV, "") == "1"


def _may_skip_reason(item) -> str | None:
    marker = item.get_closest_marker("may_skip")
    if marker is None:
        return None
    reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
    return str(reason).strip() or None


def _strict_skip_failure(item, skip: BaseException) -> str | None:
    """The failure message for a skip that strict mode does not allow; None if the skip stands."""
    if not _strict_skips() or _may_skip_reason(item) is not None:
        return None
    reason = getattr(skip, "msg", None) or str(skip)
    return (
        f"skipped, and {STRICT_SKIPS_ENV}=1 makes a skip a failure: {reason}\n(a test that may legitimately skip "
        'in CI declares why with @pytest.mark.may_skip(reason="..."))'
    )


def _skips_fail_when_strict(item):
    """Hook wrapper for a test phase: a skip raised in it (skipif/skip marks and skips in fixtures during
    setup; pytest.skip / importorskip in the body during call) fails in strict mode."""
    try:
        return (yield)
    except pytest.skip.Exception as skip:
        failure = _strict_skip_failure(item, skip)
        if failure is None:
            raise
    pytest.fail(failure, pytrace=False)


pytest_runtest_setup = pytest.hookimpl(wrapper=True)(_skips_fail_when_strict)
pytest_runtest_call = pytest.hookimpl(wrapper=True)(_skips_fail_when_strict)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    """A module-level importorskip / pytest.skip(allow_module_level=True) skips a whole file at collection."""
    report = yield
    if report.skipped and _strict_skips():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"{collector.nodeid}: skipped at collection ({STRICT_SKIPS_ENV}=1 fails a skip): {reason}"
    return report


def pytest_collection_finish(session):
    """A may_skip mark must say why the test may skip in CI."""
    bad = [item.nodeid for item in session.items if item.get_closest_marker("may_skip") and not _may_skip_reason(item)]
    if bad:
        raise pytest.UsageError(f'@pytest.mark.may_skip needs reason="why it may skip in CI": {", ".join(bad)}')
