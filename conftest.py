"""Fixtures shared by every package's tests."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent


def shared_data_dir() -> Path:
    """Return the real test data folder: $LVP_SHARED_DATA, else ../shared/data."""
    return Path(os.environ.get('LVP_SHARED_DATA', REPO_ROOT.parent / 'shared' / 'data'))


@pytest.fixture(scope='session')
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.fail(f'shared test data not found at {path}; set LVP_SHARED_DATA')
    return path


@pytest.fixture
def ros_domain_id() -> int:
    """A ROS_DOMAIN_ID unique to this test process, set in the environment for child processes."""
    domain = 10 + (os.getpid() % 90)
    os.environ['ROS_DOMAIN_ID'] = str(domain)
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    return domain
