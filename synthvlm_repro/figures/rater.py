"""Blind A/B rater for JupyterLab: which image fits the caption better?

The synthetic and the original image of a caption are shown in a left/right order drawn from a seed
derived from the pair id (the same order on every reload, so a rater cannot learn a side). Every
answer is appended to a JSONL file and flushed before the next pair shows, so a crashed kernel loses
nothing; a new rater on the same file resumes at the first unanswered pair. Undo deletes the rater's
last answer from the file (atomic rewrite) and shows that pair again, also after a resume.

Keyboard: click into the small "keys" box once, then ``a``/``1`` = left, ``d``/``3`` = right,
``s``/``2`` = tie (equally good), ``n`` = skip for now, ``u`` = undo (delete the last answer, re-show its pair).
Plain ipywidgets has no key events, so the box turns typed characters into answers.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from synthvlm_repro.atomic import write_text
from synthvlm_repro.figures.pairs import item_seed
from synthvlm_repro.figures.preference import append_jsonl, read_jsonl

KEYS = {"a": "left", "1": "left", "d": "right", "3": "right", "s": "tie", "2": "tie", "n": "skip", "u": "undo"}


class PreferenceRater:
    """State of one rater on one pair list; :meth:`widget` is the JupyterLab front end."""

    def __init__(self, pairs: pd.DataFrame, out: Path, rater: str = "human", seed: int = 0):
        self.pairs = pairs.reset_index(drop=True)
        self.out = Path(out)
        self.rater = rater
        self.seed = seed
        index = {pid: i for i, pid in enumerate(self.pairs["pair_id"])}
        answered = [r["pair_id"] for r in read_jsonl(self.out) if r.get("judge") == rater and r.get("pair_id") in index]
        done = set(answered)
        self.queue = [i for i, pid in enumerate(self.pairs["pair_id"]) if pid not in done]
        # answered pairs, oldest first (a re-answered pair counts at its last answer): what undo walks back
        self.history: list[int] = [index[pid] for pid in dict.fromkeys(reversed(answered))][::-1]
        self._ui = None

    # ---- state (no widgets needed)

    def synthetic_on_left(self, pair_id: str) -> bool:
        """The blind order of a pair: fixed by the seed and the pair id."""
        return item_seed(self.seed, f"rater-side:{pair_id}") % 2 == 0

    @property
    def current(self) -> dict | None:
        """The pair on screen: ``pair_id, caption, left, right`` (image paths), or None when done."""
        if not self.queue:
            return None
        row = self.pairs.iloc[self.queue[0]]
        left, right = ((row["synthetic"], row["original"]) if self.synthetic_on_left(row["pair_id"])
                       else (row["original"], row["synthetic"]))
        return {"pair_id": row["pair_id"], "caption": row["caption"], "left": left, "right": right}

    @property
    def progress(self) -> tuple[int, int]:
        """(answered, total)."""
        return len(self.pairs) - len(self.queue), len(self.pairs)

    def answer(self, choice: str) -> dict | None:
        """Record ``left`` / ``right`` / ``tie`` for the current pair (``skip`` moves it to the end,
        ``undo`` deletes the last answer from the file and shows its pair again). Returns the record."""
        if choice == "undo":
            if self.history:
                previous = self.history.pop()
                self._delete_answers(self.pairs["pair_id"].iloc[previous])
                self.queue.insert(0, previous)
            return None
        if not self.queue:
            return None
        if choice == "skip":
            self.queue.append(self.queue.pop(0))
            return None
        if choice not in ("left", "right", "tie"):
            raise ValueError(f"answer must be left, right, tie, skip or undo, got {choice!r}")
        pair = self.current
        syn_left = self.synthetic_on_left(pair["pair_id"])
        winner = "tie" if choice == "tie" else "synthetic" if (choice == "left") == syn_left else "original"
        record = {"pair_id": pair["pair_id"], "judge": self.rater, "winner": winner, "choice": choice,
                  "synthetic_side": "left" if syn_left else "right", "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        append_jsonl(self.out, record)
        self.history.append(self.queue.pop(0))
        return record

    def _delete_answers(self, pair_id: str) -> None:
        """Rewrite the JSONL (atomically) without this rater's lines for ``pair_id``: unanswered again."""
        records = read_jsonl(self.out)
        keep = [r for r in records if not (r.get("judge") == self.rater and r.get("pair_id") == pair_id)]
        if len(keep) != len(records):
            write_text(self.out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep))

    # ---- JupyterLab front end

    def widget(self, image_px: int = 320):
        """The ipywidgets rater (display it as the last expression of a cell)."""
        import ipywidgets as w

        left, right = (w.Image(format="png", width=image_px, height=image_px) for _ in range(2))
        caption = w.HTML()
        status = w.HTML()
        bar = w.IntProgress(min=0, max=len(self.pairs), description="rated")
        keys = w.Text(placeholder="click here, then a / d / s / n / u", description="keys",
                      continuous_update=True, layout=w.Layout(width="320px"))
        buttons = [w.Button(description=d, tooltip=t) for d, t in
                   (("◀ left (a)", "left"), ("tie (s)", "tie"), ("right ▶ (d)", "right"), ("skip (n)", "skip"),
                    ("undo (u)", "undo"))]

        def show():
            done, total = self.progress
            bar.value, bar.description = done, f"{done}/{total}"
            pair = self.current
            if pair is None:
                caption.value = f"<b>All {total} pairs rated.</b> Answers are in <code>{self.out}</code>."
                left.value = right.value = b""
                left.layout.display = right.layout.display = "none"  # an empty <img> shows as a broken one
                return
            left.layout.display = right.layout.display = None
            caption.value = f"<p style='font-size:1.1em'>{pair['caption']}</p>"
            left.value, right.value = _png_bytes(pair["left"], image_px), _png_bytes(pair["right"], image_px)

        def act(choice):
            record = self.answer(choice)
            status.value = f"saved: {record['choice']}" if record else choice
            show()

        for b in buttons:
            b.on_click(lambda btn: act(btn.tooltip))

        def on_key(change):
            text = change["new"]
            if text:
                choice = KEYS.get(text[-1].lower())
                keys.value = ""
                if choice:
                    act(choice)

        keys.observe(on_key, names="value")
        show()
        # stable CSS classes: what the browser tests (tests/test_browser_lab.py) look for on the page
        for widget, name in ((caption, "caption"), (left, "left"), (right, "right"), (keys, "keys"),
                             (bar, "progress"), (status, "status")):
            widget.add_class(f"synthvlm-rater-{name}")
        self._ui = w.VBox([caption, w.HBox([left, right]), w.HBox(buttons), w.HBox([keys, bar, status])])
        return self._ui.add_class("synthvlm-rater")


def _png_bytes(path: str, px: int) -> bytes:
    import io

    from PIL import Image

    img = Image.open(path).convert("RGB")
    img.thumbnail((px, px))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def rater_for_run(ctx, name: str | None = None) -> PreferenceRater:
    """The blind A/B rater of a run: its preference pairs, answers in ``<run>/preference/human-<name>.jsonl``
    (``name`` defaults to the login name), sides seeded by the run's seed."""
    import getpass

    from synthvlm_repro.figures.build import judgment_file
    from synthvlm_repro.figures.pairs import preference_pairs

    name = name or getpass.getuser()
    pairs = preference_pairs(ctx.cfg, ctx.paths, ctx.cfg.figures.preference_pairs)
    return PreferenceRater(pairs, judgment_file(ctx.paths, f"human-{name}"), rater=name, seed=ctx.cfg.seed)
