"""Does every config of mmdetection 2.28.2 load here exactly as mmcv 1.x loads it?

For each .py file under CONFIGS_DIR this script computes the dict twice:
  * reference: mmcv 1.x ``Config.fromfile`` run by another Python (``--mmcv-python``), and
  * ours: ``detcli.config.Config.fromfile`` in this process, and the output of
    ``det print-config --json`` (run in-process through the CLI entry point),
then compares them strictly: same keys in the same order, same types (tuple is not list,
1 is not 1.0 is not True) and same values. It prints the counts and every mismatch with
the first differing key path and why.

    python benchmarks/mmdet_config_compat.py /path/to/mmdet/.mim/configs \\
        --mmcv-python /path/to/mmcv-venv/bin/python [--report out.json]

``--prepare WORKDIR`` fetches the inputs first (network): ``pip download mmdet==2.28.2``
(its wheel ships the config tree under mmdet/.mim/configs) and a venv with mmcv 1.7.2
built without ops (its sdist needs ``setuptools<70`` and ``--no-build-isolation``).
custom_imports are not imported on either side (the dict does not depend on them).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import json
import os
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any


def encode(value: Any) -> Any:
    """A JSON-safe tree that keeps what JSON loses: tuples, key order and key types.

    The mmcv side runs this same function (its source is sent along), so both sides agree.
    """
    if isinstance(value, dict):
        return {"dict": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return {"list": [encode(v) for v in value]}
    if value is None or type(value) in (bool, int, float, str):
        return value
    return {"other": type(value).__module__ + "." + type(value).__qualname__, "repr": repr(value)}


REFERENCE_SCRIPT = (
    "from typing import Any\n"
    + inspect.getsource(encode)
    + r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from mmcv import Config
for path in json.load(sys.stdin):
    try:
        cfg = Config.fromfile(path, import_custom_modules=False)
        row = {"path": path, "dict": encode(cfg._cfg_dict.to_dict())}
    except Exception as err:
        row = {"path": path, "error": type(err).__name__ + ": " + str(err)}
    sys.stdout.write("@@ROW@@" + json.dumps(row) + "\n")
"""
)


def reference_dicts(paths: list[str], mmcv_python: str) -> dict[str, dict]:
    """{path: {"dict": encoded} or {"error": text}} computed by mmcv 1.x in ``mmcv_python``."""
    proc = subprocess.run(
        [mmcv_python, "-c", REFERENCE_SCRIPT],
        input=json.dumps(paths),
        capture_output=True,
        text=True,
        check=False,
    )
    rows = {}
    for line in proc.stdout.splitlines():
        if line.startswith("@@ROW@@"):
            row = json.loads(line[len("@@ROW@@") :])
            rows[row["path"]] = row
    if len(rows) != len(paths):
        raise RuntimeError(
            f"the mmcv side answered {len(rows)} of {len(paths)} files:\n{proc.stderr[-2000:]}"
        )
    return rows


def our_dict(path: str) -> dict:
    from detcli.config import Config

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cfg = Config.fromfile(path, import_custom_modules=False)
        return {"dict": encode(cfg.to_dict())}
    except Exception as err:  # noqa: BLE001 - reported as a mismatch
        return {"error": f"{type(err).__name__}: {err}"}


def cli_json(path: str) -> tuple[int, str]:
    """``det print-config PATH --json``, run in-process: (exit code, stdout)."""
    from detcli.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["print-config", path, "--json"])
    return code, out.getvalue()


def decode_as_json(tree: Any) -> Any:
    """What ``json.loads(json.dumps(original))`` gives: tuples as lists, keys as strings, others as repr."""
    if isinstance(tree, dict):
        if "dict" in tree:
            return {_json_key(decode_as_json(k)): decode_as_json(v) for k, v in tree["dict"]}
        if "tuple" in tree or "list" in tree:
            return [decode_as_json(v) for v in tree.get("tuple", tree.get("list"))]
        return tree["repr"]
    return tree


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    return json.dumps(key)


def first_difference(ref: Any, ours: Any, path: str = "") -> str | None:
    """None if the trees are identical, else 'key.path: reason' for the first difference."""
    where = path or "(top level)"
    if isinstance(ref, dict) and isinstance(ours, dict) and ("dict" in ref) == ("dict" in ours):
        if "dict" in ref:
            ref_items, our_items = ref["dict"], ours["dict"]
            ref_keys = [json.dumps(k) for k, _ in ref_items]
            our_keys = [json.dumps(k) for k, _ in our_items]
            if set(ref_keys) != set(our_keys):
                missing = sorted(set(ref_keys) - set(our_keys))
                extra = sorted(set(our_keys) - set(ref_keys))
                return f"{where}: keys differ (missing {missing}, extra {extra})"
            ours_by_key = dict(zip(our_keys, our_items))
            for key, (raw_key, value) in zip(ref_keys, ref_items):
                sub = f"{path}.{raw_key}" if path else str(raw_key)
                diff = first_difference(value, ours_by_key[key][1], sub)
                if diff:
                    return diff
            if ref_keys != our_keys:
                return f"{where}: same keys in a different order ({ref_keys} vs {our_keys})"
            return None
        for kind in ("tuple", "list"):
            if kind in ref or kind in ours:
                if kind not in ref or kind not in ours:
                    return f"{where}: {_kind(ref)} in mmcv, {_kind(ours)} here"
                if len(ref[kind]) != len(ours[kind]):
                    return f"{where}: {kind} of length {len(ref[kind])} in mmcv, {len(ours[kind])} here"
                for i, (a, b) in enumerate(zip(ref[kind], ours[kind])):
                    diff = first_difference(a, b, f"{path}.{i}")
                    if diff:
                        return diff
                return None
    if type(ref) is not type(ours) or ref != ours:
        return f"{where}: {_show(ref)} in mmcv, {_show(ours)} here"
    return None


def _kind(tree: Any) -> str:
    if isinstance(tree, dict):
        return next((k for k in ("dict", "tuple", "list", "other") if k in tree), "dict")
    return type(tree).__name__


def _show(tree: Any) -> str:
    if isinstance(tree, dict):
        return f"a {_kind(tree)}"
    return f"{tree!r} ({type(tree).__name__})"


def json_difference(expected: Any, actual: Any, path: str = "") -> str | None:
    """Strict comparison of two JSON-decoded values (order, int/float/bool kept apart)."""
    where = path or "(top level)"
    if isinstance(expected, dict) and isinstance(actual, dict):
        if list(expected) != list(actual):
            return f"{where}: keys {list(expected)} expected, {list(actual)} printed"
        for key in expected:
            diff = json_difference(expected[key], actual[key], f"{path}.{key}" if path else key)
            if diff:
                return diff
        return None
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for i, (a, b) in enumerate(zip(expected, actual)):
            diff = json_difference(a, b, f"{path}.{i}")
            if diff:
                return diff
        return None
    if type(expected) is not type(actual) or expected != actual:
        return f"{where}: {expected!r} expected, {actual!r} printed"
    return None


def compare_tree(configs_dir: Path, mmcv_python: str, check_cli: bool = True) -> dict:
    """Run the whole comparison; return a report dict (counts + mismatches)."""
    paths = sorted(str(p) for p in configs_dir.rglob("*.py"))
    start = time.perf_counter()
    reference = reference_dicts(paths, mmcv_python)
    ref_seconds = time.perf_counter() - start
    mismatches, reference_errors = [], []
    start = time.perf_counter()
    for path in paths:
        ref, ours = reference[path], our_dict(path)
        name = os.path.relpath(path, configs_dir)
        if "error" in ref:
            # mmcv cannot load it either: fine if we refuse it too.
            if "error" not in ours:
                reference_errors.append(
                    {"config": name, "reason": f"mmcv fails ({ref['error']}) but we load it"}
                )
            continue
        if "error" in ours:
            mismatches.append({"config": name, "reason": f"we fail: {ours['error']}"})
            continue
        diff = first_difference(ref["dict"], ours["dict"])
        if diff:
            mismatches.append({"config": name, "reason": diff})
            continue
        if check_cli:
            code, printed = cli_json(path)
            if code != 0:
                mismatches.append({"config": name, "reason": f"det print-config --json exited with {code}"})
                continue
            diff = json_difference(decode_as_json(ref["dict"]), json.loads(printed))
            if diff:
                mismatches.append({"config": name, "reason": f"det print-config --json: {diff}"})
    ours_seconds = time.perf_counter() - start
    reference_failures = sum("error" in reference[p] for p in paths)
    return {
        "configs_dir": str(configs_dir),
        "total": len(paths),
        "identical": len(paths) - len(mismatches) - reference_failures - len(reference_errors),
        "mmcv_fails_too": reference_failures - len(reference_errors),
        "mismatches": mismatches + reference_errors,
        "seconds": {"mmcv": round(ref_seconds, 2), "detcli": round(ours_seconds, 2)},
    }


def fetch_configs(workdir: Path) -> Path:
    """mmdet 2.28.2's config tree, unpacked from its wheel (``pip download``, network) under ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    configs = workdir / "mmdet" / ".mim" / "configs"
    if not configs.is_dir():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "mmdet==2.28.2", "-d", str(workdir)],
            check=True,
        )
        wheel = next(workdir.glob("mmdet-2.28.2-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(
                workdir, [n for n in archive.namelist() if n.startswith("mmdet/.mim/configs/")]
            )
    return configs


def build_mmcv_venv(workdir: Path) -> str:
    """A venv under ``workdir`` with mmcv 1.7.2 built without ops (network); returns its python."""
    venv = workdir / "mmcv-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        subprocess.run(
            [*pip, "setuptools<70", "wheel", "numpy", "pyyaml", "addict", "yapf", "packaging"], check=True
        )
        env = dict(os.environ, MMCV_WITH_OPS="0")
        subprocess.run(
            [*pip, "--no-build-isolation", "mmcv==1.7.2", "opencv-python-headless"], check=True, env=env
        )
    return str(python)


def prepare(workdir: Path) -> tuple[Path, str]:
    """Fetch mmdet 2.28.2's config tree and build an mmcv 1.7.2 venv under ``workdir`` (needs network)."""
    return fetch_configs(workdir), build_mmcv_venv(workdir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs_dir", nargs="?", type=Path, help="mmdetection's configs/ folder")
    parser.add_argument("--mmcv-python", help="a Python with mmcv 1.x installed")
    parser.add_argument(
        "--prepare", type=Path, metavar="WORKDIR", help="download the inputs into WORKDIR first"
    )
    parser.add_argument("--no-cli", action="store_true", help="skip the det print-config --json comparison")
    parser.add_argument("--report", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    if args.prepare:
        args.configs_dir, args.mmcv_python = prepare(args.prepare)
    if not args.configs_dir or not args.mmcv_python:
        parser.error("give CONFIGS_DIR and --mmcv-python, or --prepare WORKDIR")

    report = compare_tree(args.configs_dir, args.mmcv_python, check_cli=not args.no_cli)
    print(
        f"{report['identical']} of {report['total']} configs load identically "
        f"(mmcv {report['seconds']['mmcv']} s, detcli {report['seconds']['detcli']} s); "
        f"{report['mmcv_fails_too']} fail in mmcv and here alike; {len(report['mismatches'])} differ."
    )
    for row in report["mismatches"]:
        print(f"  {row['config']}: {row['reason']}")
    if args.report:
        args.report.write_text(json.dumps(report, indent=2))
    return 0 if not report["mismatches"] else 1


if __name__ == "__main__":
    sys.exit(main())
