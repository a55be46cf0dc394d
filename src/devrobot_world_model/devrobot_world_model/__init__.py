"""devrobot_world_model."""
