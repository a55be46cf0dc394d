"""devrobot_sim: the toroidal-dot world, and the pure robot contract every package shares.

This package imports neither rclpy nor torch. Besides the simulator it holds what every other
devrobot package builds on (timed motor commands, the Robot interface, action selectors, session
bags and the transition assembler), because it is the one light dependency all of them can take.
"""
