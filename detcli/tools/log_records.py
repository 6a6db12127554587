"""Reading a run's ``.log.json`` (written by ``det train`` or by mmdetection 2.x) into clean records.

The file is one JSON object per line: a first line with the run's meta (env_info, config,
seed), then ``mode: train`` lines every logging interval and ``mode: val`` lines (metrics of
the evaluation hook, or losses of a ``('val', 1)`` workflow epoch). Real logs are messier
than that, and the reader straightens them out so that plots and timings never see it:

- a resumed or restarted run (or logs pasted one after another) goes back in time: the later
  lines win, and whatever the earlier attempt logged from that point on is dropped;
- a crash can leave the last line cut off: it is ignored, with a note;
- a val line may carry no metric (mmdetection's first epoch sometimes does) or two val lines
  may belong to one epoch (evaluation hook + val workflow): they are merged per epoch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detcli.errors import DataError

# Fields that locate a line in the run rather than measure something; ``_after_iter`` (added
# here) is the iteration of the last train line before a val line (iteration-based runs place
# val lines by it).
POSITION_FIELDS = ("mode", "epoch", "iter", "_after_iter")
_TEXT_LOG_EPOCH_LENGTH = re.compile(r"Epoch \[\d+\]\[\d+/(\d+)\]")
_ITER_RUNNER = re.compile(r"""type\s*=\s*['"]IterBasedRunner['"]|['"]type['"]\s*:\s*['"]IterBasedRunner['"]""")
_EPOCH_RUNNER = re.compile(r"""type\s*=\s*['"](?:EpochBasedRunner|Runner)['"]|total_epochs\s*=""")


@dataclass
class RunLog:
    """The train and val records of one run, in the order of the run that finally happened.

    ``by_epoch``: the run counted iterations per epoch (EpochBasedRunner) rather than in total.
    ``iters_per_epoch``: the epoch length, from the run's text log when it sits next to the
    json file, else the largest iteration any train line reached (an underestimate by less
    than one logging interval). ``notes`` says what the reader had to straighten out.
    """

    path: str
    train: list[dict[str, Any]]
    val: list[dict[str, Any]]
    by_epoch: bool
    iters_per_epoch: int
    notes: list[str] = field(default_factory=list)

    @property
    def train_keys(self) -> set[str]:
        return _numeric_keys(self.train)

    @property
    def val_keys(self) -> set[str]:
        return _numeric_keys(self.val)

    def train_position(self, record: dict[str, Any]) -> int:
        """The global iteration of a train record (iterations do not restart at each epoch)."""
        if self.by_epoch:
            return (int(record.get("epoch") or 1) - 1) * self.iters_per_epoch + int(record["iter"])
        return int(record["iter"])


def _numeric_keys(records: list[dict[str, Any]]) -> set[str]:
    return {k for r in records for k, v in r.items() if k not in POSITION_FIELDS and is_number(v)}


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    """``lr: {backbone: .., head: ..}`` (several param groups) becomes ``lr_backbone``, ``lr_head``."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict) and key not in POSITION_FIELDS:
            for sub, v in value.items():
                out[f"{key}_{sub}"] = v
        else:
            out[key] = value
    return out


def _json_lines(path: Path, notes: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not a text .log.json file ({err.reason})") from None
    numbered = [(n, line.strip()) for n, line in enumerate(lines, start=1) if line.strip()]
    for index, (lineno, line) in enumerate(numbered):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if index == len(numbered) - 1:
                notes.append(f"line {lineno} is cut off (the run stopped while writing it) and was ignored")
                return
            raise DataError(f"{path}:{lineno} is not a JSON object ({err.msg})",
                            hint="a .log.json has one JSON object per line, as det train writes it") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{lineno} holds a {type(record).__name__}, not a JSON object")
        yield lineno, record


def _counts_by_epoch(meta_configs: list[str], records: list[tuple[str, dict[str, Any]]]) -> bool:
    """Whether iterations restart at each epoch: the runner type in the logged config, else the lines."""
    for text in meta_configs:
        if _ITER_RUNNER.search(text):
            return False
        if _EPOCH_RUNNER.search(text):
            return True
    train = [r for mode, r in records if mode == "train"]
    for a, b in zip(train, train[1:]):
        if (b.get("epoch") or 0) > (a.get("epoch") or 0) and b["iter"] <= a["iter"]:
            return True  # the iteration count restarted with the new epoch
    # an iteration-based run evaluates several times within one (data loader) epoch, with training between
    trained_since: dict[Any, bool] = {}
    for mode, record in records:
        if mode == "train":
            trained_since = dict.fromkeys(trained_since, True)
        elif trained_since.get(record.get("epoch")):
            return False
        else:
            trained_since[record.get("epoch")] = False
    return True


def _epoch_length(path: Path, train: list[dict[str, Any]]) -> int:
    """``N`` of the text log's ``Epoch [e][i/N]`` when the text log is next to the json, else the largest iter."""
    if path.name.endswith(".log.json"):
        text_log = path.with_name(path.name[: -len(".json")])
        if text_log.is_file():
            with open(text_log, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    match = _TEXT_LOG_EPOCH_LENGTH.search(line)
                    if match:
                        return int(match.group(1))
    return max((int(r["iter"]) for r in train), default=0)


def _position(record: dict[str, Any], by_epoch: bool) -> tuple[int, int]:
    return (int(record.get("epoch") or 0), int(record["iter"])) if by_epoch else (0, int(record["iter"]))


def _replay(records: list[tuple[str, dict[str, Any]]], by_epoch: bool,
            notes: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Train and val records of the timeline that survived restarts (later lines win)."""
    train: list[dict[str, Any]] = []
    val: list[dict[str, Any]] = []
    last_train_iter = 0
    for mode, record in records:
        if mode == "train":
            pos = _position(record, by_epoch)
            if train and pos <= _position(train[-1], by_epoch):
                kept = [r for r in train if _position(r, by_epoch) < pos]
                dropped = len(train) - len(kept)
                train = kept
                if by_epoch:
                    val = [r for r in val if int(r.get("epoch") or 0) < pos[0]]
                    where = f"epoch {pos[0]}, iteration {pos[1]}"
                else:
                    val = [r for r in val if r["_after_iter"] < pos[1]]
                    where = f"iteration {pos[1]}"
                notes.append(f"the run restarted at {where}: {dropped} earlier train line(s) from there on "
                             "were replaced by the later ones")
            train.append(record)
            last_train_iter = pos[1]
        else:
            merged = dict(record)
            merged["_after_iter"] = last_train_iter
            slot = (merged.get("epoch"),) if by_epoch else (last_train_iter,)
            for i, old in enumerate(val):
                same = (old.get("epoch"),) if by_epoch else (old["_after_iter"],)
                if same == slot:
                    val[i] = {**old, **merged}  # one epoch's metrics and its val-workflow losses
                    break
            else:
                val.append(merged)
    return train, val


def read_json_log(path: str | Path) -> RunLog:
    """Read one ``.log.json``; a missing file or a line that is not JSON is a one-line DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"log file not found: {path}",
                        hint="det train writes WORK_DIR/<timestamp>.log.json; pass that file")
    notes: list[str] = []
    configs: list[str] = []
    records: list[tuple[str, dict[str, Any]]] = []
    for lineno, raw in _json_lines(path, notes):
        mode = raw.get("mode")
        if mode is None:  # a run's meta line (env_info, config, seed, exp_name)
            if isinstance(raw.get("config"), str):
                configs.append(raw["config"])
            continue
        if mode not in ("train", "val") or not is_number(raw.get("iter")):
            notes.append(f"line {lineno} has no usable mode/iter and was skipped")
            continue
        records.append((mode, _flatten(raw)))
    by_epoch = _counts_by_epoch(configs, records)
    train, val = _replay(records, by_epoch, notes)
    if not train and not val:
        raise DataError(f"{path} has no train or val lines",
                        hint="is it the .log.json of a training run (not the text .log)?")
    return RunLog(str(path), train, val, by_epoch, _epoch_length(path, train), notes)

