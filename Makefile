# Everything runs inside .venv, created on first use: `make test` alone installs and tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test test-slow browser lint clean demo bench bench-eval bench-data bench-train bench-infer bench-scaling

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install
	$(PY) -m pytest -q

# the HTML report test opens the page in a headless Chromium: install Debian's where none is found
BROWSER_CMDS := chromium chromium-browser google-chrome google-chrome-stable
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

test-slow: install browser
	$(PY) -m pytest -q -m slow

browser:
	@for b in $(BROWSER_CMDS); do command -v $$b >/dev/null && exit 0; done; \
	echo "installing chromium (Debian package) for the report's browser test"; \
	{ $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
	|| echo "no chromium: the browser test will be skipped"

lint: install
	$(VENV)/bin/ruff check detcli tests benchmarks examples

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache

# ---- make demo: generate data, train a Mask R-CNN from scratch on CPU, test, infer, summarise ----
DET          := $(VENV)/bin/det
DEMO_CFG     := configs/shapes/mask_rcnn_r18_fpn_shapes.py
DEMO_WORK    := work_dirs/mask_rcnn_r18_fpn_shapes
DEMO_OUT     := outputs/demo
DEMO_THREADS ?= 2
# $(call step,NAME,COMMAND): run COMMAND and append "NAME start end" to the demo's step log
step = s=$$(date +%s.%N) && $(2) && echo "$(1) $$s $$(date +%s.%N)" >> $(DEMO_OUT)/steps.tsv

demo: export OMP_NUM_THREADS = $(DEMO_THREADS)
demo: install
	@rm -rf $(DEMO_OUT) && mkdir -p $(DEMO_OUT)
	@$(call step,data,{ test -f data/shapes/train/001199.png || $(DET) make-data shapes data/shapes --num-train 1200; } \
		&& { test -f data/shapes_video.mp4 || $(DET) make-data video data/shapes_video.mp4; })
	@$(call step,train,$(DET) train $(DEMO_CFG) --work-dir $(DEMO_WORK) --device cpu)
	@$(call step,test,$(DET) test $(DEMO_CFG) $(DEMO_WORK)/latest.pth --eval bbox segm --work-dir $(DEMO_OUT) --device cpu)
	@$(call step,infer,$(DET) infer 'data/shapes/val/00000?.png' $(DEMO_CFG) $(DEMO_WORK)/latest.pth \
		--out-dir $(DEMO_OUT)/images --score-thr 0.5 --device cpu \
		&& $(DET) infer data/shapes_video.mp4 $(DEMO_CFG) $(DEMO_WORK)/latest.pth --out-dir $(DEMO_OUT)/video --score-thr 0.5 --device cpu)
	@$(PY) -m detcli.tools.demo_summary $(DEMO_OUT) $(DEMO_WORK)

# ---- make bench: detcli side by side with its peers (benchmarks/README.md); each part alone too ----
# Figures go to outputs/bench/*.json; `make bench` ends with one table of every ratio (summary.json).
# bench-train/bench-data compare with mmdetection 2.28 (found or built by benchmarks/mmdet_env.py).
bench: bench-eval bench-data bench-train bench-infer bench-scaling
	$(PY) benchmarks/summary.py

bench-eval: install
	$(PY) benchmarks/coco_eval.py

bench-data: install
	$(PY) benchmarks/pipeline_vs_mmdet.py

bench-train: install
	$(PY) benchmarks/vs_torchvision.py --parts train --out-name train_vs_torchvision
	$(PY) benchmarks/train_vs_mmdet.py
	$(PY) benchmarks/train_vs_mmdet.py --parts map --out-name train_vs_mmdet_map

bench-infer: install
	$(PY) benchmarks/vs_torchvision.py --parts speed,r50 --out-name infer_vs_torchvision

bench-scaling: install
	$(PY) benchmarks/scaling.py
