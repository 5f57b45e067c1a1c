import pytest

from inference_api import predict


@pytest.mark.parametrize(
    ("features", "label"),
    [([1.0, 0.0, 0.0], 1), ([0.0, 1.0, 0.0], 0), ([0.0, 0.0, 0.0], 0), ([2.0, 1.0, 1.0], 1)],
)
def test_labels(features, label):
    assert predict(features)["label"] == label


def test_probability_is_between_zero_and_one():
    p = predict([100.0, -100.0, 3.0])["probability"]
    assert 0.0 <= p <= 1.0


def test_wrong_number_of_features_is_refused():
    with pytest.raises(ValueError, match="expected 3 features, got 2"):
        predict([1.0, 2.0])
