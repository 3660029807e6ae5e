"""waelib.course.diagrams: architecture diagrams (thesis Figures 3.1-3.3) whose labels and shapes
come from a forward pass of the live module."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from waelib import config  # noqa: E402
from waelib.blocks import ConvBlock, IdentityBlock, ResNetEncoder, resnet_spatial_sizes  # noqa: E402
from waelib.course import diagrams  # noqa: E402


def test_trace_records_shapes():
    enc = ResNetEncoder(64, image_size=32, width=0.0625)
    shapes = diagrams.trace_shapes(enc, (3, 32, 32))
    assert shapes["dense"][1] == (64,)
    sizes = resnet_spatial_sizes(32)
    assert shapes["features.0"][1][-1] == sizes[0]
    assert [shapes[f"features.{i}"][1][-1] for i in (5, 6, 7, 8)] == list(sizes[3:7])
    assert enc.training                       # the training flag is restored


def test_draw_architecture_encoder_labels_match_module(tmp_path):
    enc = ResNetEncoder(64, image_size=32, width=0.0625)
    d = diagrams.draw_architecture(enc, (3, 32, 32), "enc", tmp_path)
    plt.close(d.fig)
    assert {p.name for p in d.paths} == {"enc.png", "enc.pdf"}
    stages = [b for b in d.boxes if any("Block" in r.label for r in b.rows)]
    assert [b.title for b in stages] == ["Stage 2", "Stage 3", "Stage 4", "Stage 5"]
    n_id = [sum(r.count for r in b.rows if r.label.startswith("IdentityBlock")) for b in stages]
    assert tuple(n_id) == config.RESNET_IDENTITY_BLOCKS
    # the same count read from the module itself
    assert n_id == [sum(isinstance(m, IdentityBlock) for m in stage) for stage in enc.features[5:9]]
    assert [b.rows[0].label.endswith(f"stride {s}") for b, s in zip(stages, config.RESNET_STAGE_STRIDES)]
    assert "Conv 7×7, 4, stride 2" in d.labels            # 64 * 0.0625 = 4 stem filters
    assert "Dense 64" in d.labels and "ZeroPad 2" in d.labels
    assert d.boxes[-1].rows[0].shape == (64,)


def test_draw_architecture_changes_with_the_module():
    """The diagram follows the code: a different block count gives different labels."""
    enc = ResNetEncoder(8, image_size=32, width=0.0625)
    enc.features[5] = torch.nn.Sequential(*list(enc.features[5])[:2])   # drop one identity block
    d = diagrams.draw_architecture(enc, (3, 32, 32))
    plt.close(d.fig)
    stage2 = next(b for b in d.boxes if b.title == "Stage 2")
    assert stage2.labels[1].startswith("IdentityBlock")                 # 1, not "2 × ..."
    assert "Dense 8" in d.labels


def test_draw_architecture_blocks(tmp_path):
    cb = ConvBlock(8, (4, 4, 16), stride=2)
    d = diagrams.draw_architecture(cb, (8, 9, 9), "cb", tmp_path, formats=("png",))
    plt.close(d.fig)
    main, short = d.boxes[1], d.boxes[2]
    assert main.labels == ["Conv 1×1, 4, stride 2", "BatchNorm", "ReLU", "Conv 3×3, 4, stride 1",
                           "BatchNorm", "ReLU", "Conv 1×1, 16, stride 1", "BatchNorm"]
    assert short.labels == ["Conv 1×1, 16, stride 2", "BatchNorm"]
    assert short.rows[0].shape == (16, 5, 5)
    assert d.boxes[3].title == "H(X) = ReLU(F(X) + W_s X)" and d.boxes[3].labels == ["ReLU"]

    ib = IdentityBlock(16, (4, 4, 16))
    d = diagrams.draw_architecture(ib, (16, 5, 5))
    plt.close(d.fig)
    assert d.boxes[2].labels == ["identity"] and d.boxes[3].title == "H(X) = ReLU(F(X) + X)"
    assert len(d.boxes[1].rows) == 8


def test_draw_architecture_verifies_the_addition():
    class Broken(IdentityBlock):
        def forward(self, x):
            return self.relu(self.residual(x))              # the skip connection is missing
    with pytest.raises(AssertionError, match="ReLU"):
        diagrams.draw_architecture(Broken(16, (4, 4, 16)), (16, 5, 5))
    plt.close("all")
