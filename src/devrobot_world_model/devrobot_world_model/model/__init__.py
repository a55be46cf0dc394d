"""The world model: autoencoders, predictors, models from checkpoints, the prediction API."""
