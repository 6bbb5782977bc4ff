"""The class report: one self-contained HTML page a teacher reads at a glance.

It holds the distribution of points (plots drawn by ``mountlab.grading.plots``, inline SVG), the
checks the class fails most (critical first), one sortable row per learner and the submissions
that did not grade normally. Nothing in it is fetched: styles, script and plots are inline, and
its Content-Security-Policy forbids loading anything else. Every text a learner or a submission
wrote (names, reasons) is escaped.
"""

from __future__ import annotations

import html
import statistics
from pathlib import Path

from mountlab import registry
from mountlab.grading import classdata, plots, severity
from mountlab.grading.class_words import t
from mountlab.grading.grader import Outcome


def _label(step: registry.Step, lang: str) -> str:
    return t("step", lang, n=step.number, title=step.title[lang])


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def kind(outcome: Outcome) -> str:
    """ok, timeout, crashed (the run died), refused (nothing to grade) or error (the rest)."""
    if outcome.status == "ok":
        return "ok"
    if outcome.status == "timeout":
        return "timeout"
    if "ended without a report" in outcome.status:
        return "crashed"
    if outcome.report is None or not outcome.report.get("steps"):
        return "refused"
    return "error"


def _why(outcome: Outcome, lang: str) -> str:
    if outcome.status == "timeout":
        return t("timeout_why", lang)
    return outcome.status.removeprefix("error: ")


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5em auto;
max-width:72em;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.9em}th,td{padding:.25em .6em;border-bottom:1px solid #eee;
text-align:left;vertical-align:top}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
#learners th{cursor:pointer;user-select:none;background:#f6f6f6}
#learners th[aria-sort=ascending]::after{content:" ▲"}
#learners th[aria-sort=descending]::after{content:" ▼"}
.sev{display:inline-block;font-size:.75em;font-weight:600;padding:0 .4em;border-radius:.3em;
text-transform:uppercase;margin-right:.4em}
.critical{background:#b03030;color:#fff}.major{background:#e7b84a;color:#222}.minor{background:#ddd;color:#222}
.bad{color:#b03030}.ok{color:#2c7a2c}li{margin:.2em 0}.failure{margin:.8em 0}
.failure h3{font-size:1em;margin:.2em 0}.small{font-size:.85em;color:#555}
.plot svg{max-width:100%;height:auto}details summary{cursor:pointer}
"""

# Sort the learners' table by a column: numbers as numbers (data-v), text as text.
SCRIPT = """
(function(){
  var table=document.getElementById('learners');
  var heads=table.tHead.rows[0].cells;
  function key(row,i){var c=row.cells[i];var v=c.getAttribute('data-v');
    return v===null?c.textContent.toLowerCase():parseFloat(v);}
  Array.prototype.forEach.call(heads,function(th,i){
    th.addEventListener('click',function(){
      var up=th.getAttribute('aria-sort')!=='ascending';
      Array.prototype.forEach.call(heads,function(h){h.removeAttribute('aria-sort');});
      th.setAttribute('aria-sort',up?'ascending':'descending');
      var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
      rows.sort(function(a,b){var x=key(a,i),y=key(b,i);return (x<y?-1:x>y?1:0)*(up?1:-1);});
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
  document.body.setAttribute('data-sortable','ready');
})();
"""

CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "img-src data:")


def render(outcomes: list[Outcome], *, lang: str = "en", created: str = "") -> str:
    """The whole page, as text."""
    outcomes = sorted(outcomes, key=lambda o: o.student)
    steps = registry.steps()
    bad = len(classdata.problems(outcomes))
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(t('title', lang))}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(t('title', lang))}</h1>",
        f"<p>{_e(t('graded', lang, n=len(outcomes), when=created or '—'))}. "
        f"{_e(t('statuses', lang, ok=len(outcomes) - bad, bad=bad))}.</p>",
        _summary(outcomes, steps, lang),
        _plots(outcomes, steps, lang),
        _failures(outcomes, lang),
        _learners(outcomes, steps, lang),
        _problems(outcomes, lang),
        f"<script>{SCRIPT}</script></body></html>",
    ]
    return "\n".join(parts) + "\n"


def write(outcomes: list[Outcome], path: Path, *, lang: str = "en", created: str = "") -> None:
    import os

    page = render(outcomes, lang=lang, created=created)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)


def _critical_in(outcome: Outcome, number: int) -> bool:
    return any(not c["passed"] and c.get("severity") == "critical" and not c.get("hidden")
               for c in outcome.checks() if c["step"] == number)


def _summary(outcomes: list[Outcome], steps: tuple, lang: str) -> str:
    rows = []
    for s in steps:
        points = [o.step_points(s.number) for o in outcomes]
        critical = sum(1 for o in outcomes if _critical_in(o, s.number))
        rows.append(_summary_row(_label(s, lang), points, critical))
    rows.append(_summary_row(t("total", lang), [(o.total, o.max_total) for o in outcomes], None))
    head = "".join(f'<th class="n">{_e(t(k, lang))}</th>'
                   for k in ("max", "mean", "median", "full", "critical_learners"))
    return (f'<h2 id="summary">{_e(t("summary", lang))}</h2><table><thead><tr><th></th>{head}'
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _summary_row(label: str, points: list[tuple[int, int]], critical: int | None) -> str:
    got = [p for p, _ in points]
    cells = [max((m for _, m in points), default=0),
             f"{statistics.fmean(got):.1f}" if got else "—",
             f"{statistics.median(got):g}" if got else "—",
             f"{sum(1 for p, m in points if p == m and m > 0)}/{len(points)}",
             "" if critical is None else critical]
    return (f"<tr><th>{_e(label)}</th>"
            + "".join(f'<td class="n">{_e(c)}</td>' for c in cells) + "</tr>")


def _plots(outcomes: list[Outcome], steps: tuple, lang: str) -> str:
    panels = [(_label(s, lang), s.points + _hidden_max(outcomes, s.number),
               [o.step_points(s.number)[0] for o in outcomes]) for s in steps]
    panels.append((t("total", lang), max((o.max_total for o in outcomes), default=0),
                   [o.total for o in outcomes]))
    svg = plots.histograms(panels, t("learners_axis", lang))
    return (f'<h2 id="distribution">{_e(t("distribution", lang))}</h2>'
            f'<p class="small">{_e(t("plot_note", lang))}</p><div class="plot">{svg}</div>')


def _hidden_max(outcomes: list[Outcome], number: int) -> int:
    """The instructor-only points of a step, as the class's reports count them."""
    return max((o.step_points(number)[1] - registry.get(number).points for o in outcomes),
               default=0)


def _badge(level: str, lang: str) -> str:
    return f'<span class="sev {_e(level)}">{_e(severity.label(level, lang))}</span>'


def _failures(outcomes: list[Outcome], lang: str) -> str:
    found = classdata.common_failures(outcomes, lang)
    out = [f'<h2 id="failures">{_e(t("failures", lang))}</h2>']
    if not found:
        return out[0] + f"<p>{_e(t('no_failures', lang))}</p>"
    for f in found:
        n = len(f.learners)
        who = t("one_learner", lang) if n == 1 else t("n_learners", lang, n=n)
        headline = f.why if f.severity == "critical" and f.why else f.doc
        step = registry.get(f.step)
        reasons = "".join(f"<li>{_e(reason or '—')} <span class=\"small\">(×{count})</span></li>"
                          for reason, count in f.reasons.most_common(3))
        out.append(
            f'<div class="failure" data-check="{_e(f.name)}" data-step="{f.step}" '
            f'data-learners="{n}" data-severity="{_e(f.severity)}">'
            f"<h3>{_badge(f.severity, lang)}{_e(t('headline', lang, who=who, what=headline))}"
            "</h3>"
            f'<div class="small">{_e(_label(step, lang))} · {_e(f.doc)} · <code>{_e(f.name)}'
            f"</code></div>"
            f"<details><summary>{_e(t('reasons', lang))}</summary><ul>{reasons}</ul>"
            f"<p class=\"small\">{_e(t('who_line', lang, who=', '.join(sorted(f.learners))))}"
            "</p>"
            "</details></div>")
    return "".join(out)


def _learners(outcomes: list[Outcome], steps: tuple, lang: str) -> str:
    head = [f'<th data-key="student">{_e(t("student", lang))}</th>']
    head += [f'<th class="n" data-key="step{s.folder}" title="{_e(_label(s, lang))}">'
             f"{s.number}</th>" for s in steps]
    head += [f'<th class="n" data-key="total">{_e(t("total", lang))}</th>',
             f'<th data-key="status">{_e(t("status", lang))}</th>',
             f'<th class="n" data-key="time">{_e(t("time", lang))}</th>',
             f'<th data-key="failed">{_e(t("failed", lang))}</th>']
    rows = []
    for o in outcomes:
        cells = [f"<td>{_e(o.student)}</td>"]
        for s in steps:
            points, most = o.step_points(s.number)
            capped = any(step.get("capped") for step in (o.report or {}).get("steps", [])
                         if step["number"] == s.number)
            note = f' title="{_e(t("capped", lang))}"' if capped else ""
            style = " ok" if points == most else (" bad" if capped else "")
            cells.append(f'<td class="n{style}" data-col="step{s.folder}" data-v="{points}"'
                         f"{note}>{points}</td>")
        k = kind(o)
        cells.append(f'<td class="n" data-col="total" data-v="{o.total}">{o.total}/'
                     f"{o.max_total}</td>")
        cells.append(f'<td data-col="status" class="{"ok" if k == "ok" else "bad"}" '
                     f'title="{_e(o.status)}">{_e(t(k, lang))}</td>')
        cells.append(f'<td class="n" data-v="{o.duration:.1f}">{o.duration:.1f}</td>')
        cells.append(f"<td>{_failed_list(o, lang)}</td>")
        rows.append(f'<tr data-student="{_e(o.student)}">{"".join(cells)}</tr>')
    return (f'<h2 id="learners-title">{_e(t("learners", lang))}</h2>'
            f'<p class="small">{_e(t("sort_note", lang))}</p>'
            f'<table id="learners"><thead><tr>{"".join(head)}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _failed_list(o: Outcome, lang: str) -> str:
    failed = sorted((c for c in o.checks() if not c["passed"]),
                    key=lambda c: (severity.rank(c.get("severity", "major")), c["step"]))
    if not failed:
        return f'<span class="small">{_e(t("none", lang))}</span>'
    items = "".join(f"<li>{_badge(c.get('severity', 'major'), lang)}{c['step']}: "
                    f"{_e(c.get('doc', c['name']))}</li>" for c in failed)
    critical = sum(1 for c in failed if c.get("severity") == "critical")
    count = f"{len(failed)}" + (f" ({critical} {severity.label('critical', lang)})"
                                if critical else "")
    return f"<details><summary>{_e(count)}</summary><ul>{items}</ul></details>"


def _problems(outcomes: list[Outcome], lang: str) -> str:
    bad = classdata.problems(outcomes)
    title = f'<h2 id="problems">{_e(t("problems", lang))}</h2>'
    if not bad:
        return title + f"<p>{_e(t('no_problems', lang))}</p>"
    rows = "".join(f'<tr data-student="{_e(o.student)}"><td>{_e(o.student)}</td>'
                   f'<td class="bad">{_e(t(kind(o), lang))}</td><td>{_e(_why(o, lang))}</td></tr>'
                   for o in bad)
    return (title + f"<table><thead><tr><th>{_e(t('student', lang))}</th>"
            f"<th>{_e(t('what', lang))}</th><th>{_e(t('why', lang))}</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")
