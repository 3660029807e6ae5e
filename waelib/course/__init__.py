"""The course layer: what the notebooks use (profiles, the experiment pipeline, plots, figures,
diagrams, toys, the degradation experiment). It builds on the core library and never on the
studies (:mod:`waelib`)."""
