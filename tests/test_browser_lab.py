"""The notebooks' widgets as a person sees them: a real JupyterLab server (``synthvlm_repro.lab``, as
``synthvlm-repro lab`` starts it) and a real headless Chromium driven by Playwright.

Playwright rather than Selenium: JupyterLab's own UI tests (Galata) use it, its locators wait for the page
by themselves, it types real key events and takes element screenshots; it drives Debian's Chromium through
``executable_path`` (its own browser download is not reachable here). Without a browser these tests skip
with one line; under ``CI=true`` they fail instead, so CI cannot pass without them.

Screenshots of every step go to ``papermill_runs/browser-tests/<test>/`` (not committed).
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import time

import pytest

from synthvlm_repro.figures.preference import read_jsonl
from synthvlm_repro.lab import LabServer
from synthvlm_repro.lab_browser import LAB_SETTINGS, LabPage, browser_missing_reason, image_loaded, launch_chromium

pytestmark = pytest.mark.slow
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
if browser_missing_reason() and not CI:
    pytest.skip(f"browser tests: {browser_missing_reason()}", allow_module_level=True)
TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def chromium():
    reason = browser_missing_reason()
    if reason:
        pytest.fail(f"CI=true but the browser tests cannot run: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def lab(chromium, request, tmp_path_factory, project_root):
    """JupyterLab on a copy of notebooks/ (autosave never touches the committed ones) and a copy of the
    smoke run (the rater's answers never reach the other tests' run dir)."""
    paths, record = request.getfixturevalue("smoke_run")  # only once a browser is there (pytest would
    # otherwise set up the session-scoped smoke run before the module-scoped skip)
    assert record.status == "ok"
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(project_root / "notebooks", root / "notebooks")
    run_dir = shutil.copytree(paths.root, root / "run")
    t0 = time.perf_counter()
    with LabServer(root, run_dir, "smoke", settings=LAB_SETTINGS, log_path=root / "server.log") as server:
        TIMES["server start"] = time.perf_counter() - t0
        yield server


@pytest.fixture()
def lab_page(chromium, lab, request, project_root):
    shots = project_root / "papermill_runs" / "browser-tests" / request.node.name
    shutil.rmtree(shots, ignore_errors=True)
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield LabPage(page, lab, shots)
    context.close()


def _wait_text(locator, pattern: str, timeout_s: float = 60) -> str:
    """Poll ``locator``'s text until it matches ``pattern``; return it."""
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = locator.inner_text()
        if re.search(pattern, text):
            return text
        time.sleep(0.2)
    raise AssertionError(f"page text {text!r} never matched {pattern!r}")


def test_notebook_03_pair_browser_runs_all_and_steps_through_pairs(lab_page, lab):
    ui = lab_page
    t0 = time.perf_counter()
    ui.open_notebook("notebooks/03_clip_selection.ipynb")
    ui.shot("opened")
    assert ui.prompts() and all(p == "[ ]:" for p in ui.prompts()), "the notebook should open with outputs stripped"
    assert ui.page.locator(".jp-OutputArea-output").count() == 0

    TIMES["03 Run All"] = ui.run_all()
    ui.shot("ran-all")
    assert ui.errors() == []
    assert all(re.fullmatch(r"\[\d+\]:", p) for p in ui.prompts()), ui.prompts()
    assert ui.page.get_by_text(f"run dir: {lab.run_dir.resolve()}").count() == 1  # `lab` passed the run dir on

    browser = ui.page.locator(".synthvlm-pair-browser")
    browser.scroll_into_view_if_needed()
    image, info = browser.locator("img.synthvlm-pair-image"), browser.locator(".synthvlm-pair-info")
    assert image_loaded(image)
    first_info, first_src, first_pixels = info.inner_text(), image.get_attribute("src"), image.screenshot()
    assert re.search(r"score \d\.\d{4}, CLIP", first_info)
    ui.shot("pair-browser", browser)

    browser.locator(".synthvlm-pair-index .noUi-handle").click()  # the slider, moved with the keyboard
    ui.page.keyboard.press("ArrowRight")
    second_info = _wait_text(info, r"score", 30)
    deadline = time.monotonic() + 30
    while second_info == first_info and time.monotonic() < deadline:
        time.sleep(0.2)
        second_info = info.inner_text()
    assert second_info != first_info, "moving the slider did not change the shown pair"
    assert browser.locator(".synthvlm-pair-index .widget-readout").inner_text().strip() == "1"
    assert image.get_attribute("src") != first_src and image_loaded(image)
    assert image.screenshot() != first_pixels
    ui.shot("pair-browser-moved", browser)
    TIMES["03 test"] = time.perf_counter() - t0


def test_notebook_06_rater_records_keys_resumes_and_undoes(lab_page, lab):
    ui = lab_page
    t0 = time.perf_counter()
    answers = lab.run_dir / "preference" / f"human-{getpass.getuser()}.jsonl"
    assert not answers.exists()
    ui.open_notebook("notebooks/06_paper_figures.ipynb")
    ui.append_to_cell("rate = False", "rate = True")
    ui.shot("rate-on")
    TIMES["06 Run All"] = ui.run_all()
    assert ui.errors() == []
    assert all(re.fullmatch(r"\[\d+\]:", p) for p in ui.prompts()), ui.prompts()

    def find_rater():
        rater = ui.page.locator(".synthvlm-rater")
        rater.scroll_into_view_if_needed()
        return rater, rater.locator(".synthvlm-rater-progress"), rater.locator(".synthvlm-rater-caption")

    rater, progress, caption = find_rater()
    total = int(_wait_text(progress, r"^0/\d+$").split("/")[1])
    assert total >= 2, "the smoke run should give the rater at least two pairs"
    assert image_loaded(rater.locator("img.synthvlm-rater-left")) and image_loaded(rater.locator("img.synthvlm-rater-right"))
    ui.shot("rater", rater)

    keys, shown = "ads"[:min(3, total)], []
    rater.locator(".synthvlm-rater-keys input").click()
    for n, key in enumerate(keys, 1):
        shown.append(caption.inner_text().strip())
        ui.page.keyboard.press(key)
        _wait_text(progress, rf"^{n}/{total}$")
        assert len(read_jsonl(answers)) == n  # on disk as soon as the page moves on
        ui.shot(f"rater-key-{key}", rater)
    rows = read_jsonl(answers)
    assert [r["choice"] for r in rows] == ["left", "right", "tie"][:len(keys)]
    assert len({r["pair_id"] for r in rows}) == len(keys) == len(set(shown))

    # a new kernel (restart, then run down to the rater) resumes from the file
    TIMES["06 restart + run to the rater"] = ui.run_all(through="rater_for_run(")
    assert ui.errors() == []
    rater, progress, caption = find_rater()
    _wait_text(progress, rf"^{len(keys)}/{total}$")
    assert read_jsonl(answers) == rows
    now = caption.inner_text().strip()
    if len(keys) == total:
        assert now.startswith(f"All {total} pairs rated")
        assert rater.locator("img.synthvlm-rater-left").is_hidden()  # no broken-image frames once done
    else:
        assert now not in shown
    ui.shot("rater-resumed", rater)

    rater.locator(".synthvlm-rater-keys input").click()
    ui.page.keyboard.press("u")
    _wait_text(progress, rf"^{len(keys) - 1}/{total}$")
    assert read_jsonl(answers) == rows[:-1]  # undo deleted the last answer from the file
    assert caption.inner_text().strip() == shown[-1]  # and shows its pair again
    assert image_loaded(rater.locator("img.synthvlm-rater-left")) and image_loaded(rater.locator("img.synthvlm-rater-right"))
    ui.shot("rater-undone", rater)
    TIMES["06 test"] = time.perf_counter() - t0


@pytest.fixture(scope="module", autouse=True)
def _report_times(project_root):
    """Write the steps' seconds next to the screenshots (papermill_runs/browser-tests/times.json)."""
    yield
    if TIMES:
        out = project_root / "papermill_runs" / "browser-tests" / "times.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({k: round(v, 1) for k, v in TIMES.items()}, indent=1) + "\n")
