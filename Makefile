PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: install test test-fast demo bench

# Python packages from requirements.txt and Debian's ffmpeg, each only when missing.
install:
	@$(PYTHON) utils_scripts/requirements_met.py requirements.txt || \
	  $(PIP) install -q -r requirements.txt
	@command -v ffmpeg >/dev/null 2>&1 || { \
	  echo "installing ffmpeg (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; }

test: install
	$(PYTHON) -m pytest -q tests

# Every module's fast tests (about a minute): the suite less the tests marked slow.
test-fast: install
	$(PYTHON) -m pytest -q -m "not slow" tests

# Generated videos of actions that differ only in motion, through the whole documented path:
# frames, n_frames, annotation JSON, training, test, evaluation, fine-tuning, curves.
demo: install
	@$(PYTHON) -c 'import matplotlib' 2>/dev/null || $(PIP) install -q matplotlib
	$(PYTHON) utils_scripts/run_demo.py

bench: install
	$(PYTHON) bench/loader.py
	$(PYTHON) bench/index.py
	$(PYTHON) bench/train_speed.py
	$(PYTHON) bench/inference.py
	$(PYTHON) bench/video_loader.py
