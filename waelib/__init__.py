"""waelib: a small, tested library for the WAE-ResNet course.

Modules (one per concern):

- :mod:`waelib.config`  -- every constant from the thesis, in one place
- :mod:`waelib.blocks`  -- residual blocks, the ResNet encoder, DCGAN-style encoders/decoders
- :mod:`waelib.models`  -- the five models, built by name with :func:`waelib.models.build_model`
- :mod:`waelib.losses`  -- KL, reconstruction cost, MMD, GAN penalties, VAE and WAE objectives
- :mod:`waelib.data`    -- CelebA, the embedded ``synthfaces`` data set, scikit-learn digits
- :mod:`waelib.metrics` -- FID (Inception or an offline classifier), sharpness, MS-SSIM, ...
- :mod:`waelib.train`   -- one resumable training loop for every model
- :mod:`waelib.figures` -- deterministic figure and table writers
"""
__version__ = "0.1.0"
