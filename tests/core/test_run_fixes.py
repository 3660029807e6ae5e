"""Two trainer fixes found while building the landscape's models, each with the test that failed
before it: the progress grids show a learned prior's current samples, and ``load_run`` rebuilds a
model whose objective adds state (IntroVAE's warm-up step counter)."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid, save_image

from waelib.train import fit, load_run

TINY = dict(image_size=32, width=0.0625, latent_dim=8, batch_size=8, seed=0, progress=False, amp=None,
            channels_last=False, fused=False, compile=False)


def _images(n=32):
    return (torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)


def test_progress_grid_decodes_the_learned_prior_as_it_is_now(tmp_path):
    # FlexAE's prior is a trained generator: codes drawn once before training would show the
    # untrained P-GEN forever (the old behaviour).
    res = fit("flexae", _images(), dict(TINY, steps=3, sample_every=3, n_samples=4, out=str(tmp_path)))
    model = res.model.eval()
    with torch.no_grad():
        z = model.sample_prior(4, generator=torch.Generator().manual_seed(0))
        expected = make_grid(model.decode(z).float().clamp(0, 1), nrow=2, padding=2)
    save_image(expected, tmp_path / "expected.png")
    got = np.asarray(Image.open(tmp_path / "samples_step000003.png"))
    want = np.asarray(Image.open(tmp_path / "expected.png"))
    assert np.array_equal(got, want)


def test_load_run_rebuilds_an_intro_vae_trained_with_a_warm_up(tmp_path):
    res = fit("intro_vae", _images(), dict(TINY, steps=3, out=str(tmp_path), loss_options={"num_vae": 2}))
    model = load_run(tmp_path)          # strict load: the objective's buffer must exist
    assert int(model.intro_step) == 3
    for a, b in zip(model.state_dict().values(), res.model.state_dict().values()):
        assert torch.equal(a.cpu(), b.cpu())
