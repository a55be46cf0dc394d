"""A short learning run on a small dot world must beat the action-blind baseline per action."""

import numpy as np

from devrobot_sim.sim_robot import SimRobot
from devrobot_sim.toroidal_dot import ToroidalDotConfig
from devrobot_world_model.evaluation.evaluation import action_blind_predictor, evaluate
from devrobot_world_model.learning.learner import Learner, LearnerConfig, start_process
from devrobot_world_model.model.autoencoders import CnnAutoencoderConfig
from devrobot_world_model.model.predictors import TransformerPredictorConfig
from devrobot_world_model.model.world_model import WorldModelConfig
from test_learner import drive

WORLD = ToroidalDotConfig(image_size=32, dot_radius=2, move_pixels=5, seed=4)


def test_a_short_run_learns_what_each_action_does(tmp_path):
    robot = SimRobot(WORLD)
    configs = [WorldModelConfig(),
               CnnAutoencoderConfig(cnn_patch_size=8, cnn_channels=32),
               TransformerPredictorConfig(tf_dim=32, tf_depth=1)]
    start_process(1)
    learner = Learner(robot.action_space,
                      LearnerConfig(policy='random', batch_size=16, warmup_transitions=16,
                                    augment_shift_px=8, checkpoint_every=0, seed=1,
                                    image_size=32),
                      configs)
    logger = drive(learner, robot, 400)
    learner.close()
    model = learner.model.eval()

    def predict(frames, action_indices):
        import torch
        from devrobot_world_model.model.pixel_losses import to_uint8_images, to_unit_images
        with torch.no_grad():
            latents = model.encode(to_unit_images(torch.from_numpy(frames)))[:, None]
            actions = torch.from_numpy(np.asarray(action_indices))[:, None]
            logits = model.decode(model.predict(latents, actions))
        return to_uint8_images(torch.sigmoid(logits)).numpy()

    scores = evaluate(predict, WORLD, states=64, seed=9, horizons=(1,))
    blind = evaluate(action_blind_predictor(WORLD.move_pixels), WORLD, states=64, seed=9,
                     horizons=(1,))
    for action in ('stay', 'move'):
        assert scores['per_action'][action]['r2'] > blind['per_action'][action]['r2'], action
    assert logger.values('train/non_finite_total')[-1] == 0
