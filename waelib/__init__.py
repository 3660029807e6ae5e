"""waelib: a small, tested library for the WAE-ResNet course.

Modules and packages (one per concern):

- :mod:`waelib.config`     -- every constant from the thesis, in one place
- :mod:`waelib.blocks`     -- residual blocks, the ResNet encoder, DCGAN-style encoders/decoders
- :mod:`waelib.models`     -- the thesis' five models and the related seeds' three (RAE, IntroVAE,
  MaskAAE), built by name with :func:`waelib.models.build_model`
- :mod:`waelib.losses`     -- KL, reconstruction cost (and its size calibration), MMD, GAN penalties,
  the VAE and WAE objectives, and the RAE and IntroVAE objectives
- :mod:`waelib.data`       -- package: ``synthfaces`` (embedded) and its known-dimension variants,
  CelebA, scikit-learn digits, the shared checks and :func:`waelib.data.load_dataset`
- :mod:`waelib.metrics`    -- package: Fréchet distance and feature extractors, image metrics
  (sharpness, MS-SSIM, RMSE), distribution metrics (precision/recall, KID, NAC)
- :mod:`waelib.train`      -- package: ``TrainConfig``, the per-model ``Trainer`` steps, the ``Run``
  object behind :func:`waelib.train.fit`, checkpoints, the CLI, the CPU fast path and its
  autotuner
- :mod:`waelib.evaluate`   -- the protocol of Tables 4.3-4.5 and Figures 4.1-4.3
- :mod:`waelib.expost`     -- ex-post GMM sampling for any trained model (seed 004), NAC, m_A
- :mod:`waelib.beyond`     -- notebook 06's resumable runner: the related seeds' models and claims
- :mod:`waelib.beyond_render` -- notebook 06's tables and figures from its results
- :mod:`waelib.experiment` -- the notebooks' pipeline: data -> train -> evaluate -> tables
- :mod:`waelib.claims`     -- the thesis' claims as paired comparisons, and their statistics
- :mod:`waelib.study`      -- the resumable multi-seed claims study and its renderer
- :mod:`waelib.profiles`   -- the notebooks' parameter profiles (smoke, default, thesis) and guard
- :mod:`waelib.plots`      -- figures shared by the notebooks (training curves, sample grids)
- :mod:`waelib.figures`    -- deterministic figure and table writers
- :mod:`waelib.diagrams`   -- Figures 3.1-3.3 drawn from the live modules
- :mod:`waelib.toy`        -- closed-form toys of notebooks 01 and 02 (ELBO, optimal transport, MMD)
- :mod:`waelib.degradation` -- thesis Figure 2.1: plain vs residual networks on digits
- :mod:`waelib.parallel`   -- independent runs side by side, the CPU threads split between them
- :mod:`waelib.bench`      -- training-step benchmark (naive vs fast path, FLOPs)
- :mod:`waelib.bench_compile` -- what ``torch.compile`` costs (cold, warm) and gains on this CPU
- :mod:`waelib.bench_report` -- the benchmark suite's Markdown table
- :mod:`waelib.utils`      -- atomic writes, seeding, devices, run metadata
"""
__version__ = "0.1.0"
