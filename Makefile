# pixcodec developer tasks. `make help` lists them.
# A fresh machine needs nothing but python3: every target sets up .venv itself.
# TORCH is the torch requirement installed first; the CI machines have a local CPU wheel of
# 2.13.0 (plain `torch` from PyPI would pull several GB of CUDA packages there).
# Users elsewhere: `make TORCH=torch test`.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data
SAMPLE := tests/assets/kodim23-crop.png

.PHONY: help install kernels demo test test-fast fuzz bench-kodak bench-photo-sets bench-small \
	bench-synthetic clean clean-kernels

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/pixcodec: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[test]"
	@touch $@

# The engine's kernels compiled ahead of time for this CPU and these sources (about 40 s;
# pixcodec/compiled/, pixcodec/build_kernels.py). Without a C compiler the build says so,
# numba's JIT runs them (the same bytes, 0.2-0.3 s more start-up a command), and the next make
# tries again.
KERNELS := $(VENV)/.kernels-built
$(KERNELS): $(BIN)/pixcodec $(shell find pixcodec -name '*.py')
	$(BIN)/pixcodec kernels --build && touch $@ || true

install: $(BIN)/pixcodec $(KERNELS) ## create .venv, install pixcodec with its test tools, compile its kernels

kernels: $(BIN)/pixcodec ## compile the engine's kernels ahead of time again (after editing pixcodec/)
	$(BIN)/pixcodec kernels --build

demo: install ## compress + decompress the sample image, verify, compare with PNG
	$(BIN)/python scripts/demo.py $(SAMPLE)

test: install ## run the whole test suite
	$(BIN)/python -m pytest -q

test-fast: install ## the tests without the slow ones
	$(BIN)/python -m pytest -q -m "not slow"

fuzz: install ## decode 10,000 damaged .pxc files; count errors, tracebacks, hangs, crashes
	$(BIN)/python scripts/fuzz.py --cases 10000

bench-kodak: install ## pixcodec vs the classic codecs on Kodak (DATA=folder holding kodak/; ~45 min on 2 cores)
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/pixcodec bench kodak --data-root $(DATA) --per-image --tile-cost --jobs 2 \
		--out docs/kodak.json --plot docs/kodak.png --force

# Its per-image JSON (several MB) goes to runs/, which git ignores; the plot goes to docs/.
bench-photo-sets: install ## the same on the RGB held-out sets: cifar10, bsd68, imagenet64 (~15 min)
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/pixcodec bench cifar10-heldout bsd68-heldout imagenet64-heldout200 --data-root $(DATA) \
		--together --out runs/photo-sets.json --plot docs/photo-sets.png --force

bench-small: install ## the same on cifar10-heldout, 1,000 binarized MNIST test images and synthetic-v1 (screenshots, text, charts, ...), pixcodec's files coded together
	$(BIN)/pip install -q -e ".[bench]"
	mkdir -p runs
	$(BIN)/pixcodec bench cifar10-heldout binarized-mnist-test synthetic-v1 --limit 1000 \
		--data-root $(DATA) \
		--together --out runs/small-sets.json --plot docs/small-sets.png --force

# synthetic-v1 is made from fixed seeds (pixcodec/synthetic.py): it needs no data root.
bench-synthetic: install ## pixcodec vs the classic codecs on synthetic-v1, image by image (~2 min)
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/pixcodec bench synthetic-v1 --per-image --threads 1 --out docs/synthetic.json --force

clean: clean-kernels ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache build *.egg-info

# numba's cache checks only the source file of the function it compiled: after editing a kernel
# that others call from another file (mixture.py, online.py, kernels.py...), the callers' cached
# code would still hold the old one. Installs never meet this (pip writes every file anew).
clean-kernels: ## drop the compiled kernels, numba's cache and the ahead-of-time module
	find pixcodec -name '*.nbi' -delete -o -name '*.nbc' -delete
	rm -f pixcodec/compiled/__pycache__/pixcodec_kernels-* $(KERNELS)
