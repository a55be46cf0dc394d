"""Learning and inspection threads give way to the actor when they compete for the CPU.

The actor's latency from image to command is what the robot feels; a learner that trains a
little less while the actor runs costs nothing it cannot catch up on. Linux schedules threads
one by one, so raising the niceness of one thread (and of the threads it starts later, such as
torch's worker pool) leaves the actor's thread as it is. Elsewhere the niceness is the
process's: nothing is changed there.
"""

import os
import sys
import threading

BACKGROUND_NICENESS = 10  # added to the process's niceness; 19 is the weakest


def lower_this_threads_priority(increment: int = BACKGROUND_NICENESS) -> None:
    """Make the calling thread nicer by `increment`, on Linux; a no-op where not permitted."""
    if sys.platform != 'linux' or increment <= 0:
        return
    thread_id = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread_id)
        os.setpriority(os.PRIO_PROCESS, thread_id, min(19, current + increment))
    except OSError:  # a sandbox that forbids it: the thread keeps its priority
        pass
