"""The studies layer: the resumable runners and renderers that make ``results/`` and the
committed tables (the claims study, notebook 06's runs, the benchmarks), on top of the core
library and the course (:mod:`waelib`)."""
