"""Training windows: every next-item target exactly once, with the longest context available."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.models.seqdata import (
    PAD,
    NextItemLossConfig,
    future_loss,
    mask_seen_logits,
    next_item_loss,
    pad_histories,
    training_windows,
)


def test_windows_cover_every_target_once_with_long_context():
    seqs = [np.arange(100, 123), np.array([7, 8]), np.array([5])]
    inp, tgt = training_windows(seqs, max_len=8, stride=4)
    targets = tgt[tgt >= 0]
    assert sorted(targets.tolist()) == sorted(list(range(101, 123)) + [8])
    for row in range(len(inp)):
        for j in np.flatnonzero(tgt[row] >= 0):
            # target at position j is the item right after input j in the original sequence
            assert tgt[row, j] == inp[row, j] + 1
            context = j + 1
            first_window = inp[row, 0] in (100, 7)
            assert first_window or context >= 8 - 4 + 1


def test_masked_inputs_keep_clean_targets():
    seq = np.array([1, -2, 3, 4])
    inp, tgt = training_windows([seq], max_len=4, targets=[np.array([1, 2, 3, 4])])
    assert inp[0].tolist() == [1, -2, 3, -1] and tgt[0].tolist() == [2, 3, 4, -1]


def test_pad_histories_keeps_the_newest():
    padded, lengths = pad_histories([np.arange(5), np.array([], dtype=np.int64)], max_len=3)
    assert padded.tolist() == [[2, 3, 4], [-1, -1, -1]] and lengths.tolist() == [3, 0]


def test_mask_seen_logits_hides_each_positions_earlier_items_but_not_its_target() -> None:
    import torch

    inputs = torch.tensor([[0, 2, 1, PAD], [3, 3, -2, PAD]])  # -2: an augmentation mask token
    targets = torch.tensor([[2, 1, 4, PAD], [3, 0, 1, PAD]])
    keep = targets >= 0
    logits = torch.zeros(int(keep.sum()), 5, requires_grad=True)
    out = mask_seen_logits(logits, inputs, keep, targets[keep])
    hidden = [set(np.flatnonzero(np.isinf(row)).tolist()) for row in out.detach().numpy()]
    # row 3: item 3 was seen, but it is the target (a repeat), so it stays
    assert hidden == [{0}, {0, 2}, {0, 1, 2}, set(), {3}, {3}]
    out[torch.isfinite(out)].sum().backward()
    assert logits.grad is not None and float(logits.grad.sum()) == 30 - 8  # no gradient into masked cells


def test_future_loss_is_the_mean_over_the_later_targets():
    import torch
    import torch.nn.functional as F

    tgt = torch.tensor([[2, 1, 4, -1], [3, 0, 1, -1]])
    sel = tgt >= 0
    logits = torch.randn(int(sel.sum()), 5)
    # rows of sel: (0,0) (0,1) (0,2) (1,0) (1,1) (1,2); one step further ahead: 1, 4, -, 0, 1, -
    one = F.cross_entropy(logits[[0, 1, 3, 4]], torch.tensor([1, 4, 0, 1]))
    two = F.cross_entropy(logits[[0, 3]], torch.tensor([4, 1]))
    logp = F.log_softmax(logits, dim=-1)  # future_loss takes the log-softmax, computed once per step
    assert torch.allclose(future_loss(logp, tgt, sel, 2), one)
    assert torch.allclose(future_loss(logp, tgt, sel, 3), (one + two) / 2)
    logits[0, 4] = float("-inf")  # a later target already seen (masked): skipped, not an infinite loss
    assert torch.isfinite(future_loss(F.log_softmax(logits, dim=-1), tgt, sel, 3))


def test_next_item_loss_combines_the_options():
    import torch
    import torch.nn.functional as F

    inputs = torch.tensor([[0, 2, 1, PAD], [3, 4, 0, PAD]])
    targets = torch.tensor([[2, 1, 4, PAD], [4, 0, 1, PAD]])
    keep = targets >= 0
    logits = torch.randn(int(keep.sum()), 5)
    nxt = targets[keep]
    plain_opts = NextItemLossConfig(mask_seen=False, future_k=1)
    plain = next_item_loss(logits, inputs, targets, keep, plain_opts)
    assert torch.allclose(plain, F.cross_entropy(logits, nxt))
    masked = mask_seen_logits(logits, inputs, keep, nxt)
    opts = NextItemLossConfig(mask_seen=True, future_k=2, future_weight=0.25)
    expected = F.cross_entropy(masked, nxt) + 0.25 * future_loss(
        F.log_softmax(masked, dim=-1), targets, keep, 2
    )
    assert torch.allclose(next_item_loss(logits, inputs, targets, keep, opts), expected)
    assert next_item_loss(logits, inputs, targets, keep, plain_opts.replace(mask_seen=True)) < plain + 1e-6


def test_sampled_softmax_loss_by_hand():
    import torch

    from lmrec.models.seqdata import sampled_softmax_loss, sampling_probs

    # uniform sampling: logQ is a constant and cancels; the third draw is the row's own target, not a negative
    logq = torch.log(torch.full((4,), 0.25))
    loss = sampled_softmax_loss(
        torch.tensor([2.0]), torch.tensor([[1.0, 0.5, 3.0]]), torch.tensor([0]), torch.tensor([1, 2, 0]), logq
    )
    assert float(loss) == pytest.approx(-np.log(np.exp(2) / (np.exp(2) + np.exp(1) + np.exp(0.5))), rel=1e-6)
    # popularity sampling: each logit is corrected by its item's log probability
    p = sampling_probs(np.array([0, 7, 0, 0]))
    assert p[1] == pytest.approx(8**0.75 / (8**0.75 + 3)) and p.sum() == pytest.approx(1.0)
    logq = torch.log(torch.as_tensor(p, dtype=torch.float32))
    loss = sampled_softmax_loss(
        torch.tensor([0.0]), torch.tensor([[0.0]]), torch.tensor([2]), torch.tensor([1]), logq
    )
    pos, neg = -np.log(p[2]), -np.log(p[1])
    assert float(loss) == pytest.approx(-(pos - np.logaddexp(pos, neg)), rel=1e-5)
