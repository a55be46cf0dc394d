"""A replay buffer of transitions for minibatch learning, with history for sequence models.

Frames are stored once: when a transition starts from the frame the previous one ended on (the
usual case in a live session), both point at the same slot, which halves memory. Storage is one
preallocated uint8 array, allocated lazily by the OS, so an empty buffer costs nothing.

The actor adds while a background learner samples, so every method takes the buffer's lock,
and a sample may be drawn as of an earlier moment: `view=n` samples from the transitions that
were the newest `capacity` when the n-th one had been added. The ring keeps `slack` more
transitions than `capacity`, so the actor may run up to `slack` transitions ahead of such a
view without overwriting anything the view can draw.

Minibatches drawn from a replay buffer are what makes online learning work here: batch-1
online SGD (the original's regime) needs many times more environment steps for the same
held-out scores.
"""

from __future__ import annotations

import threading

import numpy as np

from devrobot_world_model.learning.cpu_memory import physical_memory_bytes


def replay_bytes(capacity: int, frame_shape: tuple, slack: int = 0) -> int:
    """Bytes a full buffer of `capacity` (+ `slack`) transitions of uint8 `frame_shape` takes."""
    return (2 * (capacity + slack) + 2) * int(np.prod(frame_shape, dtype=np.int64))


def check_replay_fits(capacity: int, frame_shape: tuple, slack: int = 0) -> None:
    """Raise ValueError with the figures when a full buffer would not fit in memory here."""
    needed, available = replay_bytes(capacity, frame_shape, slack), physical_memory_bytes()
    if available is not None and needed > available:
        raise ValueError(
            f'a replay buffer of {capacity} transitions of {"x".join(map(str, frame_shape))} '
            f'frames needs {needed / 2**30:.1f} GiB, more than the {available / 2**30:.1f} GiB '
            'of memory here; lower replay_capacity or the image size')


class ReplayBuffer:
    """The last `capacity` transitions (frame, action index, next frame), sampled uniformly."""

    def __init__(self, capacity: int, frame_shape: tuple, seed: int = 0, slack: int = 0):
        if capacity < 1 or slack < 0:
            raise ValueError(f'replay capacity must be at least 1 and slack at least 0, got '
                             f'{capacity} and {slack}')
        check_replay_fits(capacity, frame_shape, slack)
        self.capacity, self.slack = capacity, slack
        self.frame_shape = tuple(frame_shape)
        ring = self._ring = capacity + slack
        # Each transition adds one or two frames; 2 * ring + 2 slots outlive any transition.
        self._frames = np.zeros((2 * ring + 2,) + self.frame_shape, dtype=np.uint8)
        self._next_slot = 0
        self.frames_stored = 0  # frames ever written (shared ones count once)
        self._frame_slot = np.zeros(ring, dtype=np.int64)
        self._next_frame_slot = np.zeros(ring, dtype=np.int64)
        self._actions = np.zeros(ring, dtype=np.int64)
        self._follows = np.zeros(ring, dtype=bool)  # starts where the previous one ended
        self.count = 0  # transitions ever added
        self._last_next = None  # (stamp_ns, slot) of the last next frame, for sharing
        self._lock = threading.Lock()
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return min(self.count, self.capacity)

    def _store(self, pixels: np.ndarray) -> int:
        if pixels.shape != self.frame_shape or pixels.dtype != np.uint8:
            raise ValueError(f'frame must be uint8 {self.frame_shape}, got {pixels.dtype} '
                             f'{pixels.shape}')
        slot = self._next_slot
        self._frames[slot] = pixels
        self._next_slot = (slot + 1) % len(self._frames)
        self.frames_stored += 1
        return slot

    def add(self, pixels: np.ndarray, action: int, next_pixels: np.ndarray,
            stamp_ns: int | None = None, next_stamp_ns: int | None = None) -> int:
        """Add one transition; returns how many were ever added (the view that includes it).

        A frame with the stamp of the last next frame shares its slot.
        """
        with self._lock:
            follows = (stamp_ns is not None and self._last_next is not None
                       and self._last_next[0] == stamp_ns)
            frame_slot = self._last_next[1] if follows else self._store(pixels)
            next_slot = self._store(next_pixels)
            index = self.count % self._ring
            self._frame_slot[index], self._next_frame_slot[index] = frame_slot, next_slot
            self._actions[index], self._follows[index] = action, follows
            self.count += 1
            self._last_next = None if next_stamp_ns is None else (next_stamp_ns, next_slot)
            return self.count

    def position(self, number: int) -> int:
        """The ring position of the `number`-th transition ever added (0-based)."""
        return number % self._ring

    def _view(self, view: int | None) -> int:
        if view is None:
            return self.count
        overwritten = view - min(view, self.capacity) < self.count - self._ring
        if not 0 <= view <= self.count or overwritten:
            raise ValueError(f'view {view} is outside what the buffer holds (count {self.count}'
                             f', slack {self.slack})')
        return view

    def sample_indices(self, batch_size: int, view: int | None = None) -> np.ndarray:
        """Ring positions of `batch_size` transitions drawn uniformly from the view."""
        with self._lock:
            return self._sample_indices(batch_size, self._view(view))

    def _sample_indices(self, batch_size: int, view: int) -> np.ndarray:
        kept = min(view, self.capacity)
        if kept == 0:
            raise ValueError('cannot sample from an empty replay buffer')
        return (view - kept + self.rng.integers(kept, size=batch_size)) % self._ring

    def _history_indices(self, indices: np.ndarray, history: int, view: int) -> np.ndarray:
        """`[B, history]` ring positions ending at `indices`, oldest first.

        History stops at a break (a transition that does not follow the previous one, or the
        oldest one in the view); earlier positions repeat the first position after the break.
        """
        oldest = (view - min(view, self.capacity)) % self._ring
        rows = np.empty((len(indices), history), dtype=np.int64)
        for row, index in enumerate(indices):
            position = int(index)
            rows[row, history - 1] = position
            for column in range(history - 2, -1, -1):
                if position != oldest and self._follows[position]:
                    position = (position - 1) % self._ring
                rows[row, column] = position
        return rows

    def batch(self, indices: np.ndarray, history: int = 1, view: int | None = None) -> dict:
        """Rows `indices`: frames `[B, T, H, W, 3]`, actions `[B, T]`, next `[B, H, W, 3]`."""
        with self._lock:
            return self._batch(np.asarray(indices), history, self._view(view))

    def _batch(self, indices: np.ndarray, history: int, view: int) -> dict:
        rows = self._history_indices(indices, history, view)
        return {'frames': self._frames[self._frame_slot[rows]],
                'actions': self._actions[rows],
                'next_frames': self._frames[self._next_frame_slot[indices]]}

    def sample(self, batch_size: int, history: int = 1, view: int | None = None) -> dict:
        """A uniform minibatch from the view (copies: the actor may add right after)."""
        with self._lock:
            view = self._view(view)
            return self._batch(self._sample_indices(batch_size, view), history, view)

    def sample_sequences(self, batch_size: int, length: int,
                         view: int | None = None) -> dict | None:
        """Up to `batch_size` runs of `length` chained transitions; None when there are none.

        Returns the first frame `[B, 1, H, W, 3]`, the actions `[B, length]` and the frame after
        the last action `[B, H, W, 3]`.
        """
        with self._lock:
            view = self._view(view)
            ends = self._sample_indices(4 * batch_size, view)  # some end inside broken chains
            rows = self._history_indices(ends, length, view)  # [4B, length]
            chained = np.all(np.diff(rows, axis=1) % self._ring == 1, axis=1)
            rows, ends = rows[chained][:batch_size], ends[chained][:batch_size]
            if len(rows) == 0:
                return None
            return {'frames': self._frames[self._frame_slot[rows[:, :1]]],
                    'actions': self._actions[rows],
                    'next_frames': self._frames[self._next_frame_slot[ends]]}

    def run_ending(self, view: int, length: int) -> dict | None:
        """The run of `length` chained transitions ending with the view's newest one, or None.

        Shaped as one row of `sample_sequences`; None when the view holds no such chain.
        """
        with self._lock:
            view = self._view(view)
            if view == 0:
                return None
            end = np.array([(view - 1) % self._ring])
            rows = self._history_indices(end, length, view)
            if not np.all(np.diff(rows, axis=1) % self._ring == 1):
                return None
            return {'frames': self._frames[self._frame_slot[rows[:, :1]]],
                    'actions': self._actions[rows],
                    'next_frames': self._frames[self._next_frame_slot[end]]}

    def recent(self, count: int) -> dict:
        """The last `count` transitions in order, as plain arrays (for checkpoints)."""
        with self._lock:
            count = min(count, len(self))
            rows = np.asarray([(self.count - count + i) % self._ring for i in range(count)],
                              dtype=np.int64)
            return {'frames': self._frames[self._frame_slot[rows]].copy(),
                    'actions': self._actions[rows].copy(),
                    'next_frames': self._frames[self._next_frame_slot[rows]].copy(),
                    'follows': self._follows[rows].copy()}

    def extend(self, recent: dict) -> None:
        """Add transitions saved by `recent` back, keeping which ones followed each other.

        Only the newest `capacity` of them are added (the older ones would be overwritten).
        """
        stamp, first = 0, max(0, len(recent['actions']) - self.capacity)
        for i in range(first, len(recent['actions'])):
            follows = bool(recent['follows'][i]) and i > first
            self.add(np.asarray(recent['frames'][i]), int(recent['actions'][i]),
                     np.asarray(recent['next_frames'][i]),
                     stamp_ns=stamp if follows else None, next_stamp_ns=stamp + 1)
            stamp += 1
