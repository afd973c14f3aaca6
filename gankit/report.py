"""`gankit report RUN`: one self-contained HTML page about a run.

It holds the config, the loss curves, the FID curve of `--eval-every` (when the run had one),
the metric table of `gankit eval` with its protocol and floors, the nearest-training-image grid,
the model's own figures (the vae's reconstructions and interpolations) and every per-epoch
sample grid. Images are embedded as base64, so the page can be mailed or
copied alone.
"""

from __future__ import annotations

import base64
import html
import json
import tempfile
from pathlib import Path

from gankit.metrics.evaluate import class_shares, metric_rows
from gankit.runs import RunFolder


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(result: dict) -> str:
    rows = [f"<tr><td>{html.escape(label)}</td><td>{value}</td><td>{floor}</td><td>{better}</td></tr>"
            for _, label, value, floor, better in metric_rows(result)]
    if "histogram" in result["scores"]:
        rows.append(f'<tr><td>class shares (%)</td><td colspan="3">{class_shares(result["scores"])}</td></tr>')
    m = result.get("memorization")
    if m:
        for space in ("pixel", "feature"):
            c = m[space]
            rows.append(f"<tr><td>near-copies ({space})</td><td>{100 * c['near_copy_share']:.2f}%</td>"
                        f"<td>1% (by construction)</td><td>lower</td></tr>")
            rows.append(f"<tr><td>median nearest-training distance ({space})</td><td>{c['samples']['q50']:.4f}"
                        f"</td><td>{c['test']['q50']:.4f}</td><td>info</td></tr>")
    head = "<tr><th>metric</th><th>value</th><th>floor (real data)</th><th>better</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _protocol(result: dict) -> str:
    items = "".join(f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>"
                    for k, v in result["protocol"].items())
    return f"<ul>{items}</ul>"


def write_report(run: RunFolder, out: Path, result: dict | None) -> None:
    """Write the page to `out` (atomically). `result`: the run's eval.json content, or None."""
    from gankit.files import write_text_atomic
    from gankit.viz import plot_eval

    cfg, info = run.read_config()
    rows = run.read_metrics()
    parts = [f"<h1>gankit run {html.escape(run.path.name)}</h1>",
             f"<p>{html.escape(cfg.model)} on {html.escape(cfg.dataset)} {info.shape}; "
             f"{len([r for r in rows if not r.get('eval')])} metrics rows, last step "
             f"{max((r.get('step', 0) for r in rows), default=0)}.</p>"]
    if run.losses_png.is_file():
        parts += ["<h2>Training curves</h2>", _img(run.losses_png, "losses")]
    with tempfile.TemporaryDirectory() as tmp:
        fid_png = Path(tmp) / "fid.png"
        if plot_eval(rows, fid_png, title="evaluation during training"):
            parts += ["<h2>FID during training</h2>", _img(fid_png, "FID curve")]
    if result is not None:
        parts += ["<h2>Evaluation</h2>", _table(result), "<h3>Protocol</h3>", _protocol(result)]
        png = Path(result.get("memorization", {}).get("pairs_png") or "")  # only this evaluation's grid
        if png.name and png.is_file():
            parts += ["<h2>Nearest training images</h2>",
                      "<p>Rows of samples closest to a training image (pixel space), each followed by "
                      "the row of those training images.</p>", _img(png, "nearest neighbours")]
    else:
        parts.append("<p>No evaluation yet: run <code>gankit eval RUN</code>.</p>")
    shown = {run.losses_png.name, "nearest.png"}
    figures = sorted(p for p in run.path.glob("*.png") if p.name not in shown)
    if figures:  # the model's own end-of-training pictures (reconstructions, interpolations)
        parts.append("<h2>Figures</h2>")
        parts += [f"<figure>{_img(p, p.stem)}<figcaption>{p.stem}</figcaption></figure>" for p in figures]
    grids = sorted(run.samples_dir.glob("epoch_*.png")) + sorted(run.samples_dir.glob("final.png"))
    if grids:
        parts.append("<h2>Samples (fixed latents)</h2>")
        parts += [f"<figure>{_img(p, p.stem)}<figcaption>{p.stem}</figcaption></figure>" for p in grids]
    parts.append("<h2>Config</h2><pre>" + html.escape(json.dumps(cfg.to_dict(), indent=2)) + "</pre>")
    style = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto}img{max-width:100%}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
             "td:first-child{text-align:left}figure{display:inline-block;margin:6px}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>gankit {html.escape(run.path.name)}"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
    write_text_atomic(out, page)
