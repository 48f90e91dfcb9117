"""``nerve.distribution``: training across processes and machines (data parallelism).

Keras 3's names (``initialize``, ``list_devices``, ``DataParallel``,
``set_distribution``, ``distribution``), tf.distribute's
``MultiWorkerMirroredStrategy``, and the communicator contract beneath them
(``Communicator``; ``LocalCommunicator`` for one process, ``MPICommunicator`` over
mpi4py). A script changes two lines and runs under ``mpirun -n N python train.py``::

    nerve.distribution.initialize()
    nerve.distribution.set_distribution(nerve.distribution.DataParallel())

>>> import nerve
>>> nerve.distribution.list_devices()
['cpu:0']
"""

from nerve.distribution.api import distribution, initialize, list_devices, set_distribution
from nerve.distribution.communicator import Communicator, LocalCommunicator
from nerve.distribution.data_parallel import DataParallel, MultiWorkerMirroredStrategy
from nerve.distribution.mpi import MPICommunicator
from nerve.training.distributed import (
    CollectiveTimeoutError,
    ReplicaError,
    ReplicaFailedError,
)

__all__ = [
    "CollectiveTimeoutError",
    "Communicator",
    "DataParallel",
    "LocalCommunicator",
    "MPICommunicator",
    "MultiWorkerMirroredStrategy",
    "ReplicaError",
    "ReplicaFailedError",
    "distribution",
    "initialize",
    "list_devices",
    "set_distribution",
]
