"""The onboard backend's hardware mapping, against stand-ins for Adafruit_MotorHAT and OpenCV."""

import sys
import types

from devrobot_jetbot.backend import RobotUnreachableError
from devrobot_jetbot.jetbot_config import JetBotConfig
from devrobot_jetbot.onboard_backend import OnboardBackend
from devrobot_jetbot.onboard_hardware import csi_pipeline, MotorBoard
import numpy as np
import pytest


class FakeHat:
    FORWARD, BACKWARD, RELEASE = 1, 2, 4
    made = []

    def __init__(self, addr, i2c_bus):
        self.addr, self.i2c_bus, self.log = addr, i2c_bus, []
        self._pwm = types.SimpleNamespace(setPWM=lambda pin, on, off: self.log.append(
            ('pwm', pin, off)))
        FakeHat.made.append(self)

    def getMotor(self, channel):  # noqa: N802 - the library's name
        hat = self

        class Motor:
            def setSpeed(self, duty):  # noqa: N802
                hat.log.append(('speed', channel, duty))

            def run(self, mode):
                hat.log.append(('run', channel, mode))
        return Motor()


class FakeCapture:
    def __init__(self, pipeline, backend):
        self.pipeline = pipeline

    def isOpened(self):  # noqa: N802
        return True

    def read(self):
        frame = np.zeros((224, 224, 3), np.uint8)
        frame[..., 0] = 200  # blue in BGR
        return True, frame

    def release(self):
        pass


@pytest.fixture
def fake_hardware(monkeypatch):
    FakeHat.made.clear()
    monkeypatch.setitem(sys.modules, 'Adafruit_MotorHAT',
                        types.SimpleNamespace(Adafruit_MotorHAT=FakeHat))
    monkeypatch.setitem(sys.modules, 'cv2', types.SimpleNamespace(
        VideoCapture=FakeCapture, CAP_GSTREAMER=1800))


def test_speeds_map_to_duty_and_the_stock_jetbot_directions(fake_hardware):
    board = MotorBoard('adafruit', i2c_bus=1)
    board.open()
    hat = FakeHat.made[0]
    assert (hat.addr, hat.i2c_bus) == (0x60, 1)
    hat.log.clear()
    board.set_speeds(0.5, -1.0)
    assert hat.log == [('speed', 1, 128), ('run', 1, FakeHat.BACKWARD),
                       ('speed', 2, 255), ('run', 2, FakeHat.FORWARD)]
    hat.log.clear()
    board.close()
    assert ('run', 1, FakeHat.RELEASE) in hat.log and ('speed', 2, 0) in hat.log


def test_the_waveshare_board_also_drives_its_direction_pins(fake_hardware):
    board = MotorBoard('waveshare')
    board.open()
    hat = FakeHat.made[0]
    hat.log.clear()
    board.set_speeds(0.25, 0.0)
    assert ('pwm', 1, 64 * 16) in hat.log and ('pwm', 0, 0) in hat.log


def test_unknown_board_is_refused():
    with pytest.raises(ValueError, match='waveshare'):
        MotorBoard('l298n')


def test_onboard_backend_reads_rgb_and_stops_on_close(fake_hardware):
    backend = OnboardBackend(JetBotConfig(backend='onboard'))
    backend.connect()
    frame = backend.read_frame()
    assert frame.shape == (224, 224, 3) and frame[0, 0, 2] == 200  # BGR blue is RGB channel 2
    backend.apply_motors(0.3, 0.3, 0.1)
    hat = FakeHat.made[0]
    backend.close()
    assert hat.log[-1][0] == 'run' and hat.log[-1][2] == FakeHat.RELEASE
    assert 'nvarguscamerasrc' in csi_pipeline() and 'width=224' in csi_pipeline()


def test_onboard_backend_without_the_libraries_says_what_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, 'Adafruit_MotorHAT', None)
    backend = OnboardBackend(JetBotConfig(backend='onboard'))
    with pytest.raises(RobotUnreachableError, match='Adafruit_MotorHAT'):
        backend.connect()
