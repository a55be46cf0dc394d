"""The transition assembler on live-like streams: jitter, dropped images, out-of-order stamps."""

import random

import numpy as np
import pytest

from devrobot_core.motor import Frame, MotorCommand, MotorOutcome, MotorStatus
from devrobot_core.transitions import TransitionAssembler, transitions_from_events

MS = 1_000_000
MOVE = MotorCommand(0.0, 0.12, 0.2)


def frame(stamp_ns):
    """A 1x1 frame whose pixel value names its stamp, so tests can tell frames apart."""
    return Frame(np.full((1, 1, 3), (stamp_ns // MS) % 251, dtype=np.uint8), stamp_ns)


def outcome(start_ms, end_ms, status=MotorStatus.COMPLETED):
    return MotorOutcome(MOVE.stamped(start_ms * MS), 0.0, 0.12, start_ms * MS, end_ms * MS,
                        status)


def stamps(transitions):
    return [(t.frame.stamp_ns // MS, t.outcome.start_ns // MS, t.next_frame.stamp_ns // MS)
            for t in transitions]


def camera_and_commands(command_starts_ms, duration_ms=200, period_ms=33, jitter_ms=0,
                        end_ms=None, seed=0):
    """Events of a camera at `period_ms` (stamps jittered) and commands, in stamp order.

    Each MotorState is delivered at its end, as drivers publish it.
    """
    rng = random.Random(seed)
    end_ms = end_ms or command_starts_ms[-1] + duration_ms + 100
    events = []
    t = 0
    while t <= end_ms:
        events.append((t + rng.randint(-jitter_ms, jitter_ms) * (t > 0), frame))
        t += period_ms
    for start in command_starts_ms:
        events.append((start + duration_ms, lambda _t, s=start: outcome(s, s + duration_ms)))
    events.sort(key=lambda item: item[0])
    return [make(stamp * MS if make is frame else stamp) for stamp, make in events]


def expected(command_starts_ms, frame_stamps_ms, duration_ms=200):
    """The rule, computed the slow obvious way."""
    result = []
    for k, start in enumerate(command_starts_ms):
        previous_end = command_starts_ms[k - 1] + duration_ms if k else -1
        next_start = command_starts_ms[k + 1] if k + 1 < len(command_starts_ms) else 10**12
        before = [s for s in frame_stamps_ms if previous_end <= s <= start]
        after = [s for s in frame_stamps_ms if start + duration_ms <= s <= next_start]
        if before and after:
            result.append((max(before), start, min(after)))
    return result


def test_sim_like_stream_pairs_every_step():
    # the simulator: frame, command, frame... with the frame stamped exactly at each boundary
    events = [frame(0)]
    for k in range(5):
        events += [outcome(200 * k, 200 * (k + 1)), frame(200 * (k + 1) * MS)]
    result = stamps(transitions_from_events(events))
    assert result == [(200 * k, 200 * k, 200 * (k + 1)) for k in range(5)]


def test_camera_stream_with_jitter_matches_the_rule():
    starts = [100, 400, 700, 1000, 1300]
    events = camera_and_commands(starts, jitter_ms=5)
    frame_stamps = [e.stamp_ns // MS for e in events if isinstance(e, Frame)]
    result = stamps(transitions_from_events(events))
    assert result == expected(starts, frame_stamps)
    assert len(result) == len(starts)


def test_dropped_image_discards_only_the_commands_that_needed_it():
    # commands back to back with one idle image between them; drop the image after command 1
    events = [frame(0)]
    for k in range(4):
        events.append(outcome(200 * k + 10 * k, 200 * (k + 1) + 10 * k))
        if k != 1:
            events.append(frame((200 * (k + 1) + 10 * k + 5) * MS))
    assembler = TransitionAssembler()
    result = stamps(transitions_from_events(events, assembler=assembler))
    # command 1 has no image before command 2 starts; command 2 has no image after command 1
    assert [start for _, start, _ in result] == [0, 630]
    assert assembler.discarded == {'no_frame_after': 1, 'no_frame_before': 1}
    # the frame after command 0 is never reused as the frame after command 1
    assert all(after < 420 or after > 630 for _, _, after in result)


def test_out_of_order_stamps_give_the_same_transitions():
    starts = [100, 400, 700, 1000]
    in_order = camera_and_commands(starts, jitter_ms=3)
    shuffled = list(in_order)
    rng = random.Random(1)
    # images arrive up to three places late (network reordering); outcomes keep their order
    for i in range(len(shuffled) - 3):
        if isinstance(shuffled[i], Frame) and rng.random() < 0.5:
            j = i + rng.randint(1, 3)
            if isinstance(shuffled[j], Frame):
                shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
    assert [id(e) for e in shuffled] != [id(e) for e in in_order]
    assert stamps(transitions_from_events(shuffled)) == stamps(transitions_from_events(in_order))


def test_image_taken_while_motors_run_is_never_used():
    events = [frame(0), frame(150 * MS), outcome(100, 300), frame(200 * MS), frame(310 * MS),
              outcome(400, 600), frame(650 * MS)]
    result = stamps(transitions_from_events(events))
    assert result == [(0, 100, 310), (310, 400, 650)]


def test_not_completed_and_rejected_commands_give_no_transition():
    assembler = TransitionAssembler()
    events = [frame(0), outcome(10, 100, MotorStatus.PREEMPTED), frame(150 * MS),
              outcome(150, 150, MotorStatus.REJECTED_STALE), outcome(200, 300),
              frame(320 * MS)]
    result = stamps(transitions_from_events(events, assembler=assembler))
    # a rejected command never moved the motors, so it does not close the idle window
    assert result == [(150, 200, 320)]
    assert assembler.discarded == {'not_completed': 1, 'rejected': 1}


def test_no_frame_before_the_first_command_discards_it():
    events = [outcome(0, 200), frame(250 * MS), outcome(300, 500), frame(520 * MS)]
    assert stamps(transitions_from_events(events)) == [(250, 300, 520)]


def test_trailing_command_without_next_frame_is_discarded():
    events = [frame(0), outcome(10, 210), frame(220 * MS), outcome(230, 430)]
    assert stamps(transitions_from_events(events)) == [(0, 10, 220)]


def test_transitions_wait_for_the_next_command_unless_a_command_hints():
    assembler = TransitionAssembler()
    assert assembler.add_frame(frame(0)) == []
    assert assembler.add_outcome(outcome(0, 200)) == []
    assert assembler.add_frame(frame(200 * MS)) == []  # a command may still start before 200
    result = assembler.add_command(MOVE.stamped(200 * MS))
    assert stamps(result) == [(0, 0, 200)]
    assert assembler.flush() == []


def test_live_callbacks_and_bag_replay_agree():
    starts = [100, 400, 700, 1000, 1300]
    events = camera_and_commands(starts, jitter_ms=5, seed=3)
    assembler = TransitionAssembler()
    live = []
    for event in events:
        add = assembler.add_frame if isinstance(event, Frame) else assembler.add_outcome
        live += add(event)
    live += assembler.flush()
    assert stamps(live) == stamps(transitions_from_events(events))


def test_memory_stays_bounded_on_a_long_idle_camera():
    assembler = TransitionAssembler(max_frames=16)
    assembler.add_frame(frame(0))
    assembler.add_outcome(outcome(1, 2))
    for k in range(1, 1000):
        assembler.add_frame(frame((2 + 33 * k) * MS))
    assert len(assembler._frames) <= 16
    # the first image after the waiting command survived eviction: it is its next frame
    assert stamps(assembler.flush()) == [(0, 1, 35)]


def test_a_state_delivered_twice_counts_once():
    assembler = TransitionAssembler()
    events = [frame(0), outcome(10, 210), outcome(10, 210), frame(220 * MS), outcome(300, 500),
              frame(520 * MS)]
    assert stamps(transitions_from_events(events, assembler=assembler)) == [
        (0, 10, 220), (220, 300, 520)]
    assert assembler.discarded == {'duplicate': 1}


def test_max_frames_must_be_useful():
    with pytest.raises(ValueError, match='max_frames'):
        TransitionAssembler(max_frames=1)
