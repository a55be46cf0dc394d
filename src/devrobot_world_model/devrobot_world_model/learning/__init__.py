"""Learning: the online learner, replay buffer, training steps, checkpoints and their metrics."""
