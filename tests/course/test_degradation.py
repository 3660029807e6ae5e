"""waelib.course.degradation: the small Figure 2.1 experiment (plain vs residual CNNs)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from waelib.course import degradation  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    """These networks are tiny: one thread avoids the sync overhead that dominates (10x) when
    the 2 cores are shared."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data():
    return degradation.load_digits_split(seed=0)


def test_digits_split(data):
    x_tr, y_tr, x_te, y_te = data
    assert x_tr.shape[1:] == (1, 8, 8) and len(x_tr) + len(x_te) == 1797
    assert len(x_te) == 450 and set(y_tr.tolist()) == set(range(10))
    assert abs(x_tr.mean().item()) < 1e-5 and abs(x_tr.std().item() - 1) < 1e-2


@pytest.mark.parametrize("depth", [8, 20])
def test_plain_and_residual_have_the_same_layers(depth):
    plain = degradation.CifarResNet(depth, residual=False, base_width=4)
    res = degradation.CifarResNet(depth, residual=True, base_width=4)
    n = lambda m: sum(p.numel() for p in m.parameters())
    assert n(plain) == n(res)
    assert plain.n_weight_layers == res.n_weight_layers == depth
    out = res(torch.randn(3, 1, 8, 8))
    assert out.shape == (3, 10)


def test_bad_depth():
    with pytest.raises(ValueError, match="6n \\+ 2"):
        degradation.CifarResNet(10, residual=True)


def test_shortcut_option_a():
    blk = degradation.BasicBlock(4, 8, stride=2, residual=True, batch_norm=False)
    x = torch.randn(2, 4, 8, 8)
    s = blk.shortcut(x)
    assert s.shape == (2, 8, 4, 4)
    assert torch.equal(s[:, :4], x[:, :, ::2, ::2]) and (s[:, 4:] == 0).all()
    # with F = 0 the residual block is ReLU(shortcut(x)); the plain block is ReLU(0) = 0
    torch.nn.init.zeros_(blk.conv2.weight)
    torch.nn.init.zeros_(blk.conv2.bias)
    assert torch.equal(blk(x), torch.relu(s))


def test_training_is_deterministic_and_records_curves(data):
    kw = dict(iterations=4, batch_size=16, eval_every=2, seed=3)
    a = degradation.train_classifier(degradation.CifarResNet(8, residual=True, base_width=4), data, label="a", **kw)
    torch.manual_seed(0)
    degradation.train_classifier(degradation.CifarResNet(8, residual=True, base_width=4), data, label="b", **kw)
    assert a.iterations == [0, 2, 4] and len(a.train_error) == len(a.test_error) == 3
    assert all(0 <= e <= 1 for e in a.train_error + a.test_error)
    # same seed of the model init is not forced here, but the data order is
    torch.manual_seed(1)
    m1 = degradation.CifarResNet(8, residual=True, base_width=4)
    torch.manual_seed(1)
    m2 = degradation.CifarResNet(8, residual=True, base_width=4)
    c1 = degradation.train_classifier(m1, data, **kw)
    c2 = degradation.train_classifier(m2, data, **kw)
    assert c1.train_error == c2.train_error and c1.test_error == c2.test_error


def test_run_degradation_and_plot(data):
    curves = degradation.run_degradation([8, 14], base_width=4, iterations=3, batch_size=16, eval_every=3,
                               data=data)
    assert [c.label for c in curves] == ["plain-8", "plain-14", "ResNet-8", "ResNet-14"]
    err = degradation.final_errors(curves)
    assert set(err) == {c.label for c in curves}
    fig = degradation.plot_degradation(curves, title="t")
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 4
    plt.close(fig)


def test_layer_gradient_norms_one_per_conv_and_match_autograd():
    import torch

    from waelib.course.degradation import CifarResNet, layer_gradient_norms
    torch.manual_seed(0)
    net = CifarResNet(8, residual=True, base_width=4)
    x, y = torch.randn(6, 1, 8, 8), torch.randint(0, 10, (6,))
    norms = layer_gradient_norms(net, x, y)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(norms) == len(convs)
    loss = torch.nn.functional.cross_entropy(net(x), y)
    (g,) = torch.autograd.grad(loss, convs[0].weight)
    # another backward pass over the same fp32 graph (maybe other summation order): ~1e-7
    assert norms[0] == pytest.approx(g.norm().item(), rel=1e-5)
    assert all(m.weight.grad is None for m in convs)   # leaves no gradients behind
