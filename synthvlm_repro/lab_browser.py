"""Drive JupyterLab in a real Chromium with Playwright, as a person would: open a notebook, Run All, read
what the page shows, click and type into widgets, take screenshots.

Used by the browser tests (``tests/test_browser_lab.py``) and to regenerate the README pictures
(``python -m synthvlm_repro.lab_browser RUN_DIR``). Playwright's own browser download is not used: it
launches the system's Chromium (Debian: ``apt-get install chromium``; or ``$SYNTHVLM_CHROMIUM``).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

# JupyterLab user settings for a scripted browser: every cell stays in the DOM (no virtual scrolling),
# and no news/update toasts cover the widgets.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in the front tab
ERROR_OUTPUT = NOTEBOOK + ' .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]'
CODE_PROMPTS = NOTEBOOK + " .jp-CodeCell .jp-InputArea-prompt"


def find_chromium() -> str | None:
    """``$SYNTHVLM_CHROMIUM``, else the first Chromium/Chrome on ``PATH``."""
    env = os.environ.get("SYNTHVLM_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def browser_missing_reason() -> str | None:
    """Why the browser tests cannot run here (one line), or None when they can."""
    import importlib.util

    for module, package in (("playwright", "playwright"), ("jupyterlab", "jupyterlab")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (pip install -e '.[dev]')"
    if find_chromium() is None:
        return "no Chromium on PATH (apt-get install chromium, or set SYNTHVLM_CHROMIUM)"
    return None


def launch_chromium(playwright):
    """Headless system Chromium (``--no-sandbox``: CI and containers run as root)."""
    return playwright.chromium.launch(executable_path=find_chromium(), headless=True,
                                      args=["--no-sandbox", "--disable-dev-shm-usage"])


class LabPage:
    """One JupyterLab tab: notebook actions through the menus, plus numbered screenshots in ``shots_dir``."""

    def __init__(self, page, server, shots_dir: Path | None = None):
        self.page, self.server = page, server
        self.shots_dir = Path(shots_dir) if shots_dir else None
        self._shot = 0

    def shot(self, name: str, locator=None) -> Path | None:
        """Save ``NN-name.png`` (the page, or one element) when a screenshot folder is set."""
        if self.shots_dir is None:
            return None
        self.shots_dir.mkdir(parents=True, exist_ok=True)
        self._shot += 1
        path = self.shots_dir / f"{self._shot:02d}-{name}.png"
        (locator or self.page).screenshot(path=str(path))
        return path

    def open_notebook(self, rel_path: str, timeout_s: float = 120) -> None:
        """Open ``rel_path`` (relative to the server root) alone (``?reset``: no tabs restored from the
        workspace) and wait until its kernel is idle."""
        self.page.goto(self.server.url(f"/lab/tree/{rel_path}?reset"))
        self.page.locator(f"{NOTEBOOK} .jp-Cell").first.wait_for(timeout=timeout_s * 1000)
        self.wait_kernel_idle(timeout_s)

    def wait_kernel_idle(self, timeout_s: float = 120) -> None:
        """Wait for the status bar's ``<kernel> | Idle`` (a Run All before that asks for a kernel)."""
        self.page.get_by_text(re.compile(r"\|\s*Idle$")).first.wait_for(timeout=timeout_s * 1000)

    def menu(self, *path: str) -> None:
        """Click through the menu bar, e.g. ``menu("Run", "Run All Cells")``; accept a confirmation dialog."""
        self.page.get_by_role("menuitem", name=path[0], exact=True).click()
        for item in path[1:]:
            self.page.get_by_role("menuitem", name=re.compile("^" + re.escape(item))).first.click()
        dialog = self.page.locator(".jp-Dialog .jp-mod-accept")
        try:
            dialog.wait_for(timeout=1500)
            dialog.click()
        except Exception:  # no dialog for this command
            pass

    def prompts(self) -> list[str]:
        """The code cells' execution prompts: ``[3]:``, ``[*]:`` (running/queued) or ``[ ]:``."""
        return [t.strip() for t in self.page.locator(CODE_PROMPTS).all_inner_texts()]

    def run_all(self, timeout_s: float = 600, restart: bool = False, through: str | None = None) -> float:
        """Clear all outputs, then Run All (``restart``: Restart Kernel and Run All Cells; ``through``: Restart
        Kernel and Run up to the cell whose source contains it) and wait until those cells ran or one
        failed. Returns the seconds the run took."""
        self.menu("Edit", "Clear Outputs of All Cells")
        self.page.wait_for_function(f"[...document.querySelectorAll('{CODE_PROMPTS}')]"
                                    ".every(p => !/\\d/.test(p.innerText))", timeout=30_000)
        self.wait_kernel_idle(120)
        last = self.page.locator(CODE_PROMPTS).count() - 1
        if through is not None:
            cell = self.page.locator(f"{NOTEBOOK} .jp-CodeCell", has_text=through).first
            cell.locator(".jp-InputArea-prompt").click()  # selects the cell (command mode)
            last = cell.evaluate("(c, sel) => [...document.querySelectorAll(sel)].indexOf(c.querySelector"
                                 "('.jp-InputArea-prompt'))", CODE_PROMPTS)
        t0 = time.perf_counter()
        if through is not None:
            self.menu("Kernel", "Restart Kernel and Run up to Selected Cell")
        elif restart:
            self.menu("Kernel", "Restart Kernel and Run All Cells")
        else:
            self.menu("Run", "Run All Cells")
        deadline = t0 + timeout_s
        while time.perf_counter() < deadline:
            ran = self.prompts()[:last + 1]
            if not any("*" in p for p in self.prompts()) and (all(re.search(r"\d", p) for p in ran) or self.errors()):
                return time.perf_counter() - t0
            self.page.wait_for_timeout(500)
        raise TimeoutError(f"Run All still running after {timeout_s:.0f} s: prompts {self.prompts()}")

    def errors(self) -> list[str]:
        """The text of every error output on the page (a traceback per failed cell)."""
        return self.page.locator(ERROR_OUTPUT).all_inner_texts()

    def append_to_cell(self, containing: str, line: str) -> None:
        """Type ``line`` as a new last line of the code cell whose source contains ``containing``."""
        editor = self.page.locator(f"{NOTEBOOK} .jp-CodeCell", has_text=containing).first.locator(".cm-content")
        editor.click()
        self.page.keyboard.press("Control+End")
        self.page.keyboard.press("Enter")
        self.page.keyboard.type(line)
        self.page.keyboard.press("Escape")


def image_loaded(locator) -> bool:
    """True when the ``<img>`` has decoded a non-empty picture."""
    return bool(locator.evaluate("img => img.complete && img.naturalWidth > 0 && img.naturalHeight > 0"))


def _small_png(src, dest: Path, max_width: int = 900, colors: int = 128) -> Path:
    """Save ``src`` (a path or PNG bytes) as a palette PNG at most ``max_width`` wide: README-sized."""
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(src) if isinstance(src, bytes) else src).convert("RGB")
    if img.width > max_width:
        img = img.resize((max_width, round(img.height * max_width / img.width)), Image.LANCZOS)
    dest.parent.mkdir(parents=True, exist_ok=True)
    img.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(dest, optimize=True)
    return dest


def _widget_screenshot(ui: "LabPage", notebook: str, selector: str, out: Path,
                       edit: tuple[str, str] | None = None) -> Path:
    """Open ``notebooks/<notebook>.ipynb``, append ``edit[1]`` to the cell containing ``edit[0]``, run all, save the
    widget ``selector`` as a small PNG; a failing notebook raises with its error."""
    ui.open_notebook(f"notebooks/{notebook}.ipynb")
    if edit:
        ui.append_to_cell(*edit)
    ui.run_all()
    if ui.errors():
        raise RuntimeError(f"notebook {notebook} failed in JupyterLab: {ui.errors()[0][-300:]}")
    widget = ui.page.locator(selector)
    widget.scroll_into_view_if_needed()
    return _small_png(widget.screenshot(), out)


def readme_screenshots(run_dir: Path, out_dir: Path, figure: str = "data_quality") -> list[Path]:
    """Regenerate the README's "what you will see" pictures from a finished smoke run: the pair browser of
    notebook 03 (moved one step), the rater of notebook 06 (``rate = True``), and ``figures/<figure>.png``
    (a paper figure beside the paper's numbers) as small PNGs in ``out_dir``. The notebooks run from a
    temporary copy; the rater is shown, not answered."""
    import tempfile

    from playwright.sync_api import sync_playwright

    from synthvlm_repro.config import load_config
    from synthvlm_repro.lab import LabServer
    from synthvlm_repro.paths import find_project_root

    reason = browser_missing_reason()
    if reason:
        raise RuntimeError(reason)
    project, out_dir = find_project_root(), Path(out_dir)
    made = []
    with tempfile.TemporaryDirectory(prefix="synthvlm-readme-") as tmp, sync_playwright() as playwright:
        shutil.copytree(project / "notebooks", Path(tmp) / "notebooks")
        browser = launch_chromium(playwright)
        with LabServer(Path(tmp), Path(run_dir), settings=LAB_SETTINGS) as server:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.set_default_timeout(60_000)
            ui = LabPage(page, server)
            made.append(_widget_screenshot(ui, "03_clip_selection", ".synthvlm-pair-browser",
                                           out_dir / "pair_browser.png"))
            made.append(_widget_screenshot(ui, "06_paper_figures", ".synthvlm-rater", out_dir / "rater.png",
                                           edit=("rate = False", "rate = True")))
        browser.close()
    figures = Path(load_config("smoke").figures.output_dir).expanduser()
    figures = figures if figures.is_absolute() else project / figures
    made.append(_small_png(figures / f"{figure}.png", out_dir / f"figure_{figure}.png"))
    return made


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Regenerate the README's JupyterLab pictures from a smoke run.")
    parser.add_argument("run_dir", help="a finished smoke run dir (e.g. runs/smoke)")
    parser.add_argument("--out", default="figures/readme", help="where the PNGs go (default: figures/readme)")
    parser.add_argument("--figure", default="data_quality", help="which figures/<name>.png to include")
    cli = parser.parse_args()
    for path in readme_screenshots(Path(cli.run_dir).resolve(), Path(cli.out), cli.figure):
        print(f"{path}\t{path.stat().st_size // 1024} KiB")
