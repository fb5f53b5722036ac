"""The report: every question of the homework answered from the measured numbers.

``python -m hw1.report [DIR] [--link-figures] [--compare OTHER]`` reads the finished runs under
``DIR`` (their settings.json, outcome.json and CSVs; nothing else: no TensorFlow, no training) and
writes

- ``DIR/REPORT.md``: Markdown, figures linked by relative path;
- ``DIR/report.html``: one self-contained page (figures embedded as base64 PNG, CSS inline,
  no external URL), readable offline: the file to hand in. ``--link-figures`` links the PNGs
  by relative path instead of embedding them.

With ``--compare OTHER`` (e.g. the full-size run against the default one, ``results/``), a table
at the top lists, per task, the settings that differ from OTHER's run (the likely cause of a
difference) and the findings whose verdict changed (where the runs disagree).

The report opens with the conclusions (one paragraph per question, with the figure that
answers it), then the findings that contradict the literature or fail a check, then one
section per task of the assignment, in its order: "Describe" (settings), the figures, and
"Comment" (findings generated from the CSVs by the experiment's view, :mod:`hw1.report.views`).
A finding is marked as agreeing with or contradicting the literature only when the evidence
carries it (:data:`hw1.report.evidence.RULE`); otherwise it says "not resolved by this run".

Exit status: 0 when every section that has results was built, 1 when one could not be (its
reason is in the report and on stderr) or the disk is full (one line; the old report is kept), 2 when DIR
does not exist.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from hw1.report.document import Conclusion, Document, Figure, Note, Section, Table, html_page, markdown
from hw1.report.evidence import RULE
from hw1.report.prose import duration
from hw1.results import DiskFullError, ResultsError, ResultsFolder, inside, write_text
from hw1.report.views import Plot, Task, View, views


def _section(view: View, task: Task, run: ResultsFolder | None, error: str) -> tuple[Section, Conclusion | None]:
    section = Section(task.key, task.title, task.question, view.experiment)
    if run is None:
        section.error, section.missing = error, not error
        section.status = "error" if error else "not run"
        return section, None
    section.status = f"{run.profile} profile, {duration(run.outcome.get('seconds'))}"
    try:
        section.describe = task.describe(run)
        plots = view.task_plots(task, run)
        section.figures = [Figure(f"{view.experiment}/{p.file}", p.title, p.caption,
                                  _figure_exists(run.folder, p.file)) for p in plots]
        section.comment = task.comment(run)
        text, answer = task.conclusion(run)
    except ResultsError as err:  # files hw1 did not write (schema, names, sizes); a bug of a view is raised
        section.error, section.status = str(err), "error"
        return section, None
    if answer is not None and not isinstance(answer, Plot):
        raise TypeError(f"{view.experiment} {task.key}: the conclusion cites a {type(answer).__name__}, not a Plot")
    figure = next((f for p, f in zip(plots, section.figures) if p == answer), None)  # the Plot the view cites
    return section, Conclusion(section, text, figure)


def _figure_exists(folder: Path, name: str) -> bool:
    """Whether the figure ``name`` is a regular file in ``folder`` itself (a symbolic link, which could embed a
    file from elsewhere into report.html, counts as missing)."""
    try:
        path = inside(folder, name)
    except ResultsError:
        return False
    return path.is_file()


def build(root: str | Path) -> tuple[list[Section], list[Conclusion], list[ResultsFolder]]:
    """Every section of the report from the results under ``root``; a failing section records its reason."""
    root = Path(root)
    sections, conclusions, runs = [], [], []
    for view in views():
        folder = root / view.experiment
        run, error = None, ""
        if (folder / "settings.json").exists() or (folder / "outcome.json").exists():
            try:
                run = view.open(folder)
                runs.append(run)
            except ResultsError as err:
                error = str(err)
        for task in view.tasks:
            section, conclusion = _section(view, task, run, error)
            sections.append(section)
            if conclusion is not None:
                conclusions.append(conclusion)
    return sections, conclusions, runs


# ---------------------------------------------------------------- the header

def run_table(runs: list[ResultsFolder]) -> Table:
    rows, total = [], 0.0
    for run in runs:
        data = run.settings.get("dataset")
        dataset = (f"{data['name']} ({data['train_size']:,} / {data['test_size']:,})" if isinstance(data, dict)
                   else "generated function")
        seconds = run.outcome.get("seconds")
        total += seconds or 0.0
        memory = run.outcome.get("peak_memory_mb")
        rows.append([run.experiment, run.profile, dataset, str(run.seed), duration(seconds),
                     f"{memory:,} MiB" if memory is not None else "n/a"])
    rows.append(["total", "", "", "", duration(total), ""])
    return Table(["Experiment", "Profile", "Dataset (train / test)", "Seed", "Wall time", "Peak memory"], rows,
                 "Experiments")


def machine_text(runs: list[ResultsFolder]) -> str:
    machines = {repr(r.meta.get("machine")): r.meta.get("machine") or {} for r in runs}
    parts = []
    for m in machines.values():
        gpus = m.get("gpus")
        accel = ("GPU: " + ", ".join(gpus)) if gpus else ("no GPU seen by TensorFlow (CPU only)" if gpus == []
                                                          else "GPUs not recorded")
        parts.append(f"{m.get('platform', 'unknown platform')}, {m.get('processor', '?')}, "
                     f"{m.get('cpu_count', '?')} CPU cores, {accel}")
    return "; ".join(parts) + (" (the experiments ran on different machines)" if len(parts) > 1 else "")


def versions_text(runs: list[ResultsFolder]) -> str:
    """``python 3.11.7 · keras 3.15.1 · …``; a package whose version differs between experiments lists each."""
    found: dict[str, dict[str, list[str]]] = {}
    for r in runs:
        for package, version in (r.meta.get("versions") or {}).items():
            found.setdefault(package, {}).setdefault(version, []).append(r.experiment)
    return " · ".join(f"{package} " + (next(iter(by)) if len(by) == 1 else
                                       " / ".join(f"{v} ({', '.join(names)})" for v, names in by.items()))
                      for package, by in found.items())


# ---------------------------------------------------------------- against another run

def _flat(settings: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def settings_diff(here: dict, there: dict, limit: int = 8) -> str:
    """``dataset.name fashion_mnist vs mnist_bundled; epochs 10 vs 20``: the settings that differ."""
    a, b = _flat(here), _flat(there)
    skip = {"dataset.source", "seeds"}  # where the files came from; the seeds follow from --seed
    diffs = [f"{key} {_short(a.get(key))} vs {_short(b.get(key))}" for key in sorted(a.keys() | b.keys())
             if key not in skip and a.get(key) != b.get(key)]
    return "; ".join(diffs[:limit]) + (f"; and {len(diffs) - limit} more" if len(diffs) > limit else "") or "none"


def _short(value: object, width: int = 40) -> str:
    text = "n/a" if value is None else (f"{value:,}" if isinstance(value, int) and not isinstance(value, bool)
                                        else str(value))
    return text if len(text) <= width else text[:width - 3] + "..."


def verdict_changes(here: Section, there: Section) -> str:
    """The findings (paired in the order the view writes them) whose verdict differs between two runs, and the
    checks that failed in only one of them."""
    def split(section: Section) -> tuple[list[Note], list[Note]]:
        notes = [n for n in section.comment if isinstance(n, Note) and n.verdict]
        return [n for n in notes if n.verdict != "warning"], [n for n in notes if n.verdict == "warning"]

    (mine, my_checks), (theirs, their_checks) = split(here), split(there)
    if len(mine) != len(theirs):
        count = lambda notes: ", ".join(f"{sum(n.verdict == v for n in notes)} {v}"  # noqa: E731
                                        for v in dict.fromkeys(n.verdict for n in notes)) or "none"
        changed = [f"here: {count(mine)}; there: {count(theirs)}"]
    else:
        changed = [f"{b.verdict} → {a.verdict}: “{_short(a.text, 110)}”" for a, b in zip(mine, theirs)
                   if a.verdict != b.verdict]
    changed += [f"check failed {where} only: “{_short(n.text, 110)}”" for where, checks, others in
                (("here", my_checks, their_checks), ("there", their_checks, my_checks))
                for n in checks if not others]
    if changed:
        return "; ".join(changed)
    return "none" + (f" (the same verdict in both for its {len(mine)} finding{'s' * (len(mine) > 1)} with one)"
                     if mine else " (no finding with a verdict)")


def comparison(root: Path, sections: list[Section], runs: list[ResultsFolder], other: Path) -> Table:
    """Per task: the settings that differ from ``other``'s run of it, and the findings whose verdict changed."""
    there_sections, _, there_runs = build(other)
    runs_here, runs_there = {r.experiment: r for r in runs}, {r.experiment: r for r in there_runs}
    sections_there = {s.key: s for s in there_sections}
    rows = []
    for here in sections:
        there = sections_there.get(here.key)
        if here.missing or here.error:
            continue
        if there is None or there.missing or there.error or here.experiment not in runs_there:
            rows.append([here.key, "(no finished run of it there)", ""])
            continue
        rows.append([here.key, settings_diff(runs_here[here.experiment].settings,
                                             runs_there[here.experiment].settings),
                     verdict_changes(here, there)])
    profiles = "/".join(sorted({r.profile for r in there_runs})) or "unknown"
    return Table(["Task", "Settings that differ (here vs there)", "Findings whose verdict changed (there → here)"],
                 rows, f"This run against the {profiles}-profile run whose report is "
                       f"{os.path.relpath(other / 'REPORT.md', root)}")


def document(root: str | Path, compare: str | Path | None = None) -> Document:
    """The whole report as a :class:`hw1.report.document.Document`; with ``compare``, set against that folder's runs."""
    root = Path(root)
    sections, conclusions, runs = build(root)
    profiles = sorted({r.profile for r in runs})
    missing = sorted({s.experiment for s in sections if s.missing})
    shown = os.path.relpath(root) if not os.path.relpath(root).startswith("..") else str(root)
    meta = [f"Built by `python -m hw1.report {shown}` from the CSVs and settings.json files in that folder alone: "
            "every number below is read from them or computed from them, none is typed by hand.",
            f"Profile: {', '.join(profiles) if profiles else 'n/a'}"
            + (" (mixed: the experiments ran with different profiles)" if len(profiles) > 1 else "") + ".",
            f"Machine: {machine_text(runs) if runs else 'n/a'}.",
            *(["The smoke profile uses tiny data and training budgets to test the code; its numbers do not answer "
               "the homework's questions (use the default profile for that)."] if "smoke" in profiles else []),
            f"Package versions: {versions_text(runs) if runs else 'n/a'}.",
            f"Reading the findings, one rule for every comparison: {RULE}. A comparison that does not pass is reported as "
            "not resolved by this run."]
    if missing:
        meta.append(f"Not run (no finished run found): {', '.join(missing)}.")
    flagged = [(s, n) for s in sections for n in s.comment if isinstance(n, Note)
               and n.verdict in ("contradicts", "disagrees", "warning")]
    untested = sum(s.missing or bool(s.error) for s in sections)
    nothing = ("Nowhere: no finding below contradicts the literature or fails a check"
               + (f" ({untested} of {len(sections)} sections were not run or could not be built, so they test "
                  "nothing)." if untested else "."))
    tables = [run_table(runs), *([comparison(root, sections, runs, Path(compare))] if compare is not None else [])]
    return Document("HW1 report", meta, tables, conclusions, flagged, sections, nothing)


# ---------------------------------------------------------------- command line

def write_report(root: str | Path, embed: bool = True,
                 compare: str | Path | None = None) -> tuple[Path, Path, Document]:
    """Build the document (set against ``compare``'s runs if given) and write ``REPORT.md`` and ``report.html``
    into ``root``."""
    root = Path(root)
    doc = document(root, compare)
    md = write_text(root / "REPORT.md", markdown(doc))
    page = write_text(root / "report.html", html_page(root, doc, embed))
    return md, page, doc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw1.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", nargs="?", default="results", help="results folder (default: results)")
    parser.add_argument("--link-figures", action="store_true",
                        help="link the PNGs from report.html by relative path instead of embedding them")
    parser.add_argument("--compare", metavar="OTHER", default=None,
                        help="set each conclusion beside the one in the results folder OTHER (e.g. results)")
    args = parser.parse_args(argv)
    root = Path(args.dir)
    if not root.is_dir():
        print(f"hw1.report: error: results folder {str(root)!r} does not exist; run `bash run_all.sh` first "
              "or give the folder as the first argument", file=sys.stderr)
        return 2
    if args.compare is not None and not Path(args.compare).is_dir():
        print(f"hw1.report: error: --compare {args.compare!r} is not a folder; give a results folder such as "
              "results", file=sys.stderr)
        return 2
    try:
        md, page, doc = write_report(root, embed=not args.link_figures, compare=args.compare)
    except DiskFullError as err:
        print(f"hw1.report: error: {err}", file=sys.stderr)
        return 1
    done = sum(not s.missing and not s.error for s in doc.sections)
    print(f"hw1.report: {done} of {len(doc.sections)} sections built; wrote {md} and {page}")
    for s in doc.sections:
        if s.missing:
            print(f"  {s.key}: not run ({s.experiment})", file=sys.stderr)
        elif s.error:
            print(f"  {s.key}: ERROR {s.error}", file=sys.stderr)
        for fig in s.figures:
            if not fig.exists:
                print(f"  {s.key}: figure missing: {fig.path}", file=sys.stderr)
    return 1 if any(s.error for s in doc.sections) else 0


if __name__ == "__main__":
    raise SystemExit(main())
