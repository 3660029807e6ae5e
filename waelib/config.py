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

# --- beyond the thesis: the related seeds' models (notebook 06, docs/deviations.md) --------
# RAE (seed 004; Ghosh et al. 2020), the RAE-L2 variant with pythae's defaults:
#   loss = sum_pixels (x - x^)^2 + beta * 1/2 ||z||^2 + lam/2 * ||theta_dec||^2.
RAE_Z_WEIGHT: float = 1e-4            # beta (pythae RAE_L2_Config.embedding_weight)
RAE_DECODER_L2: float = 1e-7          # lam (pythae RAE_L2_Config.reg_weight, as weight decay)
RAE_PRIOR_SIGMA2: float = 1.0         # N(0, I): RAE's "fixed prior" baseline sampler
RAE_LR: float = 1e-3                  # decision: as WAE-MMD (same networks, same optimiser)
# IntroVAE (seed 003; Huang et al. 2018): official run_256.sh (CelebA-HQ 256 px, latent 512):
#   m_plus = 120, weight_rec = 0.05, weight_neg = 0.5 (alpha = 0.5 * weight_neg), lr 2e-4,
#   Adam with torch's default betas.
INTRO_MARGIN: float = 120.0           # m
INTRO_ALPHA: float = 0.25             # alpha = 0.5 * weight_neg
INTRO_BETA: float = 0.05              # beta at INTRO_IMAGE_SIZE; losses.intro_beta_for rescales it
INTRO_IMAGE_SIZE: int = 256
INTRO_LR: float = 2e-4
INTRO_BETAS: Tuple[float, float] = (0.9, 0.999)
# MaskAAE (seed 004; Mondal et al. 2020): a WAE-GAN (same lambda, lrs) with a learned mask.
MASK_INIT_LOGIT: float = 0.0          # decision: every gate starts undecided (mu = 1/2)
MASK_SPARSITY_WEIGHT: float = 0.2     # decision: weight of ||mu||_1 (the seed gives no mask loss)
MASK_BINARY_WEIGHT: float = 0.5       # decision: weight of sum_j mu_j (1 - mu_j)
MASK_LR: float = 1e-2                 # decision: the gates' own Adam rate (3e-4 moves a logit
                                      # by at most ~0.3 in 1,000 steps: no gate could close)

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

# Model names, labels and colours live in the registry (waelib.registry), beside each model.

# The related seeds' own numbers (CelebA; used only as the "seed" columns of notebook 06's tables).
#: Seed 003 Table 1: RMSE (0-255 scale) of train / test reconstructions, 128 px.
SEED003_RMSE = {"intro_vae": (23.39, 27.50), "wae_mmd": (11.70, 15.44), "wae_gan": (13.64, 16.12)}
#: Seed 003: mean MS-SSIM over 10k sample pairs (lower = more diverse); IntroVAE reimplemented.
SEED003_MS_SSIM = {"intro_vae": 0.3042, "wae_gan": 0.4488, "wae_mmd": 0.5178}
#: Seed 004 Table 3 (CelebA FID): (reconstruction, generation); "rae" is its "RAE + GMM (L2)".
SEED004_TABLE3 = {"wae_gan": (29.34, 39.58), "rae": (29.05, 35.30), "vae": (62.36, 72.48),
                  "mask_aae": (35.75, 40.49)}
#: Seed 004 Table 2: data set -> (capacity m, WAE m_A, WAE NAC, MAAE m_A, MAAE NAC).
SEED004_TABLE2 = {"synthfaces_n8": (16, 16, 0.040, 9, 0.030), "synthfaces_n16": (32, 32, 0.031, 16, 0.013)}
