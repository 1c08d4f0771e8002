import numpy as np
import pandas as pd

from lmrec.data._build import build_dataset
from lmrec.data.split import TEST, TRAIN, VALID, leave_one_out_split


def test_leave_one_out_keeps_file_order_on_time_ties():
    events = pd.DataFrame(
        {
            "user": ["a", "a", "a", "a", "b", "b"],
            "item": ["x", "y", "z", "w", "x", "y"],
            "timestamp": [1, 5, 5, 2, 3, 3],
        }
    )
    data = build_dataset("t", "t", events)
    before = data.interactions.item.copy()
    split = leave_one_out_split(data)
    # user a sorted stably: x(1) w(2) y(5) z(5) -> test z, valid y; user b (2 events): x train, y test
    assert split.assignment.tolist() == [TRAIN, VALID, TEST, TRAIN, TRAIN, TEST]
    assert len(split.hash) == 16
    np.testing.assert_array_equal(before, data.interactions.item)
    assert not data.interactions.item.flags.writeable
