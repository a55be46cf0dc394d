"""devrobot_world_model: an online world model of the camera view, and its public API.

`load(path)` returns a trained model with `predict(frames, commands)`; see
docs/world_model.md. Importing this package stays cheap: torch is imported inside `load`.
"""


def load(path, device='cpu'):
    """Load a world model from a checkpoint file or a run's `checkpoints/` folder.

    Returns a PredictionModel: `predict(frames uint8 [B, H, W, 3], commands)` -> uint8
    `[B, H, W, 3]`, `action_space`, `encode`, `decode`, `reconstruct`. `device`: 'cpu'
    (default), 'cuda', 'cuda:N', or 'auto' (a GPU when torch finds one).
    """
    from devrobot_world_model.model.prediction_api import load as load_model
    return load_model(path, device)
