"""Batch runs whose outputs are fitted models (real kernels): stored, reused, and used downstream
with the same results as the plain code."""
from __future__ import annotations

import numpy as np

from jupyter_mlpipe import Pipeline

# data -> train -> predict
SETUP = "import numpy as np\nfrom sklearn.ensemble import HistGradientBoostingClassifier"
DATA = ("rng = np.random.default_rng(7)\nX = rng.normal(size=(120, 4))\n"
        "y = (X[:, 0] - X[:, 2] > 0).astype(int)")
TRAIN = "model = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(X, y)"
PREDICT = "proba = model.predict_proba(X[:10])"


def test_a_step_trains_a_hist_gradient_boosting_model_used_downstream(make_nb):
    # a fitted HistGradientBoostingClassifier holds zero-size arrays
    path = make_nb([SETUP,
                    f"%%step data --out X y\n{DATA}",
                    f"%%step train --in X y --out model\n{TRAIN}",
                    f"%%step predict --in model X --out proba\n{PREDICT}"])
    run = Pipeline.from_notebook(path).run(jobs=1)
    assert run.ok, [s.error for s in run.failed]

    plain: dict = {}
    for code in (SETUP, DATA, TRAIN, PREDICT):
        exec(code, plain)  # the same code without the tool
    np.testing.assert_array_equal(run.outputs("predict")["proba"], plain["proba"])
    again = Pipeline.from_notebook(path).run(jobs=1)
    assert {n: str(s.state) for n, s in again.steps.items()} == {
        "data": "reused", "train": "reused", "predict": "reused"}
