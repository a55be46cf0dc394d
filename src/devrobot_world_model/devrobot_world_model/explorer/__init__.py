"""The session explorer: a recorded or running session and the model's view of it, in a browser.

`devrobot explore PATH` serves it (explore_command.py). The pieces, each small and usable alone:
- `mcap_tail`: reads an MCAP file record by record up to its last whole record, so a bag that
  is still being written (no summary, no metadata.yaml yet) can be followed;
- `bag_index`: the steps of one bag (command, MotorState, frame before and after) with frames
  kept as references and decoded only when shown;
- `sources`: what PATH holds (bags, a run folder with checkpoints and metrics);
- `model_views`: what a checkpoint makes of a step (reconstruction, every action's prediction,
  errors, the action sweep, counterfactuals, attention), through the public prediction API;
- `rendering`: PNG images, differences and heat maps, numpy and Pillow only;
- `error_pass`: the error of every step, computed in the background for the error plot;
- `introspection`: the action sweep, counterfactual tests and attention of one step;
- `training_job`: training on a range of steps in the background, saved as a checkpoint the
  learner resumes from;
- `explorer_state` and `server`: the running explorer and its Starlette app (JSON API and the
  page in `static/`);
- `mcap_export`: a session and the model's pictures as one MCAP (`devrobot export`).
"""
