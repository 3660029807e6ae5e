"""waelib: a small, tested library for the WAE-ResNet course, in three layers.

Imports point down only: the studies use the course and the core, the course uses the core,
the core uses neither (``tests/test_package.py`` checks it, and that there is no cycle).

The core library:

- :mod:`waelib.config`     -- every constant from the thesis, in one place
- :mod:`waelib.registry`   -- every model by name: networks, defaults, label, colour, objective;
  :func:`waelib.registry.build_model`
- :mod:`waelib.blocks`     -- residual blocks, the ResNet encoder, DCGAN-style encoders/decoders
- :mod:`waelib.models`     -- the networks: auto-encoder classes and their builders
- :mod:`waelib.objectives` -- one objective per model kind (optimisers, defaults, training step)
- :mod:`waelib.losses`     -- KL, reconstruction cost (and its size calibration), MMD, GAN penalties,
  the VAE and WAE objectives, and the RAE and IntroVAE objectives
- :mod:`waelib.data`       -- package: ``synthfaces`` (embedded) and its known-dimension variants,
  CelebA, scikit-learn digits, the shared checks and :func:`waelib.data.load_dataset`
- :mod:`waelib.metrics`    -- package: Fréchet distance and feature extractors, image metrics
  (sharpness, MS-SSIM, RMSE), distribution metrics (precision/recall, KID, NAC)
- :mod:`waelib.train`      -- package: ``TrainConfig``, the ``Trainer`` (which knows no model), the
  ``Run`` object behind :func:`waelib.train.fit`, batches, checkpoints, the CLI, the CPU fast
  path and its autotuner
- :mod:`waelib.evaluate`   -- the protocol of Tables 4.3-4.5 and Figures 4.1-4.3
- :mod:`waelib.expost`     -- ex-post GMM sampling for any trained model (seed 004), codes, NAC, m_A
- :mod:`waelib.parallel`   -- independent runs side by side, the CPU threads split between them
- :mod:`waelib.utils`      -- atomic writes, seeding, devices, run metadata, paths, progress bars

The course (what the notebooks use), :mod:`waelib.course`:

- :mod:`waelib.course.profiles`    -- the notebooks' parameter profiles (smoke, default, thesis) and guard
- :mod:`waelib.course.experiment`  -- the notebooks' pipeline: data -> train -> evaluate -> tables
- :mod:`waelib.course.plots`       -- figures shared by the notebooks (training curves, sample grids)
- :mod:`waelib.course.figures`     -- deterministic figure and table writers
- :mod:`waelib.course.show`        -- prose and tables rendered from the committed results, with provenance
- :mod:`waelib.course.exercises`   -- check functions of the notebooks' exercises, one module per chapter
- :mod:`waelib.course.executed`    -- the compact executed notebooks a reader sees, and their run times
- :mod:`waelib.course.diagrams`    -- Figures 3.1-3.3 drawn from the live modules
- :mod:`waelib.course.toy`         -- closed-form toys of notebooks 01 and 02 (ELBO, optimal transport, MMD)
- :mod:`waelib.course.degradation` -- thesis Figure 2.1: plain vs residual networks on digits

The studies (what makes ``results/``), :mod:`waelib.studies`:

- :mod:`waelib.studies.runner`        -- the one resumable runner of every study
- :mod:`waelib.studies.claims`        -- the thesis' claims as paired comparisons, and their statistics
- :mod:`waelib.studies.claims_design` -- the claims study's pre-registered design
- :mod:`waelib.studies.claims_study`  -- the claims study's runner and command line
- :mod:`waelib.studies.claims_render` -- the claims study's tables and figures
- :mod:`waelib.studies.beyond_plan`   -- notebook 06's profiles, runs and result folders
- :mod:`waelib.studies.beyond`        -- notebook 06's runner: the related seeds' models and claims
- :mod:`waelib.studies.beyond_render` -- notebook 06's tables and figures from its results
- :mod:`waelib.studies.landscape_plan` -- seed 004's landscape: scales, arms, rows, the seed's numbers
- :mod:`waelib.studies.landscape_eval` -- precision/recall, nearest neighbours, attribute manipulation
- :mod:`waelib.studies.landscape`   -- the landscape study's resumable runner
- :mod:`waelib.studies.landscape_claims` -- seed 004's orderings L1-L10 as paired comparisons
- :mod:`waelib.studies.landscape_render` -- the landscape study's tables and figures from its results
- :mod:`waelib.studies.why_plan` -- issue 20 (why WAE-ResNet loses): arms, budgets, comparisons, matched encoder width
- :mod:`waelib.studies.why_eval` -- what a code keeps: attribute accuracy, teeth, background hue, MMD, discriminator
- :mod:`waelib.studies.why`         -- issue 20's resumable runner (staged runs, one per seed)
- :mod:`waelib.studies.why_analysis` -- issue 20's decisions: budget curve, slope, capacity control, codes
- :mod:`waelib.studies.why_render` -- issue 20's tables and figures from its results
- :mod:`waelib.studies.readme_blocks` -- the README's result paragraphs, rendered from the result files
- :mod:`waelib.studies.bench`         -- training-step benchmark (naive vs fast path)
- :mod:`waelib.studies.bench_flops`   -- FLOPs of a step and the machine's matmul rate
- :mod:`waelib.studies.bench_compile` -- what ``torch.compile`` costs (cold, warm) and gains on this CPU
- :mod:`waelib.studies.bench_report`  -- the benchmark suite's Markdown table
"""
__version__ = "0.1.0"
