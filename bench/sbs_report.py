"""
The side-by-side benchmark's report: a table of medians and issue 8's "Done when" ratios.

Pure functions over the medians ``vs_swift.py`` computes:
``{"ceilings": {...}, "servers": {"swift": {...}, "s3node-r1": {...}, ...}}``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ROWS", "checks", "markdown", "report"]

#: (label, figure keys joined by " / ", digits)
ROWS = [
    ("1 GiB single stream PUT MB/s", ["big_put_MBps"], 0),
    ("1 GiB single stream GET MB/s", ["big_get_MBps"], 0),
    ("1 GiB GET time to first byte ms", ["big_get_ttfb_ms"], 1),
    ("N x M concurrent PUT / GET MB/s", ["conc_put_MBps", "conc_get_MBps"], 0),
    ("small objects PUT / GET ops/s", ["small_put_ops", "small_get_ops"], 0),
    ("small PUT / GET p50 ms", ["small_put_p50_ms", "small_get_p50_ms"], 1),
    ("small PUT / GET p99 ms", ["small_put_p99_ms", "small_get_p99_ms"], 1),
    ("small GET TTFB p50 ms", ["small_get_ttfb_p50_ms"], 1),
    ("server CPU ms per small PUT / GET", ["small_put_cpu_ms_per_op", "small_get_cpu_ms_per_op"],
     2),
    ("server CPU s/GB, 1 GiB PUT / GET", ["big_put_cpu_s_per_GB", "big_get_cpu_s_per_GB"], 2),
    ("server CPU s/GB, concurrent PUT / GET",
     ["conc_put_cpu_s_per_GB", "conc_get_cpu_s_per_GB"], 2),
    ("server peak RSS MiB (sampled sum)", ["peak_rss_MiB"], 0),
    ("server sum of VmHWM MiB", ["hwm_sum_MiB"], 0),
    ("server idle RSS MiB / processes", ["idle_rss_MiB", "processes"], 0),
]


def _fmt(value: Any, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _cell(figures: dict | None, keys: list[str], digits: int) -> str:
    if figures is None:
        return "-"
    return " / ".join(_fmt(figures.get(k), digits) for k in keys)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _server(servers: dict, name: str) -> dict:
    """
    The figures of server ``name``; else of the one server named ``name@label``
    (another checkout's, e.g. ``--servers swift,s3node-r1@now``); else none.
    """
    if name in servers:
        return dict(servers[name])
    labelled = [figures for key, figures in servers.items() if key.startswith(name + "@")]
    return dict(labelled[0]) if len(labelled) == 1 else {}


def checks(medians: dict) -> list[dict]:
    """
    Issue 8's "Done when" lines as ratios: ``{"what", "ratio", "goal", "ok"}``.

    ``goal`` is a lower bound of ``ratio`` unless the line says "at most"
    (then ``ok`` means ``ratio <= goal``).  A line whose figures are missing
    (a server not run) has ``ratio`` ``None`` and ``ok`` ``None``.
    """
    s = medians["servers"]
    c = medians["ceilings"]
    r1, r2, sw = _server(s, "s3node-r1"), _server(s, "s3node-r2"), s.get("swift", {})
    dd = c.get("dd_MBps")
    lines = [
        ("1 GiB PUT r1 / dd conv=fdatasync", _ratio(r1.get("big_put_MBps"), dd), 0.9, ">="),
        ("1 GiB PUT r1 / Swift", _ratio(r1.get("big_put_MBps"), sw.get("big_put_MBps")),
         1.0, ">="),
        ("1 GiB GET r1 / Swift", _ratio(r1.get("big_get_MBps"), sw.get("big_get_MBps")),
         1.5, ">="),
        ("concurrent PUT r1 / Swift",
         _ratio(r1.get("conc_put_MBps"), sw.get("conc_put_MBps")), 1.0, ">="),
        ("concurrent GET r1 / Swift",
         _ratio(r1.get("conc_get_MBps"), sw.get("conc_get_MBps")), 1.5, ">="),
        ("1 GiB PUT r2 / (dd / 2)",
         _ratio(r2.get("big_put_MBps"), dd / 2 if dd else None), 0.8, ">="),
        ("small PUT ops/s r1 / Swift",
         _ratio(r1.get("small_put_ops"), sw.get("small_put_ops")), 1.5, ">="),
        ("small GET ops/s r1 / Swift",
         _ratio(r1.get("small_get_ops"), sw.get("small_get_ops")), 1.5, ">="),
        ("small PUT p50 r1 / Swift",
         _ratio(r1.get("small_put_p50_ms"), sw.get("small_put_p50_ms")), 1.0, "<="),
        ("small GET p50 r1 / Swift",
         _ratio(r1.get("small_get_p50_ms"), sw.get("small_get_p50_ms")), 1.0, "<="),
        ("CPU s/GB 1 GiB PUT r1 / Swift",
         _ratio(r1.get("big_put_cpu_s_per_GB"), sw.get("big_put_cpu_s_per_GB")), 1.0, "<="),
        ("CPU s/GB 1 GiB GET r1 / Swift",
         _ratio(r1.get("big_get_cpu_s_per_GB"), sw.get("big_get_cpu_s_per_GB")), 1.0, "<="),
        ("peak RSS r1 / Swift", _ratio(r1.get("peak_rss_MiB"), sw.get("peak_rss_MiB")),
         0.75, "<="),
        ("peak RSS r2 / Swift", _ratio(r2.get("peak_rss_MiB"), sw.get("peak_rss_MiB")),
         0.75, "<="),
    ]
    out = []
    for what, ratio, goal, sense in lines:
        ok = None if ratio is None else (ratio >= goal if sense == ">=" else ratio <= goal)
        out.append({"what": what, "ratio": ratio, "goal": f"{sense} {goal}", "ok": ok})
    return out


def report(medians: dict, args: Any) -> tuple[str, list[dict]]:
    """The printed report and the checks."""
    names = list(medians["servers"])
    c = medians["ceilings"]
    width = max(len(label) for label, _, _ in ROWS) + 2
    title = (f"# medians of {args.repeat} run(s); big {args.big // 2**20} MiB, "
             f"{args.streams} x {args.stream_size // 2**20} MiB, {args.clients} clients x "
             f"{args.ops} x {args.small_size} B")
    lines = [title,
             "figure".ljust(width) + "".join(n.rjust(16) for n in names)]
    for label, keys, digits in ROWS:
        lines.append(label.ljust(width) + "".join(
            _cell(medians["servers"][n], keys, digits).rjust(16) for n in names))
    lines.append("ceilings: " + ", ".join(f"{k} {_fmt(v, 0)}" for k, v in c.items()))
    for n in names:
        for error in medians["servers"][n].get("errors", []):
            lines.append(f"{n} FAILED a run: {error}")
    found = checks(medians)
    lines.append("issue 8 'Done when' (same-run ratios):")
    for check in found:
        verdict = {True: "ok", False: "MISSED", None: "n/a"}[check["ok"]]
        lines.append(f"  {check['what']:<36} {_fmt(check['ratio'], 2):>7}  "
                     f"(goal {check['goal']})  {verdict}")
    return "\n".join(lines), found


def markdown(medians: dict) -> str:
    """The figures as a Markdown table (one column per server, the ceilings last)."""
    names = list(medians["servers"])
    lines = ["| figure | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for label, keys, digits in ROWS:
        cells = [_cell(medians["servers"][n], keys, digits) for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    ceilings = ", ".join(f"{k.removesuffix('_MBps')} {_fmt(v, 0)} MB/s"
                         for k, v in medians["ceilings"].items())
    return "\n".join(lines) + f"\n\nCeilings in the same run: {ceilings}."
