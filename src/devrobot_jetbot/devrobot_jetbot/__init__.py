"""devrobot_jetbot."""
