"""devrobot_sim: the toroidal-dot world, a simulated robot built on devrobot_core's contract.

The pure world (`toroidal_dot`), its timed simulation (`timed_sim`), the `SimRobot` the no-ROS
runner drives (`sim_robot`), and the ROS shell (`sim_node`, the only module importing rclpy).
Importing the package imports neither rclpy nor torch.
"""
