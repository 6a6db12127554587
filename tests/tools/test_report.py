"""``det report``: the page's content on the tiny run, and the page in a real headless Chromium."""

from __future__ import annotations

import base64
import html
import json
import pickle
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest

from detcli.cli import main
from detcli.errors import DataError
from detcli.tools.report import find_run_files, flops_input_shape


class PageParts(HTMLParser):
    """The images, table cells, scripts and links of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.cells: list[str] = []
        self.scripts = 0
        self.links: list[str] = []
        self.pre = ""
        self._cell = self._in_pre = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag in ("td", "th"):
            self._cell, self.cells = True, [*self.cells, ""]
        elif tag == "script":
            self.scripts += 1
        elif tag == "pre":
            self._in_pre = True
        for key in ("href", "src"):
            if key in attrs and tag != "img":
                self.links.append(attrs[key])

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._cell = False
        elif tag == "pre":
            self._in_pre = False

    def handle_data(self, data):
        if self._cell:
            self.cells[-1] += data.strip()
        if self._in_pre:
            self.pre += data


def _perfect_results(tiny_run, path: Path) -> None:
    """The ground truth of the tiny run's 2 validation images as detections (score 0.99)."""
    from detcli.tools.analyze_results import build_test_set

    dataset = build_test_set(str(tiny_run.config))
    results = []
    for i in range(len(dataset)):
        ann = dataset.get_ann_info(i)
        per_class = [np.zeros((0, 5), np.float32) for _ in dataset.CLASSES]
        for c in set(ann["labels"].tolist()):
            boxes = ann["bboxes"][ann["labels"] == c]
            per_class[c] = np.hstack([boxes, np.full((len(boxes), 1), 0.99, np.float32)])
        results.append(per_class)
    path.write_bytes(pickle.dumps(results))


@pytest.fixture(scope="module")
def perfect_report(tiny_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    results = root / "perfect.pkl"
    _perfect_results(tiny_run, results)
    out = root / "report.html"
    assert main(["report", str(tiny_run.work_dir), "--out", str(out), "--results", str(results), "--topk", "1"]) == 0
    return out


def _last_logged(tiny_run, key):
    lines = [json.loads(x) for x in tiny_run.json_log.read_text().splitlines()[1:]]
    return [ln[key] for ln in lines if ln.get("mode") == "val" and key in ln][-1]


def test_page_is_self_contained_and_shows_every_section(perfect_report, tiny_run):
    page = perfect_report.read_text()
    parts = PageParts()
    parts.feed(page)
    assert parts.scripts == 0
    assert all(link.startswith("#") for link in parts.links), parts.links  # in-page anchors only
    # 3 curve figures, 1 error-analysis figure, 1 best + 1 worst image: all inline PNGs that decode
    assert len(parts.images) == 6
    for src in parts.images:
        assert src.startswith("data:image/png;base64,")
        img = cv2.imdecode(np.frombuffer(base64.b64decode(src.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.size > 0
    for title in ("Training curves", "Test-set metrics", "Error analysis", "Best and worst images", "Model size",
                  "Config"):
        assert f"<h2>{title}</h2>" in page
    assert "Not available" not in page
    # the config, escaped in the page, reads back as the file
    assert parts.pre == (tiny_run.work_dir / tiny_run.config.name).read_text()  # the config det train saved
    assert "&#39;FasterRCNN&#39;" in page
    # headline: the last logged validation mAP
    assert f"{_last_logged(tiny_run, 'bbox_mAP'):.3f}" in page


def test_metrics_of_perfect_detections(perfect_report, tiny_run):
    parts = PageParts()
    parts.feed(perfect_report.read_text())
    cells = parts.cells
    first = cells.index("metric") + 2  # the 12 rows of the figures table
    stats = dict(zip(cells[first:first + 24:2], cells[first + 1:first + 24:2]))
    assert list(stats)[-1] == "ARl"
    assert stats["AP"] == "1.000" and stats["AP50"] == "1.000"
    from detcli.tools.analyze_results import build_test_set

    dataset = build_test_set(str(tiny_run.config))
    present = {dataset.CLASSES[c] for i in range(len(dataset)) for c in dataset.get_ann_info(i)["labels"]}
    for name in dataset.CLASSES:
        at = cells.index(name)
        assert cells[at + 1:at + 4] == (["1.000"] * 3 if name in present else ["nan"] * 3), name
    # error analysis of perfect detections: every curve at 1 over all areas
    area_row = cells.index("allarea")
    assert cells[area_row + 1:area_row + 8] == ["1.000"] * 7
    assert "mAP 1.000" in perfect_report.read_text()


def test_run_files_and_scale(tiny_run, tmp_path):
    files = find_run_files(tiny_run.work_dir)
    assert files.config.name == tiny_run.config.name and files.checkpoint.name == "latest.pth"
    assert files.log_json == tiny_run.json_log
    from detcli.config import load_config

    assert flops_input_shape(load_config(str(tiny_run.config))) == (64, 64)
    with pytest.raises(DataError, match="work dir not found"):
        find_run_files(tmp_path / "nope")
    (tmp_path / "a.py").write_text("x = 1")
    (tmp_path / "b.py").write_text("x = 2")
    with pytest.raises(DataError, match="cannot tell which config"):
        find_run_files(tmp_path)


def test_report_runs_the_checkpoint_when_no_results_are_given(tiny_run, tmp_path):
    out = tmp_path / "r.html"
    assert main(["report", str(tiny_run.work_dir), "--out", str(out), "--device", "cpu", "--no-flops"]) == 0
    page = out.read_text()
    assert "Test-set metrics" in page and "<td>AP</td>" in page
    assert "Model size" in page and "Not available: not counted" in page
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # a page to share, not a private temp file


# ---------------------------------------------------------------------------------------------
# a real browser
# ---------------------------------------------------------------------------------------------
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# after the page has loaded: how many images there are and how many failed to decode
PROBE = """<script>window.addEventListener("load", () => {
  const broken = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).length;
  console.log("PROBE images=" + document.images.length + " broken=" + broken);
});</script>"""


def _browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def _chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr",
             "--v=0", "--virtual-time-budget=10000"]
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=120)


def _console(stderr: str) -> list[str]:
    return [line.split("] ", 1)[1] for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.slow
@pytest.mark.skipif(_browser() is None, reason="no Chromium/Chrome installed (make test-slow installs Debian's chromium)")
def test_page_opens_in_headless_chromium_without_console_errors(perfect_report, tmp_path):
    browser = _browser()
    # the probe really sees console output and broken images
    broken = tmp_path / "broken.html"
    broken.write_text(f"<!DOCTYPE html><html><body><img src='missing.png'>{PROBE}"
                      "<script>console.error('deliberate')</script></body></html>")
    seen = _console(_chromium(browser, tmp_path / "p0", "--dump-dom", broken.as_uri()).stderr)
    assert any("deliberate" in m for m in seen) and any("images=1 broken=1" in m for m in seen), seen

    probed = tmp_path / "report.html"
    probed.write_text(perfect_report.read_text().replace("</body>", PROBE + "</body>"))
    run = _chromium(browser, tmp_path / "p1", "--dump-dom", probed.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    assert [m.split(", source:")[0] for m in _console(run.stderr)] == ['"PROBE images=6 broken=0"']
    assert "Error analysis" in html.unescape(run.stdout)

    shot = tmp_path / "shot.png"
    run = _chromium(browser, tmp_path / "p2", "--window-size=1280,2000", f"--screenshot={shot}",
                    perfect_report.as_uri())
    assert run.returncode == 0 and not _console(run.stderr), _console(run.stderr)
    image = cv2.imread(str(shot))
    assert image.shape[:2] == (2000, 1280) and image.std() > 20  # a rendered page, not a blank one
