"""JetBot hardware on the robot itself: the CSI camera and the motor board.

Runs on the robot's own Python (JetPack 4.6: Python 3.6), so this file keeps to Python 3.6
syntax and imports nothing from devrobot: `robot_service.py` copies it to the robot beside
itself. Hardware libraries (OpenCV with GStreamer, Adafruit_MotorHAT) are imported only when a
piece is opened, so the file also imports on a workstation without them.
"""

import math
import threading

CAMERA_SIZE = 224  # what the world model and the original system use


def csi_pipeline(width=CAMERA_SIZE, height=CAMERA_SIZE, fps=21, capture_width=816,
                 capture_height=616, sensor_id=0):
    """Build the GStreamer pipeline: the CSI camera, scaled on the GPU, as BGR for OpenCV.

    The appsink keeps only the newest frame, so a slow reader never gets a stale image.
    """
    return ('nvarguscamerasrc sensor-id=%d ! video/x-raw(memory:NVMM), width=%d, height=%d, '
            'format=NV12, framerate=%d/1 ! nvvidconv ! video/x-raw, width=%d, height=%d, '
            'format=BGRx ! videoconvert ! video/x-raw, format=BGR ! '
            'appsink drop=true max-buffers=1' % (sensor_id, capture_width, capture_height, fps,
                                                 width, height))


class CsiCamera(object):
    """The JetBot's CSI camera through OpenCV's GStreamer backend."""

    def __init__(self, width=CAMERA_SIZE, height=CAMERA_SIZE, fps=21, sensor_id=0):
        self.pipeline = csi_pipeline(width, height, fps, sensor_id=sensor_id)
        self._capture = None
        self._lock = threading.Lock()

    def open(self):
        import cv2  # only where a camera is really opened
        capture = cv2.VideoCapture(self.pipeline, cv2.CAP_GSTREAMER)
        if not capture.isOpened():
            raise RuntimeError('could not open the CSI camera with GStreamer pipeline: %s '
                               '(is OpenCV built with GStreamer, is nvargus-daemon running, '
                               'is another program using the camera?)' % self.pipeline)
        self._capture = capture

    def read_bgr(self):
        """One frame as a BGR uint8 array [H, W, 3]."""
        with self._lock:
            if self._capture is None:
                raise RuntimeError('camera is not open')
            ok, frame = self._capture.read()
        if not ok or frame is None:
            raise RuntimeError('the CSI camera returned no frame')
        return frame

    def close(self):
        with self._lock:
            if self._capture is not None:
                self._capture.release()
                self._capture = None


class MotorBoard(object):
    """The JetBot's two motors on an Adafruit MotorHAT (I2C 0x60) or the Waveshare variant.

    Speeds are fractions of full power in [-1, 1]; positive drives the wheel forward. The pin
    mapping follows the stock JetBot software: left motor on channel 1, right on channel 2,
    and the Waveshare board additionally needs its direction pins driven through the PWM chip.
    """

    BOARDS = ('adafruit', 'waveshare')

    def __init__(self, board='adafruit', i2c_bus=1, address=0x60, left_channel=1,
                 right_channel=2):
        if board not in self.BOARDS:
            raise ValueError('unknown motor board %r; choose one of %s' % (board, self.BOARDS))
        self.board = board
        self.i2c_bus = i2c_bus
        self.address = address
        self.channels = (left_channel, right_channel)
        self._driver = None
        self._motors = ()

    def open(self):
        from Adafruit_MotorHAT import Adafruit_MotorHAT  # only where motors really exist
        self._hat = Adafruit_MotorHAT
        self._driver = Adafruit_MotorHAT(addr=self.address, i2c_bus=self.i2c_bus)
        self._motors = tuple(self._driver.getMotor(channel) for channel in self.channels)
        self.set_speeds(0.0, 0.0)

    def set_speeds(self, left, right):
        if self._driver is None:
            raise RuntimeError('motor board is not open')
        for motor, channel, value in zip(self._motors, self.channels, (left, right)):
            self._write(motor, channel, value)

    def close(self):
        if self._driver is not None:
            try:
                self.set_speeds(0.0, 0.0)
                for motor in self._motors:
                    motor.run(self._hat.RELEASE)
            finally:
                self._driver = None

    def _write(self, motor, channel, value):
        value = clamp_unit(value)
        duty = int(round(255 * abs(value)))
        motor.setSpeed(duty)
        # the stock JetBot wiring: the HAT's BACKWARD turns the wheel forward
        motor.run(self._hat.BACKWARD if value >= 0 else self._hat.FORWARD)
        if self.board == 'waveshare':
            pin_a, pin_b = (1, 0) if channel == 1 else (2, 3)
            high = duty * 16
            forward = (pin_a, pin_b) if value >= 0 else (pin_b, pin_a)
            self._driver._pwm.setPWM(forward[0], 0, high)
            self._driver._pwm.setPWM(forward[1], 0, 0)


class MockHardware(object):
    """Camera and motors in memory: lets the robot service run (and be tested) anywhere."""

    def __init__(self, size=CAMERA_SIZE):
        self.size = size
        self.motor_calls = []  # (monotonic time, left, right)
        self._lock = threading.Lock()

    def open(self):
        pass

    def read_bgr(self):
        import numpy
        frame = numpy.zeros((self.size, self.size, 3), dtype=numpy.uint8)
        frame[:, :, 2] = numpy.arange(self.size, dtype=numpy.uint8)[None, :]  # red ramp
        return frame

    def set_speeds(self, left, right):
        import time
        with self._lock:
            self.motor_calls.append((time.monotonic(), float(left), float(right)))

    def speeds(self):
        with self._lock:
            if not self.motor_calls:
                return 0.0, 0.0
            return self.motor_calls[-1][1], self.motor_calls[-1][2]

    def close(self):
        pass


def clamp_unit(value):
    """`value` within [-1, 1]; anything that is not a finite number becomes 0 (stop)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0
    if not math.isfinite(value):
        return 0.0
    return min(max(value, -1.0), 1.0)
