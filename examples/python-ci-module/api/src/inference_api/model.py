"""The model: logistic regression with fixed weights (a pure function, easy to test)."""

import math

WEIGHTS = (0.8, -0.4, 0.25)
BIAS = -0.1


def predict(features: list[float]) -> dict:
    """The probability of the positive class and the label for three features."""
    if len(features) != len(WEIGHTS):
        raise ValueError(f"expected {len(WEIGHTS)} features, got {len(features)}")
    score = BIAS + sum(w * float(x) for w, x in zip(WEIGHTS, features))
    probability = 1.0 / (1.0 + math.exp(-score))
    return {"probability": round(probability, 6), "label": int(probability >= 0.5)}
