"""The `bag_reader` fixture: bag tests run once per bag reader that imports here.

rosbags always; rosbag2_py too where ROS 2 is sourced, so both read the same bags the same way.
"""

import pytest

from devrobot_core.bags import bag_readers


@pytest.fixture(params=bag_readers.available_readers())
def bag_reader(request, monkeypatch):
    monkeypatch.setenv(bag_readers.READER_ENV, request.param)
    return request.param
