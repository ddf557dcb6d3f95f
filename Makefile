PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: install python-packages native asan test test-fast demo bench

CC ?= gcc
NATIVE_FLAGS = -O3 -Wall -Wextra -shared -fPIC

# Python packages from requirements.txt and Debian's ffmpeg, each only when missing; then
# the native clip core.
install: python-packages native

python-packages:
	@$(PYTHON) utils_scripts/requirements_met.py requirements.txt || \
	  $(PIP) install -q -r requirements.txt
	@command -v ffmpeg >/dev/null 2>&1 || { \
	  echo "installing ffmpeg (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; }

# The native clip core (native/clipcore.c with resample.c and jpeg_band.c) against
# libjpeg-turbo: its headers (and gcc) are installed on Debian when missing. Without them
# everything works on the Python path, and main.py says so in one line.
NATIVE_SOURCES = native/clipcore.c native/resample.c native/jpeg_band.c

native: native/libclipcore.so

native/libclipcore.so: $(NATIVE_SOURCES) native/clipcore.h
	@{ command -v $(CC) >/dev/null 2>&1 && [ -f /usr/include/jpeglib.h ]; } || { \
	  echo "installing gcc and libjpeg-turbo's headers (apt-get)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc \
	    libjpeg62-turbo-dev >/dev/null; } || true; }
	@$(CC) $(NATIVE_FLAGS) $(NATIVE_SOURCES) -ljpeg -lm -o $@ || { rm -f $@; \
	  echo "note: the native clip core could not be built: training takes the Python path"; }

# The core built with AddressSanitizer and UndefinedBehaviorSanitizer, with the fuzzing
# driver native/fuzz.c run over damaged JPEG files (tests/jpeg_samples.py writes them).
ASAN_ROUNDS ?= 2000
asan: python-packages native
	mkdir -p native/build
	$(CC) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	  -fno-sanitize-recover=all -Wall native/fuzz.c $(NATIVE_SOURCES) -ljpeg -lm \
	  -o native/build/fuzz-asan
	rm -rf native/build/corpus
	$(PYTHON) -m tests.jpeg_samples native/build/corpus --rounds $(ASAN_ROUNDS)
	ASAN_OPTIONS=detect_leaks=1 native/build/fuzz-asan native/build/corpus/intact.jpg \
	  native/build/corpus/*.jpg

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
