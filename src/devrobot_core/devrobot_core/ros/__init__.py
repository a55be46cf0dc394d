"""Helpers of the ROS node shells; their functions import rclpy (or find its test double)."""
