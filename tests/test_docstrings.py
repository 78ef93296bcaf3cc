"""The Examples sections of the layer API's docstrings run and print what they show."""

import doctest
import warnings

import pytest

import fastmlp._autoencoder
import fastmlp._classifier
import fastmlp._gan
import fastmlp._regressor
import fastmlp.layers


@pytest.mark.parametrize("module", [fastmlp.layers, fastmlp._classifier, fastmlp._regressor,
                                    fastmlp._autoencoder, fastmlp._gan])
def test_docstring_examples(module):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
