"""devrobot_bringup."""
