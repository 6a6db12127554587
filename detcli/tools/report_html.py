"""The HTML of ``det report``: one file, images inlined as base64 PNGs, no scripts, no external links."""

from __future__ import annotations

import base64

from detcli.tools.report import Figure, ReportData

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ data.title }} · detcli run report</title>
<style>
  :root { --fg: #1d232b; --muted: #5b6570; --line: #d9dee3; --accent: #2f6db5; --bg: #f6f7f9; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
         background: var(--bg); }
  header { background: #fff; border-bottom: 1px solid var(--line); padding: 20px 32px 12px; }
  header h1 { margin: 0 0 4px; font-size: 24px; }
  header p { margin: 0; color: var(--muted); }
  nav { margin-top: 10px; }
  nav a { color: var(--accent); margin-right: 16px; text-decoration: none; font-size: 14px; }
  main { max-width: 1180px; margin: 0 auto; padding: 20px 32px 48px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 18px 0; }
  h2 { margin: 0 0 12px; font-size: 19px; }
  h3 { margin: 14px 0 8px; font-size: 16px; }
  .cards { display: flex; flex-wrap: wrap; gap: 12px; }
  .card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px; min-width: 140px; }
  .card .label { color: var(--muted); font-size: 13px; }
  .card .value { font-size: 22px; font-weight: 600; }
  .figures { display: flex; flex-wrap: wrap; gap: 16px; }
  figure { margin: 0; }
  figure img { max-width: 100%; border: 1px solid var(--line); border-radius: 4px; background: #fff; }
  figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; word-break: break-all; }
  .images figure img { width: 240px; image-rendering: pixelated; }
  .images figure { width: 240px; }
  table { border-collapse: collapse; font-size: 14px; margin-bottom: 8px; }
  th, td { border-bottom: 1px solid var(--line); padding: 4px 12px; text-align: right; }
  th:first-child, td:first-child { text-align: left; }
  th { background: var(--bg); font-weight: 600; }
  .tables { display: flex; flex-wrap: wrap; gap: 28px; align-items: flex-start; }
  .note { color: #8a5a00; background: #fff7e6; border: 1px solid #f0d9a8; border-radius: 6px; padding: 8px 12px; }
  pre { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 12px; overflow: auto;
        font-size: 12.5px; max-height: 640px; }
  details summary { cursor: pointer; color: var(--accent); }
  footer { color: var(--muted); font-size: 13px; text-align: center; margin-bottom: 24px; }
</style>
</head>
<body>
<header>
  <h1>{{ data.title }}</h1>
  <p>config <b>{{ data.config_name }}</b>{% if data.checkpoint %} · checkpoint <b>{{ data.checkpoint }}</b>{% endif %}
     · {{ data.work_dir }} · made {{ data.generated }}</p>
  <nav><a href="#curves">Curves</a><a href="#metrics">Metrics</a><a href="#errors">Error analysis</a>
       <a href="#images">Best and worst images</a><a href="#model">Model size</a><a href="#config">Config</a></nav>
</header>
<main>
{% if data.headline %}
<div class="cards">
  {% for label, value in data.headline %}
  <div class="card"><div class="label">{{ label }}</div><div class="value">{{ value }}</div></div>
  {% endfor %}
</div>
{% endif %}

<section id="curves">
  <h2>Training curves</h2>
  {% if data.curves %}
  <div class="figures">
    {% for fig in data.curves %}<figure><img alt="{{ fig.title }}" src="{{ fig | data_uri }}"></figure>{% endfor %}
  </div>
  {% else %}<p class="note">No curves: {{ data.notes.get("curves", "the log has no train or val lines") }}</p>{% endif %}
</section>

<section id="metrics">
  <h2>Test-set metrics</h2>
  {% if data.metrics %}
  {% for task, table in data.metrics.items() %}
  <h3>{{ task }}</h3>
  <div class="tables">
    <table>
      <tr><th>metric</th><th>value</th></tr>
      {% for name, value in table.stats.items() %}<tr><td>{{ name }}</td><td>{{ "%.3f" | format(value) }}</td></tr>{% endfor %}
    </table>
    <table>
      <tr><th>category</th><th>AP</th><th>AP50</th><th>AP75</th></tr>
      {% for row in table.classwise %}
      <tr><td>{{ row[0] }}</td>{% for v in row[1:] %}<td>{{ "nan" if v is none else "%.3f" | format(v) }}</td>{% endfor %}</tr>
      {% endfor %}
    </table>
  </div>
  {% endfor %}
  {% else %}<p class="note">Not available: {{ data.notes.get("metrics", "no results") }}</p>{% endif %}
</section>

<section id="errors">
  <h2>Error analysis</h2>
  {% if data.error_analysis %}
  <p>Precision-recall curves of all categories: C75/C50 at IoU 0.75/0.5, then with localisation errors (Loc),
     confusions within the super-category (Sim) and with any category (Oth) forgiven, false positives removed (BG),
     and every error removed (FN). The legend holds the area under each curve.</p>
  {% for part in data.error_analysis %}
  <h3>{{ part.task }}</h3>
  <div class="tables">
    <figure><img alt="{{ part.figure.title }}" src="{{ part.figure | data_uri }}"></figure>
    <table>
      <tr><th>area</th>{% for c in curves %}<th>{{ c }}</th>{% endfor %}</tr>
      {% for row in part.rows %}
      <tr><td>{{ row.area }}</td>{% for c in curves %}<td>{{ "%.3f" | format(row[c]) }}</td>{% endfor %}</tr>
      {% endfor %}
    </table>
  </div>
  {% endfor %}
  {% else %}<p class="note">Not available: {{ data.notes.get("errors", "no results") }}</p>{% endif %}
</section>

<section id="images" class="images">
  <h2>Best and worst images</h2>
  {% if data.best or data.worst %}
  <p>Ranked by each image's own mAP (IoU 0.50:0.95); ground truth above, detections (score &gt; {{ data.score_thr }}) below.</p>
  {% for title, figs in [("Best", data.best), ("Worst", data.worst)] %}
  <h3>{{ title }}</h3>
  <div class="figures">
    {% for fig in figs %}<figure><img alt="{{ fig.title }}" src="{{ fig | data_uri }}">
      <figcaption>{{ fig.title }} · {{ fig.caption }}</figcaption></figure>{% endfor %}
  </div>
  {% endfor %}
  {% else %}<p class="note">Not available: {{ data.notes.get("images", "no results") }}</p>{% endif %}
</section>

<section id="model">
  <h2>Model size</h2>
  {% if data.flops %}
  <table>
    <tr><td>parameters (trainable)</td><td>{{ data.flops.params }}</td></tr>
    <tr><td>FLOPs (1 multiply-add = 1 FLOP)</td><td>{{ data.flops.flops }}</td></tr>
    <tr><td>input</td><td>{{ data.flops.input }}</td></tr>
    <tr><td>counted forward</td><td>{{ data.flops.forward }}</td></tr>
  </table>
  {% else %}<p class="note">Not available: {{ data.notes.get("flops", "not counted") }}</p>{% endif %}
</section>

<section id="config">
  <h2>Config</h2>
  <details><summary>{{ data.config_name }} ({{ data.config_text.count("\\n") + 1 }} lines)</summary>
  <pre>{{ data.config_text }}</pre></details>
</section>
</main>
<footer>made by det report (detcli)</footer>
</body>
</html>
"""


def data_uri(figure: Figure) -> str:
    """``data:image/png;base64,...`` of a figure's PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(figure.png).decode("ascii")


def render_report(data: ReportData) -> str:
    """The page as one string (every value HTML-escaped)."""
    import jinja2

    from detcli.evaluation.error_analysis import CURVES

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["data_uri"] = data_uri
    return env.from_string(TEMPLATE).render(data=data, curves=CURVES)
