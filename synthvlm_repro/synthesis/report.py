"""What the notebook shows: throughput, a cost estimate, and captions next to their images."""

from __future__ import annotations

from pathlib import Path


def throughput(manifest) -> float:
    """Images per second per process (rendering + writing, from the manifest's per-image seconds)."""
    made = manifest[manifest["status"] != "failed"]
    return float(1.0 / made["seconds"].mean()) if len(made) and made["seconds"].mean() > 0 else 0.0


def gpu_hours_per_100k_kept(manifest, kept_fraction: float) -> float:
    """GPU-hours to end with 100K selected images when stage 03 keeps ``kept_fraction`` of the generated ones
    (the paper: 100K of ~1M, i.e. 0.1)."""
    rate = throughput(manifest)
    if rate <= 0 or kept_fraction <= 0:
        return float("nan")
    return 100_000 / kept_fraction / rate / 3600


def sample_figure(manifest, run_root: Path, n: int = 8, columns: int = 4):
    """A grid of the first ``n`` captions, each with its candidate images side by side."""
    import matplotlib.pyplot as plt
    import textwrap
    from PIL import Image

    ids = list(dict.fromkeys(manifest["caption_id"]))[:n]
    per = int(manifest["candidate"].max()) + 1 if len(manifest) else 1
    rows = -(-len(ids) // columns)
    fig, axes = plt.subplots(rows, columns * per, figsize=(2.2 * columns * per, 2.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, cid in enumerate(ids):
        group = manifest[manifest["caption_id"] == cid].sort_values("candidate")
        for k, row in enumerate(group.itertuples()):
            ax = axes[i // columns][(i % columns) * per + k]
            if row.status != "failed" and (run_root / row.path).exists():
                ax.imshow(Image.open(run_root / row.path))
            label = f"{cid} #{row.candidate}" + ("" if row.status == "ok" else f" [{row.status}]")
            caption = textwrap.shorten(row.caption, 60) if k == 0 else ""
            ax.set_title(label + ("\n" + "\n".join(textwrap.wrap(caption, 28)) if caption else ""), fontsize=7)
    fig.tight_layout()
    return fig
