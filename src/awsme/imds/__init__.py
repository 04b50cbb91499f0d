"""The built-in EC2 instance metadata service simulator (``app -mode=imds``)."""

from .app import create_imds_app
from .data import InstanceData, load_instance_data
from .state import MAINTENANCE_CODES, SPOT_ACTIONS, SimulatorState

__all__ = [
    "MAINTENANCE_CODES",
    "SPOT_ACTIONS",
    "InstanceData",
    "SimulatorState",
    "create_imds_app",
    "load_instance_data",
]
