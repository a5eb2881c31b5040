"""Fixtures of the aecimg tests.  The tests import the installed aecimg (scripts/python-test.sh installs it
into a fresh virtual environment); helpers.py holds what they share."""

import os

import pytest

from helpers import Tools


@pytest.fixture(scope="session")
def tools():
    """The built aec-encode and aec-decode ($AECIMG_TEST_TOOLS, else PATH); skips when there are none."""
    folder = os.environ.get("AECIMG_TEST_TOOLS")
    t = Tools(folder if folder else os.environ.get("PATH", ""))
    if folder and not (t.encoder and t.decoder):
        pytest.fail("AECIMG_TEST_TOOLS=%s holds no aec-encode and aec-decode" % folder)
    if not (t.encoder and t.decoder):
        pytest.skip("aec-encode and aec-decode not found: set AECIMG_TEST_TOOLS to the build's tools/")
    return t
