"""The running explorer: bags being indexed, the model, per-step errors, the training job.

Three background threads keep it current, so no request waits for more than its own step:
- the follower reads the bags in slices (the first steps are up at once, a 10,000-step bag is
  indexed within a second), keeps reading bags that are still being written, and adds bags that
  appear in a watched run folder;
- the model loader loads the checkpoint (torch is imported there, so the page is up before it)
  and reloads it when the file changes (a live run saving), or after a training job saved;
- the error pass computes the prediction error of every step, a few at a time, stepping aside
  while someone is looking.
Nothing here writes anywhere except a training job's chosen output folder.
"""

from __future__ import annotations

import collections
import threading
import time
from pathlib import Path

import numpy as np

from devrobot_world_model.explorer import introspection, rendering
from devrobot_world_model.explorer.bag_index import action_label, BagError, BagIndex
from devrobot_world_model.explorer.error_pass import ErrorPass
from devrobot_world_model.explorer.errors import ExplorerError
from devrobot_world_model.explorer.sources import Sources

FOLLOW_PERIOD_S = 0.1  # how often a recording bag is polled for new records
SCAN_PERIOD_S = 0.25  # how often a run folder is scanned for new bags (a listing: cheap)
RELOAD_PERIOD_S = 2.0  # how often the checkpoint's file is checked for a newer save
VIEW_CACHE = 32  # steps whose model views (and PNGs) are kept
# Importing torch and loading the model hold Python's interpreter lock for seconds: the loader
# waits until the page has fetched its first frame (or this long), so that comes first.
FIRST_PAGE_GRACE_S = 1.5


class Explorer:
    """Everything the server shows; thread-safe reads, background upkeep."""

    def __init__(self, sources: Sources, device: str = 'cpu', train_out: str = '',
                 on_fatal=None):
        self.sources, self.device = sources, device
        self.train_out = train_out
        self.on_fatal = on_fatal  # called with a one-line message when exploring cannot go on
        self.bags: list = []
        for path in sources.bags:
            self._add_bag(path)
        self.checkpoint = sources.checkpoint
        self.model = None  # a ModelView once loaded
        self.model_state = 'loading' if self.checkpoint else 'none'
        self.model_error = ''
        self.model_version = 0
        self._model_stamp = None  # (mtime, size) of the loaded checkpoint file
        self._payload_lock = threading.Lock()
        self.error_pass = ErrorPass(self)
        self._views: collections.OrderedDict = collections.OrderedDict()
        self._views_lock = threading.Lock()
        self.job = None
        self._first_step_served = threading.Event()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=target, name=name, daemon=True)
                         for name, target in (('explorer-follow', self._follow),
                                              ('explorer-model', self._load_models),
                                              ('explorer-errors', self._errors))]

    def _add_bag(self, path: Path) -> BagIndex:
        try:
            bag = BagIndex(path, len(self.bags))
        except BagError as error:
            from devrobot_core.errors import UsageError
            raise UsageError(str(error)) from None
        self.bags.append(bag)
        return bag

    def start(self) -> 'Explorer':
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.job is not None:
            self.job.cancel()
        for thread in self._threads:
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout=5)

    def _fatal(self, message: str) -> None:
        if self.on_fatal is not None:
            self.on_fatal(message)

    # -- background: bags ---------------------------------------------------------------

    def _follow(self) -> None:
        last_scan = 0.0
        while not self._stop.is_set():
            busy = False
            for bag in list(self.bags):
                if bag.complete or bag.error:
                    continue
                try:
                    added = bag.refresh()
                except BagError as error:
                    print(f'devrobot explore: {error}', flush=True)
                    continue
                busy |= added and not bag.recording  # a finished bag: read on at once
            if time.monotonic() - last_scan > SCAN_PERIOD_S:
                last_scan = time.monotonic()
                for path in self.sources.scan():
                    try:
                        self._add_bag(path)
                    except Exception as error:  # a half-created bag folder: try again later
                        self.sources.bags.remove(path)
                        print(f'devrobot explore: {error}', flush=True)
            if not busy:
                self._stop.wait(FOLLOW_PERIOD_S)

    def _errors(self) -> None:
        self.error_pass.run(self._stop)

    def bag(self, bag_id: int) -> BagIndex:
        if not 0 <= bag_id < len(self.bags):
            raise ExplorerError(f'no bag {bag_id}')
        return self.bags[bag_id]

    # -- background: the model ----------------------------------------------------------

    def _load_models(self) -> None:
        self._first_step_served.wait(FIRST_PAGE_GRACE_S)
        while not self._stop.is_set():
            if self.checkpoint is not None and (self.job is None or not self.job.active):
                stamp = _file_stamp(self.checkpoint)
                if stamp is not None and stamp != self._model_stamp:
                    self._load(stamp)
            self._stop.wait(RELOAD_PERIOD_S if self.model_state != 'loading' else 0.2)

    def _load(self, stamp) -> None:
        from devrobot_world_model.learning.checkpoint_io import CheckpointError
        from devrobot_world_model.explorer.model_views import load_view

        first = self.model is None
        try:
            view = load_view(self.checkpoint, self.device)
        except (CheckpointError, ValueError, OSError) as error:
            self.model_state, self.model_error = 'error', str(error)
            self._model_stamp = stamp
            if first:
                self._fatal(f'cannot use the checkpoint {self.checkpoint}: {error}')
            return
        if first:
            problem = self._refuse(view)
            if problem:
                self.model_state, self.model_error = 'error', problem
                self._fatal(problem)
                return
        for bag in self.bags:
            if bag.action_space_source in ('none', 'inferred') and not view.mismatch(
                    view.action_space, bag.frame_size):
                bag.use_action_space(view.action_space, 'checkpoint')
        with self._views_lock:
            self.model, self._model_stamp = view, stamp
            self.model_version += 1
            self._views.clear()
            self.error_pass.reset()
        self.model_state, self.model_error = 'ready', ''

    def _refuse(self, view) -> str:
        """A one-line reason when the model fits none of the bags, else ''."""
        problems = []
        for bag in self.bags:
            deadline = time.monotonic() + 5
            while bag.frame_size is None and not bag.complete and not bag.error \
                    and not bag.recording and time.monotonic() < deadline:
                time.sleep(0.02)  # the follower reads the first frames
            if bag.frame_size is None and not bag.action_space:
                return ''  # nothing known yet (a recording that just started)
            problem = view.mismatch(bag.action_space if bag.action_space_source == 'session info'
                                    else (), bag.frame_size)
            if not problem:
                return ''
            problems.append(f'{bag.path.name}: {problem}')
        return (f'the checkpoint {self.checkpoint} does not fit ' + '; '.join(problems)
                if problems else '')

    def use_checkpoint(self, folder: Path) -> None:
        """Show the model of another checkpoint folder from now on (a training job's)."""
        self.checkpoint = Path(folder)
        self._model_stamp = None
        self.model_state = 'loading'

    def model_for(self, bag: BagIndex):
        """The model view when it can predict this bag's steps, else None."""
        view = self.model
        if view is None or view.mismatch(bag.action_space, bag.frame_size):
            return None
        return view

    def model_summary(self, bag: BagIndex | None = None) -> dict:
        view = self.model
        summary = {'state': self.model_state, 'error': self.model_error,
                   'checkpoint': str(self.checkpoint or ''), 'version': self.model_version}
        if view is not None:
            summary.update({'updates': view.updates, 'image_size': view.image_size,
                            'history': view.history,
                            'attention': hasattr(view.world_model.predictor, 'tokens_per_frame'),
                            'action_space': [action_label(c) for c in view.action_space]})
            if bag is not None:
                summary['mismatch'] = view.mismatch(bag.action_space, bag.frame_size)
        return summary

    def error_series(self, bag_id: int) -> dict:
        return self.error_pass.series(self.bag(bag_id), self.model_version)

    # -- one step -----------------------------------------------------------------------

    def step(self, bag_id: int, index: int):
        bag = self.bag(bag_id)
        if not 0 <= index < len(bag.steps):
            raise ExplorerError(f'bag {bag_id} has no step {index} (it has {len(bag.steps)})')
        return bag, bag.steps[index]

    def step_detail(self, bag_id: int, index: int) -> dict:
        """The step's command, MotorState, frames, and the model's view with its errors."""
        bag, step = self.step(bag_id, index)
        outcome, command = step.outcome, step.outcome.command
        detail = {
            'index': step.index, 'action': step.action,
            'action_label': action_label(command),
            'command': {'left': command.left, 'right': command.right,
                        'duration_s': command.duration_s, 'stamp_ns': command.stamp_ns},
            'state': {'status': outcome.status.name, 'reason': outcome.reason,
                      'left': outcome.left, 'right': outcome.right,
                      'start_ns': outcome.start_ns, 'end_ns': outcome.end_ns},
            'frame': step.frame, 'next_frame': step.next_frame,
            'frame_stamp_ns': bag.frames[step.frame][0] if step.frame is not None else None,
            'next_frame_stamp_ns': (bag.frames[step.next_frame][0]
                                    if step.next_frame is not None else None),
            'transition': step.transition, 'note': step.note, 'model': None}
        view = self.view(bag, step)
        if view is not None:
            detail['model'] = {
                'version': view['version'],
                'errors': view['step'].errors,
                'reconstruction_error': view['step'].reconstruction_error,
                'images': ['reconstruction'] + [f'prediction-{a}' for a in
                                                range(len(view['step'].predictions))]}
        return detail

    def view(self, bag: BagIndex, step) -> dict | None:
        """The model's view of a step (cached): its inputs, StepView and PNGs.

        None without a model that fits the bag, or without a frame before the command.
        """
        model = self.model_for(bag)
        if model is None or step.frame is None:
            return None
        key = (bag.id, step.index, self.model_version, bag.version if bag.recording else 0)
        with self._views_lock:
            cached = self._views.get(key)
            if cached is not None:
                self._views.move_to_end(key)
                return cached
        frames, actions, next_frame = bag.inputs(step, model.history)
        view = {'version': self.model_version, 'frames': frames, 'next': next_frame,
                'step': model.step_view(frames, actions[:-1], next_frame), 'png': {}}
        with self._views_lock:
            self._views[key] = view
            while len(self._views) > VIEW_CACHE:
                self._views.popitem(last=False)
        if step.transition and view['step'].errors is not None:
            self.error_pass.record(bag, step.index, view['step'].errors[step.action])
        return view

    def image(self, bag_id: int, index: int, name: str) -> bytes:
        """PNG of one picture of a step.

        Names: frame, next, reconstruction, prediction-A, difference-A (prediction A against
        the actual next frame), attention-L (layer L's map), focus-L (where it looks).
        """
        bag, step = self.step(bag_id, index)
        if name in ('frame', 'next'):
            number = step.frame if name == 'frame' else step.next_frame
            if number is None:
                raise ExplorerError(f'step {index} has no {name} image')
            picture = rendering.png_bytes(bag.pixels(number))
            self._first_step_served.set()  # the page is up: the model may load now
            return picture
        if name.startswith(('attention-', 'focus-')):
            return introspection.attention_picture(self, bag, step, name)
        view = self.view(bag, step)
        if view is None:
            raise ExplorerError('no model view of this step (no model, or it does not fit '
                                'this bag)')
        if name not in view['png']:
            view['png'][name] = rendering.png_bytes(self._model_image(view, name))
        return view['png'][name]

    @staticmethod
    def _model_image(view: dict, name: str) -> np.ndarray:
        step = view['step']
        if name == 'reconstruction':
            return step.reconstruction
        kind, _, number = name.partition('-')
        try:
            action = int(number)
            prediction = step.predictions[action]
        except (ValueError, IndexError):
            raise ExplorerError(f'no picture {name!r}') from None
        if kind == 'prediction':
            return prediction
        if kind == 'difference' and view['next'] is not None:
            return rendering.difference_image(prediction, view['next'])
        raise ExplorerError(f'no picture {name!r}')

    # -- introspection ------------------------------------------------------------------

    def model_or_fail(self, bag: BagIndex):
        """The model view for `bag`, or ExplorerError saying why there is none."""
        model = self.model_for(bag)
        if model is None:
            raise ExplorerError('no model fits this bag: ' + (
                self.model_error or self.model_summary(bag).get('mismatch')
                or f'model {self.model_state}'))
        return model

    def sweep(self, bag_id: int, index: int) -> dict:
        """Every action's prediction error here, and the counterfactual tests around it."""
        return introspection.sweep(self, *self.step(bag_id, index))

    def attention(self, bag_id: int, index: int) -> dict:
        """Attention metrics per layer for the step's own action, and the maps' image names."""
        return introspection.attention_summary(self, *self.step(bag_id, index))

    # -- training -----------------------------------------------------------------------

    def start_training(self, request) -> dict:
        from devrobot_world_model.learning import checkpoint_io
        from devrobot_world_model.explorer.training_job import TrainingJob

        if self.job is not None and self.job.active:
            raise ExplorerError('a training job is running: pause, cancel or wait for it')
        bag = self.bag(request.bag)
        payload = None
        if self.checkpoint is not None and checkpoint_io.has_checkpoint(self.checkpoint):
            if self.model_state == 'loading':
                raise ExplorerError('the model is still loading; start again in a moment')
            if self.model_for(bag) is None:
                raise ExplorerError('the checkpoint does not fit this bag; start without one '
                                    '(explore the bag alone) to train a fresh model')
            payload = checkpoint_io.load_checkpoint(self.checkpoint)
        try:
            self.job = TrainingJob(request, bag, payload, self.device,
                                   on_saved=self.use_checkpoint).start()
        except (ValueError, checkpoint_io.CheckpointError) as error:
            raise ExplorerError(str(error)) from None
        return self.job.status()

    # -- the whole ----------------------------------------------------------------------

    def session(self) -> dict:
        return {'bags': [bag.summary() for bag in self.bags],
                'run_dir': str(self.sources.run_dir or ''),
                'watching': self.sources.run_dir is not None,
                'model': self.model_summary(),
                'models': {bag.id: self.model_summary(bag) for bag in self.bags},
                'training': self.job.status() if self.job is not None else None,
                'train_out': self.train_out}


def _file_stamp(folder: Path):
    from devrobot_world_model.learning.checkpoint_io import backup_path, checkpoint_path

    for path in (checkpoint_path(folder), backup_path(checkpoint_path(folder))):
        try:
            stat = path.stat()
            return stat.st_mtime_ns, stat.st_size
        except OSError:
            continue
    return None
