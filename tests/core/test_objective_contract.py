"""The objectives' contract with the trainer: every registered model trains through the
objective the registry names, the loop imports none of them, and an unknown model is an error."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import waelib.train.trainer as train_trainer
from waelib.train import TrainConfig, Trainer

CPU = torch.device("cpu")
TINY = dict(image_size=32, width=0.125, batch_size=8, seed=0, progress=False, amp=None,
            channels_last=False, fused=False, compile=False)


def test_an_unknown_model_is_an_error_everywhere_never_a_fall_through():
    """Before the registry, an unknown kind silently got WAE-GAN's learning rates."""
    from waelib.registry import objective_for
    from waelib.train import default_lrs
    for call in (lambda: objective_for("wae_gan2"), lambda: default_lrs("wae_gan2"),
                 lambda: TrainConfig(model="wae_gan2").validate()):
        with pytest.raises(ValueError, match="unknown model name 'wae_gan2'; valid choices: vae, "):
            call()


def test_every_registered_model_trains_through_its_objective_and_the_loop_imports_none():
    """The trainer and the run import only the objectives' base (the registry names each model's
    class); every registered model has an objective with its defaults and optimisers."""
    from waelib.registry import MODEL_REGISTRY
    for module in (train_trainer, Path(train_trainer.__file__).with_name("run.py")):
        text = Path(module if isinstance(module, Path) else module.__file__).read_text()
        imported = [ln for ln in text.splitlines() if "objectives" in ln and "import" in ln]
        assert all("objectives.base" in ln for ln in imported), imported
    for name, spec in MODEL_REGISTRY.items():
        lr, disc_lr = spec.objective.default_lrs()
        assert lr > 0 and (disc_lr is None or disc_lr > 0), name
        cfg = TrainConfig(model=name, steps=1, **TINY).resolved(CPU, total_steps=1)
        tr = Trainer(cfg)
        assert isinstance(tr.objective, spec.objective)
        assert set(tr.optimizers) == set(tr.objective.optimizers()) == set(tr.lr_fields)
