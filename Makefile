# Two set-up commands for a fresh machine: `make demo` and `make test`.
# Both create .venv when it is missing (or when pyproject.toml changed) and install waelib.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.waelib-installed
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0
# Independent runs side by side in `make claims`, `make beyond` and `make figures`: "auto" is one
# per core with one torch thread each on a CPU (measured fastest: results/bench/claims_throughput.json).
JOBS ?= auto

.PHONY: demo test browser-test figures lab bench bench-gpu bench-candidates bench-compile bench-claims bench-pythae thesis-size bench-metrics notebooks lint claims claims-render beyond beyond-render landscape landscape-render why why-render clean-venv

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (waelib)" >/dev/null
	@touch $(STAMP)

## Run the main notebook headless on the embedded data set (CPU is fine; its measured time is in
## results/course/notebook_times.json, from make figures).
demo: $(STAMP)
	@mkdir -p runs/demo
	$(VENV)/bin/papermill notebooks/04_wae_resnet.ipynb runs/demo/04_wae_resnet.ipynb --cwd notebooks
	@echo "Executed notebook: runs/demo/04_wae_resnet.ipynb (runs in runs/default/, figures in runs/default/figures/)"

## Run the whole test suite. pytest's exit code 5 (no tests collected) is an error here. The 12
## slowest tests are listed: the suite's budget is 5 minutes on 2 cores.
test: $(STAMP)
	@set +e; $(PY) -m pytest -q -n 2 --dist loadfile --timeout=900 --durations=12 -m "not browser"; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "ERROR: pytest collected no tests"; exit 1; fi; exit $$rc

## Every notebook in a real JupyterLab, in headless Chromium (Debian's chromium + Playwright), on
## the smoke profile: errors, kernel, math, images, widget progress bars; screenshots and the
## checks' record in results/course/browser/. Skipped with the reason where chromium is missing.
browser-test: $(STAMP)
	@set +e; WAELIB_SCREENSHOTS=results/course/browser $(PY) -m pytest -q -m browser -rs \
		tests/course/test_jupyterlab_browser.py; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "ERROR: pytest collected no tests"; exit 1; fi; exit $$rc

## Regenerate figures/ and the executed notebooks a reader sees on GitHub (notebooks/executed/) by
## running every notebook (profile "default"; $(JOBS) notebooks side by side, 05 after 03 and 04);
## each notebook's wall time goes to results/course/notebook_times.json.
figures: $(STAMP)
	$(PY) scripts/run_notebooks.py --profile default --jobs $(JOBS) --figures-dir figures \
		--executed notebooks/executed --times results/course/notebook_times.json
	@# 03 and 04 quote the chapter-4 tables that 05 writes from their runs: a second pass (the runs
	@# are reused, no training) brings their prose up to date with the tables just written.
	$(PY) scripts/run_notebooks.py --profile default --jobs $(JOBS) --figures-dir figures \
		--executed notebooks/executed --only 03 04

## Sync each notebook pair (notebooks/NN_name.py <-> .ipynb, jupytext.toml), then strip the .ipynb.
notebooks: $(STAMP)
	$(VENV)/bin/jupytext --sync $(sort $(wildcard notebooks/[0-9]*.py notebooks/[0-9]*.ipynb))
	$(PY) scripts/strip_notebooks.py

## Lint the library, tests, scripts and notebook sources (ruff, configured in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check .

## The pre-registered claims study (docs/claims.md): resumable, skips finished runs (its measured
## training time per scale is figures/claims.json's meta.train_seconds_total; side by side, --jobs,
## 1.46x the runs per hour on a 2-core AMD EPYC: results/bench/claims_throughput.json); commits
## nothing by itself.
claims: $(STAMP)
	$(PY) -m waelib.studies.claims_study --sensitivity --scale primary --scale second --jobs $(JOBS)

## Re-render the study's tables and figures from results/claims/ (no training).
claims-render: $(STAMP)
	$(PY) -m waelib.studies.claims_study --render
	$(PY) -m waelib.studies.readme_blocks --block claims-summary --block lambda-summary

## Notebook 06 (beyond the thesis, seeds 003/004): make every missing run of its default
## profile (resumable; about 40 minutes on 2 CPU cores), then render figures/beyond_*.
beyond: $(STAMP)
	$(PY) -m waelib.studies.beyond --profile default --jobs $(JOBS)

## Re-render notebook 06's tables and figures from results/beyond/default (no training).
beyond-render: $(STAMP)
	$(PY) -m waelib.studies.beyond --profile default --render
	$(PY) -m waelib.studies.readme_blocks --block beyond-summary

## Seed 004's landscape (docs/landscape.md, pre-registered): every missing run of the study at
## both scales (resumable; hours on 2 CPU cores, see the README), then figures/landscape_*.
landscape: $(STAMP)
	$(PY) -m waelib.studies.landscape --jobs $(JOBS)

## Re-render the landscape study's tables and figures from results/landscape/ (no training).
landscape-render: $(STAMP)
	$(PY) -m waelib.studies.landscape --render --readme

## Why WAE-ResNet loses at CPU scale (issue 20; docs/claims.md, pre-registered): every missing run
## and stage (resumable; about 1.5 hours on 2 CPU cores), one run at a time at 2 threads as the
## claims study ran, so that its 2,000-step stages can reproduce the claims study's second scale;
## then figures/why_*.
why: $(STAMP)
	$(PY) -m waelib.studies.why --jobs 1

## Re-render issue 20's tables and figures from results/why/ (no training).
why-render: $(STAMP)
	$(PY) -m waelib.studies.why --render --readme

## Open the course in JupyterLab.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

## CPU training-step suite: every model at 32 and 64 px (width 0.125, batch 64), naive vs the
## trainer's own choice (+ torch.compile at 32 px), alternating windows, 2 threads; writes
## results/bench/cpu_suite.json and the table in results/bench/README.md (~2-4 min on 2 cores).
bench: $(STAMP)
	$(PY) -m waelib.studies.bench --suite --threads 2 --rounds 10 --paths naive,auto,auto+compile \
		--compile-max-size 32 --json results/bench/cpu_suite.json --readme results/bench/README.md

## The evidence behind the CPU table of waelib/train/fastpath.py: every fp32 candidate path
## (and bf16 for reference) for every model and size (~10-15 min on 2 cores).
bench-candidates: $(STAMP)
	$(PY) -m waelib.studies.bench --suite --threads 2 --rounds 10 \
		--paths naive,fused,channels_last,cl+fused,fused+compile,cl+fused+compile,bf16+cl+fused \
		--json results/bench/cpu_candidates_2threads.json

## torch.compile on this CPU: cold and warm compile time and the speed-up at 1 and 2 threads of
## every model at 32 and 64 px, and the share of the matmul rate the eager step reaches; the
## evidence behind fastpath.CPU_COMPILE (~10-15 min on 2 cores).
bench-compile: $(STAMP)
	$(PY) -m waelib.studies.bench_compile --json results/bench/cpu_compile.json

## Runs per hour of the claims study's runner, one after the other vs side by side (--jobs),
## on four of its 32 px runs (~10 min on 2 cores; needs an otherwise idle machine).
bench-claims: $(STAMP)
	$(PY) benchmarks/claims_throughput.py --json results/bench/claims_throughput.json

## WAE-MMD training steps, waelib vs pythae (optional extra: pip install -e .[bench]).
bench-pythae: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) benchmarks/pythae_compare.py --rounds 5 --naive --json results/bench/pythae_wae_mmd.json

## Every model at the thesis size (128 px, full width) for two CPU training steps at batch 4,
## plus a tiny evaluation; step time, peak memory, FLOPs and activation memory (~1-2 min).
thesis-size: $(STAMP)
	$(PY) benchmarks/thesis_size.py --batch-size 4 --steps 2 --json results/bench/thesis_size_cpu.json

## The same at the thesis size on a GPU (the issue's H200 targets).
bench-gpu: $(STAMP)
	$(PY) -m waelib.studies.bench --model wae_resnet --image-size 128 --width 1 --batch-size 256 \
		--steps 50 --warmup 10 --windows 5 --device cuda --json results/bench/gpu_wae_resnet_128.json

## Feature-extraction speed and the Frechet distance vs scipy's sqrtm.
bench-metrics: $(STAMP)
	$(PY) -m waelib.metrics --bench

clean-venv:
	rm -rf $(VENV)
