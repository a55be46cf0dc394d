"""The JetBot backend for a robot that runs devrobot itself (e.g. with ROS 2 on board).

Camera and motor board come from `onboard_hardware.py` (the same code the robot service uses);
OpenCV and Adafruit_MotorHAT are imported only when this backend is selected and connected.
"""

from __future__ import annotations

import numpy as np

from devrobot_jetbot.backend import RobotUnreachableError
from devrobot_jetbot.jetbot_config import JetBotConfig
from devrobot_jetbot.onboard_hardware import CsiCamera, MotorBoard


class OnboardBackend:
    """CSI camera (224x224, BGR converted to rgb8) and the motor board on this computer.

    Speeds stay on until the next call, so the motor driver's schedule is what stops them;
    `close()` always stops and releases the motors.
    """

    def __init__(self, config: JetBotConfig):
        self.camera = CsiCamera(fps=config.camera_fps)
        self.motors = MotorBoard(config.motor_board, config.i2c_bus)

    def connect(self) -> None:
        try:
            self.motors.open()
            self.camera.open()
        except ImportError as error:
            raise RobotUnreachableError(
                f'the onboard backend needs OpenCV with GStreamer and Adafruit_MotorHAT on '
                f'this computer ({error}); on a workstation use --jetbot.backend rpyc') from None
        except (OSError, RuntimeError) as error:
            self.close()
            raise RobotUnreachableError(f'cannot open the JetBot hardware: {error}') from None

    def read_frame(self):
        bgr = self.camera.read_bgr()
        return np.ascontiguousarray(bgr[:, :, ::-1])

    def read_frame_bgr(self):
        """The CSI pipeline's BGR frame as it comes: the node publishes it as bgr8."""
        return self.camera.read_bgr()

    def apply_motors(self, left: float, right: float, hold_s: float) -> None:
        self.motors.set_speeds(left, right)

    def close(self) -> None:
        try:
            self.motors.close()
        finally:
            self.camera.close()
