"""The world-model node's pure pieces and its rclpy shell (`world_model_node`)."""
