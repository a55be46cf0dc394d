"""Tiny model configs for tests: they run in milliseconds on CPU."""

from devrobot_world_model.learning.ensemble import EnsembleConfig
from devrobot_world_model.learning.learning_progress import ProgressConfig
from devrobot_world_model.model.autoencoders import CnnAutoencoderConfig, VitAutoencoderConfig
from devrobot_world_model.model.predictors import LstmPredictorConfig, TransformerPredictorConfig
from devrobot_world_model.model.world_model import WorldModelConfig


def tiny_configs(autoencoder='cnn', predictor='transformer', history=1, held_back=0,
                 **model_fields):
    """Configs for a 16x16 image model: 4x4 token grid, 16-wide tokens.

    No transitions are held back for learning progress unless `held_back` says how many per
    action (every transition then reaches the replay, as the step counts in tests expect).
    """
    return [WorldModelConfig(autoencoder=autoencoder, predictor=predictor, **model_fields),
            CnnAutoencoderConfig(cnn_patch_size=4, cnn_channels=16, cnn_encoder_blocks=1,
                                 cnn_decoder_blocks=1),
            VitAutoencoderConfig(vit_patch_size=4, vit_dim=16, vit_depth=1, vit_heads=2,
                                 vit_decoder_dim=16, vit_decoder_depth=1),
            TransformerPredictorConfig(tf_dim=16, tf_depth=1, tf_heads=2, tf_history=history),
            LstmPredictorConfig(lstm_hidden=16, lstm_history=history, lstm_mix_kernel=3),
            ProgressConfig(progress_held_back=held_back, progress_every=2, progress_window=2),
            EnsembleConfig(ensemble_hidden=8)]


def write_tiny_checkpoint(folder, sim_config):
    """A checkpoints folder at `folder`, written by a tiny learner in four steps of `sim_config`.

    The actions are stay, move, move, stay; returns the folder.
    """
    from devrobot_core.motor import Transition
    from devrobot_sim.sim_robot import SimRobot
    from devrobot_world_model.learning.learner import Learner, LearnerConfig

    robot = SimRobot(sim_config)
    learner = Learner(robot.action_space, LearnerConfig(batch_size=2, warmup_transitions=2,
                                                        checkpoint_every=0,
                                                        image_size=sim_config.image_size),
                      tiny_configs(), checkpoint_dir=folder)
    frame = robot.read()
    for index in (0, 1, 1, 0):
        outcome = robot.send(robot.action_space[index])
        next_frame = robot.read()
        learner.observe(Transition(frame, outcome, next_frame))
        frame = next_frame
    learner.close()
    return folder
