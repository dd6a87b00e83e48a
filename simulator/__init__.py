"""A faithful Max API simulator on loopback, for tests and free try-outs.

Nothing in the bot imports this package; it imports nothing from the bot. Start it
with ``python -m simulator`` (see ``README.md`` beside this file), or in tests::

    async with Simulator(SimulatorConfig(speed=0.01, allow_loopback_callbacks=True)) as sim:
        ...  # point the client at sim.base_url with api key "sim-key"
"""

from .app import create_app
from .callbacks import CallbackRecord
from .clock import Clock
from .config import SimulatorConfig
from .directives import parse_size
from .errors import ApiError
from .faults import Fault, Faults
from .records import RequestRecord
from .server import Simulator
from .tasks import TERMINAL, Task, TaskState, TaskStateError

__all__ = [
    "TERMINAL",
    "ApiError",
    "CallbackRecord",
    "Clock",
    "Fault",
    "Faults",
    "RequestRecord",
    "Simulator",
    "SimulatorConfig",
    "Task",
    "TaskState",
    "TaskStateError",
    "create_app",
    "parse_size",
]
