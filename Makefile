PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: install test demo bench

# Python packages from requirements.txt; Debian's ffmpeg when it is missing.
install:
	$(PIP) install -q -r requirements.txt
	@command -v ffmpeg >/dev/null 2>&1 || { \
	  echo "installing ffmpeg (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; }

test: install
	$(PYTHON) -m pytest -q tests

bench: install
	$(PYTHON) bench/loader.py
	$(PYTHON) bench/index.py
