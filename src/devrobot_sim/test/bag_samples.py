"""Small session bags for the bag tests, a killed writer, and a disk that fills up."""

from devrobot_core.bags.session_bag import read_session, SessionBagConfig, SessionBagWriter
from devrobot_core.motor import Frame, MotorCommand, MotorOutcome
from devrobot_core.testing.full_disk import FullDisk  # noqa: F401 the tests import it from here
from devrobot_sim.sim_robot import SimRobot
from devrobot_sim.toroidal_dot import ToroidalDotConfig


def sim_robot(image_size=16):
    return SimRobot(ToroidalDotConfig(image_size=image_size, dot_radius=1, move_pixels=3,
                                      seed=3))


def open_writer(path, robot, flush_bytes=1 << 20, flush_interval_s=1.0, **kwargs):
    config = SessionBagConfig(bag_flush_interval_s=flush_interval_s,
                              bag_flush_bytes=flush_bytes)
    return SessionBagWriter(path, robot.robot_type, robot.action_space, {'test': True},
                            bag_config=config, **kwargs)


def write_steps(writer, robot, steps, first_frame=True):
    if first_frame:
        writer.write_frame(robot.read())
    for step in range(steps):
        command = robot.action_space[step % 2].stamped(robot.clock.now_ns())
        writer.write_step(command, robot.send(command), robot.read())


def record_bag(path, steps=30, image_size=16, flush_bytes=2000):
    """A closed bag of `steps` alternating steps, in several small chunks."""
    robot = sim_robot(image_size)
    with open_writer(path, robot, flush_bytes=flush_bytes) as writer:
        write_steps(writer, robot, steps)
    return path


def kill(writer):
    """What SIGKILL leaves: the flushed chunks on disk, no index, no metadata.yaml."""
    writer._stop.set()
    if writer._flusher is not None:
        writer._flusher.join()
    writer.closed = True
    writer._writer.storage.bio.abort()


def split(events):
    events = list(events)
    return ([e for e in events if isinstance(e, Frame)],
            [e for e in events if isinstance(e, MotorCommand)],
            [e for e in events if isinstance(e, MotorOutcome)])


def counts(path, allow_partial=False):
    """(frames, commands, outcomes) that read back."""
    return tuple(len(kind) for kind in split(read_session(path, allow_partial)[1]))
