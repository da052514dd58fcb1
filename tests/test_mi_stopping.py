"""MI early stopping with the default tolerance on a real, converging INR fit."""

import numpy as np
import torch
from test_inr import TINY_NETWORK, smooth_case

from isosr.methods import create_method
from isosr.methods.inr.params import SplitHeadParams


def test_the_default_tolerance_stops_a_converging_fit_once_the_learning_rate_has_annealed():
    """The default (mean |delta MI| < 0.001 nats over 4 epochs) stops this 60-epoch fit before
    its last epoch, but only in the annealed tail of the cosine schedule: while the network still
    learns, the 32-bin MI of the predictions moves by more than the tolerance every epoch."""
    defaults = SplitHeadParams()
    assert (defaults.early_stopping, defaults.mi_window, defaults.mi_tolerance) == (True, 4, 1e-3)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        lr, grid = smooth_case()
        model = create_method("inr-splithead", {**TINY_NETWORK, "epochs": 60}, seed=0)
        history = model.fit_predict(lr, grid).history
    finally:
        torch.set_num_threads(previous)
    stop = history["stopping_epoch"]
    assert stop is not None and stop == history["epochs"] == len(history["mi"]) < 60
    changes = np.abs(np.diff(history["mi"]))
    assert changes[-3:].mean() < 1e-3  # the plateau it stopped on
    assert stop > 45  # not before the last quarter of the schedule ...
    assert changes[20:40].mean() > 5 * 1e-3  # ... as mid-training MI jitters far more
