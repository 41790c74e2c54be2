"distilser.loss: the focal loss against torch's cross-entropy, its focusing factor, and the paper's Table I weights."
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from distilser.data import DistilserError
from distilser.loss import FocalLoss, balanced_alpha


@pytest.mark.parametrize("seed,n,smoothing", [(0, 64, 0.1), (1, 7, 0.1), (2, 33, 0.0), (3, 16, 0.3)])
def test_gamma_zero_is_torch_weighted_label_smoothed_cross_entropy(seed, n, smoothing):
    g = torch.Generator().manual_seed(seed)
    logits, target = torch.randn(n, 4, generator=g) * 3, torch.randint(0, 4, (n,), generator=g)
    alpha = torch.rand(4, generator=g) * 2 + 0.2
    ours = FocalLoss(alpha, gamma=0.0, label_smoothing=smoothing)(logits, target)
    torch.testing.assert_close(ours, F.cross_entropy(logits, target, weight=alpha, label_smoothing=smoothing))


@pytest.mark.parametrize("p_t", [0.95, 0.9, 0.5, 0.1])
def test_gamma_two_scales_an_example_by_one_minus_p_squared(p_t):
    rest = (1 - p_t) / 3
    logits, y = torch.log(torch.tensor([[p_t, rest, rest, rest]])), torch.tensor([0])
    alpha = torch.tensor([1.065, 0.913, 0.974, 1.070])
    ratio = FocalLoss(alpha, gamma=2.0)(logits, y) / FocalLoss(alpha, gamma=0.0)(logits, y)
    assert ratio.item() == pytest.approx((1 - p_t) ** 2, rel=1e-4)


def test_half_precision_logits_give_a_float32_loss_with_gradients():
    logits = torch.randn(8, 4).half().requires_grad_()
    loss = FocalLoss(torch.ones(4))(logits, torch.arange(8) % 4)
    assert loss.dtype == torch.float32
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad.float()).all()


def test_balanced_alpha_reproduces_table_one_as_a_fold_average():
    sessions = np.array([[229, 278, 384, 194], [137, 327, 362, 197], [240, 286, 320, 305], [327, 303, 258, 143],
                         [170, 442, 384, 245]])
    cremad = np.array([1271, 1271, 1087, 1271])
    assert sessions.sum(0).tolist() == [1103, 1636, 1708, 1084]  # Table I's IEMOCAP row
    labels = lambda counts: np.repeat(np.arange(4), counts)
    folds = [balanced_alpha(labels(sessions[[s for s in range(5) if s not in (t, (t + 1) % 5)]].sum(0) + cremad))
             for t in range(5)]
    torch.testing.assert_close(torch.stack(folds).mean(0), torch.tensor([1.065, 0.913, 0.974, 1.070]),
                               atol=5e-4, rtol=0)
    combined = balanced_alpha(labels(sessions.sum(0) + cremad))  # not what Table I prints
    torch.testing.assert_close(combined, torch.tensor([1.0985, 0.8971, 0.9330, 1.1073]), atol=5e-4, rtol=0)


def test_a_class_without_examples_is_a_user_error():
    with pytest.raises(DistilserError, match="no training example of happiness"):
        balanced_alpha([0, 0, 2, 3])
