"""Part 3's BatchNorm control (beyond the problem set): each pruning event also tested before it and with BatchNorm
statistics re-estimated on a copy, so the paper can tell a dip from lost weights from one from stale statistics.

Typical use (workflow/rules/prune.smk, `prune.controls.bn_batches`)::

    hook = BatchNormControlPruningHook("structured", 0.1, [9, 19, 29, 39, 49], bn_batches=20)
    ...train with hooks=(hook,)...   # the engine attaches its HookContext first
"""

import copy
import math

import torch
from torch import nn

from effdl.compress.prune import PruningHook


@torch.no_grad()
def reestimate_batchnorm(model, batches, num_batches, precision="fp32"):
    """Reset every BatchNorm's running statistics of `model` and re-estimate them as the plain average over the
    first `num_batches` of `batches` (train-mode forwards, no gradient, so no parameter changes); returns `model`
    in eval mode. Call it on a copy to keep a run's own statistics (BatchNormControlPruningHook does)."""
    if num_batches < 1:
        raise ValueError(f"num_batches must be >= 1, got {num_batches!r}")
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: every batch counts the same, whatever the order
    model.train()
    seen = 0
    for x, _ in batches:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):  # as the engine
            model(x)
        seen += 1
        if seen == num_batches:
            break
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    return model.eval()


class BatchNormControlPruningHook(PruningHook):
    """PruningHook that also measures each event: `test_acc_before_prune` (test accuracy after the epoch's training,
    just before the event) and `test_acc_bn_reestimated` (the pruned network's, once a *copy* of it has its
    BatchNorm statistics re-estimated on `bn_batches` training batches). Empty on epochs without an event.

    The epoch's own `test_acc` stays the notebook's number, measured with the statistics of the unpruned network.
    The run's model, its statistics and every random generator of the run are left as they were (the batches come
    from the engine's HookContext with their own generator), so the trajectory equals PruningHook's.
    """

    def __init__(self, mode, prune_percent, prune_epochs, bn_batches=20):
        super().__init__(mode, prune_percent, prune_epochs)
        if int(bn_batches) < 1:
            raise ValueError(f"bn_batches must be >= 1, got {bn_batches!r}")
        self.bn_batches, self.context = int(bn_batches), None

    def attach(self, context):
        """Keep the engine's HookContext (its test and training batches)."""
        self.context = context

    def after_train_epoch(self, epoch, model):
        """Test before the event, prune (PruningHook), then test a BatchNorm-re-estimated copy."""
        if self.context is None:
            raise RuntimeError("BatchNormControlPruningHook needs the engine's attach(context) before training")
        event = epoch in self.prune_epochs
        before = self.context.test(model)[1] if event else math.nan
        row = super().after_train_epoch(epoch, model)
        reestimated = math.nan
        if event:
            batches = self.context.train_batches(epoch)  # its own generator: the run's order is untouched
            pruned = reestimate_batchnorm(copy.deepcopy(model), batches, self.bn_batches, self.context.precision)
            reestimated = self.context.test(pruned)[1]
        return {**row, "test_acc_before_prune": before, "test_acc_bn_reestimated": reestimated}
