"""The recorded results: ``<date>-<host>.json`` (everything) and ``<date>-<host>.md`` (the table).

The markdown starts with the targets (met / missed), then one table per part: each figure's median and
min–max over rounds, and beside it its ratios to the figures it is compared with.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from bench.model import PartResult
from bench.stats import Figure, Target

SCHEMA_VERSION = 1


def write_results(
    out_dir: Path, stem: str, header: dict[str, Any], parts: list[PartResult], *, latest: bool = True
) -> tuple[Path, Path]:
    """Write the JSON and the markdown (and ``LATEST.md``, a copy of the markdown); their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    document = {"schema_version": SCHEMA_VERSION, **header, "parts": [part.to_json() for part in parts]}
    json_path = out_dir / f"{stem}.json"
    md_path = out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(document, json_path.name), encoding="utf-8")
    if latest:
        shutil.copyfile(md_path, out_dir / "LATEST.md")
    return json_path, md_path


def render_markdown(document: dict[str, Any], json_name: str) -> str:
    """The markdown table of a results document (the JSON written by :func:`write_results`)."""
    lines = [f"# LGSP bus benchmarks — {document['date']}, {document['machine']['host']}", ""]
    lines += _preamble(document, json_name)
    lines += _targets(document["parts"])
    for index, part in enumerate(document["parts"], start=1):
        lines += _part(index, part)
    return "\n".join(lines).rstrip() + "\n"


_BYTECODE = {
    True: "compiled before the run (as an install does)",
    False: "partly compiled (some child processes compile from source)",
}


def _preamble(document: dict[str, Any], json_name: str) -> list[str]:
    machine = document["machine"]
    kafka = machine.get("kafka", {})
    packages = machine.get("packages", {})
    load = machine.get("load_average_at_start") or []
    source = document.get("source") or {}
    commit = (source.get("commit") or "unknown")[:12] + (
        " (with changes not committed)" if source.get("dirty") else ""
    )
    lines = [
        f"`{document['command']}` — started {document['started_at']}, took "
        f"{document['seconds'] / 60:.1f} min, at commit {commit}. Full data: [{json_name}]({json_name}).",
        "",
        f"- **Machine**: {machine['cores']} cores, {machine['cpu_model']}, {machine.get('memory_gib')} GiB, "
        f"{machine['os']}",
        f"- **Software**: {machine['python']}, aiokafka {packages.get('aiokafka')}, "
        f"fastavro {packages.get('fastavro')}, avro {packages.get('avro')}, "
        f"{machine.get('java') or 'no java'}, {machine.get('wrk') or 'no wrk'}; signing hashes: "
        f"{machine.get('signing_hashes', 'python')}, Avro writer: {machine.get('avro_writer', 'python')}; "
        f"bytecode {_BYTECODE.get(machine.get('bytecode_compiled'), 'not recorded')}",
        f"- **Kafka**: {kafka.get('tools_version')} "
        f"(broker metadata.version {kafka.get('metadata_version')}), {document['stack']['source']} "
        f"at {document['stack']['bootstrap_servers']}",
        f"- **Load average** (1/5/15 min) at start: {' / '.join(str(x) for x in load) or 'n/a'} — "
        "the machine may be shared with other work; every figure is the median of its rounds with the "
        "min–max range, and each part records the load before and after it.",
    ]
    if document.get("smoke"):
        lines.append("- **Smoke run**: tiny sizes, to check the command works; the numbers mean nothing.")
    return [*lines, ""]


def _targets(parts: list[dict[str, Any]]) -> list[str]:
    rows = [target | {"part": part["name"]} for part in parts for target in part["targets"]]
    if not rows:
        return []
    lines = ["## Targets", "", "| Target | Measured | Result |", "|---|---:|---|"]
    for row in rows:
        lines.append(f"| {row['label']} | {_target_value(row)} | {_verdict(row['met'])} |")
    return [*lines, ""]


def _verdict(met: bool | None) -> str:
    if met is None:
        return "not measured"
    return "✅ met" if met else "❌ **missed**"


def _target_value(row: dict[str, Any]) -> str:
    value = row["measured"]
    if value is None:
        return "—"
    unit = row["unit"]
    if unit == "×":
        rounds = [r for r in row.get("per_round") or () if r is not None]
        if len(rounds) > 1:  # older results have no per-round values
            return f"{value:.2f}× (rounds {min(rounds):.2f}–{max(rounds):.2f})"
        return f"{value:.2f}×"
    return f"{_number(value)} {unit}".strip()


def _part(index: int, part: dict[str, Any]) -> list[str]:
    lines = [f"## {index}. {part['title']}", ""]
    if part["status"] != "ok":
        lines += [f"**{part['status']}**: {part['error']}", ""]
    sizes = ", ".join(f"{k.replace('_', ' ')} {_size(v)}" for k, v in part["sizes"].items())
    lines += [
        f"{part['rounds']} round{'' if part['rounds'] == 1 else 's'}, {part['seconds']:.0f} s; "
        "load average before / after: "
        f"{_load(part['load_average_before'])} → {_load(part['load_average_after'])}.",
        f"Sizes: {sizes}." if sizes else "",
        "",
    ]
    figures = [f for f in part["figures"] if f["rounds"]]
    if figures:
        lines += ["| Figure | Median | Min – max | Unit | Compared |", "|---|---:|---:|---|---|"]
        for figure in figures:
            compared = [
                r for r in part["ratios"] if r["numerator"] == figure["key"] and r["value"] is not None
            ]
            beside = ", ".join(f"**{r['value']:.2f}×** {r['label']}" for r in compared)
            lines.append(
                f"| {figure['label']} | {_number(figure['median'])} | {_number(figure['min'])} – "
                f"{_number(figure['max'])} | {figure['unit']} | {beside} |"
            )
        lines.append("")
    lines += [f"- {note}" for note in part["notes"]]
    if part["profile"]:
        lines += ["", "Profile (hot path):", ""] + [f"- {line}" for line in part["profile"]]
    return [*lines, ""]


def _number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _size(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, list | tuple):
        return "/".join(str(v) for v in value)
    return str(value)


def _load(values: list[float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values) if values else "n/a"


def figure_line(figure: Figure) -> str:
    """One figure as a console line."""
    spread = f"{_number(figure.low)} – {_number(figure.high)}"
    return f"{figure.label}: {_number(figure.median)} {figure.unit} ({spread})"


def target_line(target: Target, measured: float, met: bool | None) -> str:
    """One target as a console line."""
    value = "—" if math.isnan(measured) else (f"{measured:.2f}×" if target.unit == "×" else _number(measured))
    return f"{target.label}: {value} {_verdict(met)}"
