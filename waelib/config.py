"""Every constant taken from the thesis, in one place.

The thesis is "Wasserstein Auto-Encoder using Residual Neural Network" (M.Tech, ISI
Kolkata, 2022). Section numbers below refer to it. Where the thesis is silent or
ambiguous, the value chosen here is marked ``# decision`` and explained in
``docs/deviations.md``.
"""
from __future__ import annotations

from typing import Tuple

# --- data (§4.2) ----------------------------------------------------------------
IMAGE_SIZE: int = 128                 # §4.3: images are 128x128 RGB
IMAGE_CHANNELS: int = 3
SUPPORTED_IMAGE_SIZES: Tuple[int, ...] = (32, 64, 128)
CELEBA_N_IMAGES: int = 202_599        # §4.2
CELEBA_N_TRAIN: int = 162_079         # §4.2, random 80/20 split
CELEBA_N_TEST: int = 40_520
CELEBA_CROP: int = 140                # decision: official WAE code's centre crop
SPLIT_SEED: int = 0                   # decision: seed of the random 80/20 split

# --- VAE and VAE-ResNet (§4.3.1, §4.3.3) -------------------------------------------
VAE_LATENT_DIM: int = 512
VAE_ENCODER_FILTERS: Tuple[int, ...] = (32, 64, 128, 256, 512)
VAE_DECODER_FILTERS: Tuple[int, ...] = (256, 128, 64, 32, 16)
VAE_KERNEL: int = 3
VAE_HIDDEN: int = 2048                # dense 2048, SELU
VAE_LEAKY_SLOPE: float = 0.02
VAE_LR: float = 1e-3
VAE_BETA1: float = 0.5                # "exponential decay rate = 0.5" read as Adam beta1
VAE_PRIOR_SIGMA2: float = 1.0         # N(0, I)
VAE_DECODER_SIGMA2: float = 0.5       # decision: Gaussian likelihood variance sigma_G^2

# --- WAE (GAN penalty), WAE-MMD, WAE-ResNet (§4.3.2, §4.3.4) -------------------------
WAE_LATENT_DIM: int = 64
WAE_ENCODER_FILTERS: Tuple[int, ...] = (128, 256, 512, 1024, 2048)
WAE_DECODER_FILTERS: Tuple[int, ...] = (1024, 512, 256, 128)
WAE_KERNEL: int = 5
WAE_PRIOR_SIGMA: float = 1.414        # "Gaussian Distribution's standard deviation"
WAE_PRIOR_SIGMA2: float = 2.0         # sigma_z^2 (1.414^2 rounded, as in the official code)
WAE_AE_LR: float = 3e-4
WAE_DISC_LR: float = 1e-3
WAE_MMD_LR: float = 1e-3              # seeds 002/003 and official WAE-MMD code
WAE_BETA1: float = 0.5
DISC_HIDDEN: int = 512
DISC_LAYERS: int = 4                  # 4 x dense 512 ReLU, then dense 1 sigmoid
WAE_GAN_LAMBDA: float = 1.0           # decision: official WAE code (with RECON_SCALE)
WAE_MMD_LAMBDA: float = 100.0         # decision: official WAE code (with RECON_SCALE)
RECON_SCALE: float = 0.05             # decision: official WAE code's cost = 0.05 * ||x - y||^2
# The official code's 0.05 (and its lambdas) are calibrated for pixels in [-1, 1] at 64 px.
# waelib's images are in [0, 1]; losses.recon_scale_for(S) rescales 0.05 so that the
# reconstruction term has the official magnitude per image at any size S (0.05 at 128 px,
# 0.2 at 64 px, 0.8 at 32 px). docs/deviations.md, "lambda calibration".
OFFICIAL_IMAGE_SIZE: int = 64
OFFICIAL_PIXEL_RANGE: float = 2.0     # [-1, 1]
MMD_SCALES: Tuple[float, ...] = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)

# --- ResNet encoder (§3.2) ------------------------------------------------------------
RESNET_ZERO_PAD: int = 2
RESNET_STEM_CHANNELS: int = 64
RESNET_STEM_KERNEL: int = 7
RESNET_STAGE_FILTERS: Tuple[Tuple[int, int, int], ...] = (
    (64, 64, 256), (128, 128, 512), (256, 256, 1024), (512, 512, 2048))
RESNET_STAGE_STRIDES: Tuple[int, ...] = (1, 2, 2, 2)
RESNET_IDENTITY_BLOCKS: Tuple[int, ...] = (2, 3, 3, 3)
RESNET_BLOCK_KERNEL: int = 3

# --- training (§4.3) ------------------------------------------------------------------
EPOCHS: int = 100
BATCH_SIZE: int = 100                 # decision: not stated; official WAE code uses 100

# --- evaluation (§4.4) ----------------------------------------------------------------
N_RANDOM_SAMPLES: int = 10_000        # Table 4.4
N_RECONSTRUCTIONS: int = 40_000       # Table 4.5
N_INTERPOLATION_STEPS: int = 10       # decision: figure 4.1 shows rows of ~10 images
N_INTERPOLATION_PAIRS: int = 500      # decision: not stated; 500 pairs make Table 4.3's error small

# The thesis' own numbers (§4.4), used only as the "thesis" column of regenerated tables.
THESIS_TABLE_4_3 = {"vae": 6.541, "vae_resnet": 6.580, "wae_gan": 6.565, "wae_resnet": 7.952}
THESIS_TABLE_4_4 = {"vae": (38.439, 6.233), "vae_resnet": (34.942, 5.985),
                    "wae_gan": (5.756, 7.848), "wae_resnet": (5.693, 10.434)}
THESIS_TABLE_4_5 = {"vae": (13.008, 6.013), "vae_resnet": (10.901, 7.607),
                    "wae_gan": (5.449, 7.187), "wae_resnet": (4.155, 9.172)}

MODEL_NAMES: Tuple[str, ...] = ("vae", "vae_resnet", "wae_gan", "wae_mmd", "wae_resnet")
THESIS_MODEL_LABELS = {"vae": "VAE", "vae_resnet": "VAE-ResNet", "wae_gan": "WAE",
                       "wae_mmd": "WAE-MMD", "wae_resnet": "WAE-ResNet"}

#: One fixed colour per model, used by every figure that draws models side by side
#: (waelib.plots): a model keeps its colour in every panel and every notebook, whether or not
#: the other models appear. Matplotlib's tab10 colours; the thesis' proposal is red.
MODEL_COLORS = {"vae": "#1f77b4", "vae_resnet": "#ff7f0e", "wae_gan": "#2ca02c",
                "wae_mmd": "#9467bd", "wae_resnet": "#d62728"}
