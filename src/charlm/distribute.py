"""Data-parallel training on TensorFlow's own engine, tf.distribute, as `train.distribute` names it.

- `none`: one device, the whole epoch one compiled call (charlm.training); the default.
- `mirrored`: MirroredStrategy over every local GPU, or over CHARLM_LOGICAL_CPUS logical CPU
  devices where there is no GPU (for tests and benchmarks: one CPU split in N).
- `multi_worker`: MultiWorkerMirroredStrategy over the cluster that TF_CONFIG describes (the
  environment, as TensorFlow's convention is: addresses are no params matter).

The global batch is `train.batch_size` streams, split by streams across the replicas; each
replica's loss is its share of the global mean, so the summed gradients are the single-device
gradient up to the order of floating-point sums, and the optimizer clips and applies them once,
in cross-replica context. The chief (TF_CONFIG's `chief`, else worker 0) is the process that
writes; every other worker computes and writes nothing. A peer that never comes up, dies or
stalls ends every process within CHARLM_CLUSTER_TIMEOUT seconds (default 60) with one error line.
"""

import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass

import numpy as np

from charlm.errors import UserError

LOGICAL_CPUS_ENV = "CHARLM_LOGICAL_CPUS"
TIMEOUT_ENV = "CHARLM_CLUSTER_TIMEOUT"
DEFAULT_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Task:
    """This process's place in a TF_CONFIG cluster."""
    cluster: dict[str, list[str]]   # task type -> addresses ("host:port")
    task_type: str
    index: int

    @property
    def name(self) -> str:
        return f"{self.task_type} {self.index}"

    @property
    def is_chief(self) -> bool:
        if "chief" in self.cluster:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.index == 0

    def peers(self) -> list[tuple[str, str]]:
        """(name, address) of every other task."""
        return [(f"{kind} {i}", address) for kind, addresses in self.cluster.items()
                for i, address in enumerate(addresses) if (kind, i) != (self.task_type, self.index)]


def read_task(environ=os.environ) -> Task:
    """TF_CONFIG, checked before any training: JSON with a `cluster` of `chief`/`worker` address
    lists and a `task` (`type`, `index`) that names one of them."""
    text = environ.get("TF_CONFIG")
    where = "TF_CONFIG (train.distribute=multi_worker reads the cluster from it)"
    if not text:
        raise UserError(f"{where} is not set; set it to "
                        '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": N}}')
    try:
        config = json.loads(text)
    except ValueError as e:
        raise UserError(f"{where} is not JSON: {e}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not cluster:
        raise UserError(f"{where} has no `cluster`: a mapping of task types to lists of host:port addresses")
    for kind, addresses in cluster.items():
        if kind not in ("chief", "worker"):
            raise UserError(f"{where}: task type {kind!r} in `cluster` is not chief or worker "
                            f"(MultiWorkerMirroredStrategy has no parameter servers or evaluators here)")
        if not isinstance(addresses, list) or not addresses or not all(_is_address(a) for a in addresses):
            raise UserError(f"{where}: cluster {kind!r} must be a non-empty list of host:port addresses; got {addresses!r}")
    if len(cluster.get("chief", [])) > 1:
        raise UserError(f"{where}: a cluster has at most one chief; got {len(cluster['chief'])}")
    task = config.get("task")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise UserError(f"{where}: `task` must name this process as {{\"type\": one of {sorted(cluster)}, "
                        f"\"index\": N}}; got {task!r}")
    index = task.get("index")
    count = len(cluster[task["type"]])
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
        raise UserError(f"{where}: task index {index!r} is not one of the {count} {task['type']} "
                        f"address{'es' if count > 1 else ''} (0 to {count - 1})")
    return Task(cluster, task["type"], index)


def loopback_cluster(workers: int) -> list[str]:
    """A TF_CONFIG for each of `workers` tasks on 127.0.0.1 (ports the system has just found
    free): for a cluster on one machine, as the tests and benchmarks/distributed.py run it."""
    sockets = [socket.socket() for _ in range(workers)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    addresses = [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    for s in sockets:
        s.close()
    return [json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": i}})
            for i in range(workers)]


def _is_address(value) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[^\s:]+:\d{1,5}", value) is not None


def timeout_seconds(environ=os.environ) -> float:
    text = environ.get(TIMEOUT_ENV)
    if text is None:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 86_400:
        raise UserError(f"{TIMEOUT_ENV}={text!r}: give the seconds a cluster waits for a missing task (0 to 86400)")
    return value


def logical_cpus(environ=os.environ) -> int:
    text = environ.get(LOGICAL_CPUS_ENV, "")
    if not text:
        return 0
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise UserError(f"{LOGICAL_CPUS_ENV}={text!r}: give the number of logical CPU devices (1 to 64)")
    return int(text)


def role(kind: str, environ=os.environ) -> Task | None:
    """The cluster task of a multi_worker run (checked), None otherwise: read before TensorFlow
    starts, so that a worker knows it must not write (nor take the stage's lock)."""
    return read_task(environ) if kind == "multi_worker" else None


# The watchdog's own process: it sleeps out the bound (ending early if its parent ends), then
# names the peers that are not listening and kills the parent that is still waiting.
_WATCHDOG = """
import os, signal, socket, sys, time
parent, seconds, message, peers = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4:]
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    if os.getppid() != parent:
        sys.exit()
    time.sleep(0.2)
def listening(address):
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        return True
    except OSError:
        return False
missing = [peers[i] for i in range(0, len(peers), 2) if not listening(peers[i + 1])]
print(message.replace("{who}", ", ".join(missing) or "another task"), file=sys.stderr, flush=True)
os.kill(parent, signal.SIGKILL)
"""


class Watchdog:
    """Ends the process with one error line when the cluster does not come up within the bound.
    TensorFlow's collective timeout bounds each step once the cluster is up, but a peer that never
    comes up leaves the strategy's start waiting for ever, holding Python's lock (so no thread of
    this process could act): the watchdog is a process of its own."""

    def __init__(self, task: Task, seconds: float):
        self.task, self.seconds = task, seconds
        self._process = None

    def __enter__(self):
        message = (f"error: the cluster did not come up within {self.seconds:g} s: {{who}} of TF_CONFIG is not "
                   f"answering; start every task with its own TF_CONFIG (or raise {TIMEOUT_ENV})")
        peers = [part for peer in self.task.peers() for part in peer]
        self._process = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(self.seconds),
                                          message, *peers], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc):
        self._process.kill()
        self._process.wait()


def lost_task_error(error: Exception, task: Task, seconds: float) -> UserError:
    """A collective that failed because a peer died or stalled, as one line naming the peer."""
    match = re.search(r"/job:(\w+)/replica:\d+/task:(\d+)", str(error))
    names = [name for name, _ in task.peers()]
    who = f"{match[1]} {match[2]}" if match and f"{match[1]} {match[2]}" != task.name else (
        names[0] if len(names) == 1 else "a task")
    return UserError(f"training stopped: {who} of the cluster died or stopped answering "
                     f"(within {seconds:g} s, {TIMEOUT_ENV}); restart every task to resume from the chief's checkpoint")


def make_strategy(kind: str, task: Task | None):
    """The tf.distribute strategy for `kind` (None for `none`); call before any other TensorFlow work."""
    if kind == "none":
        return None
    from charlm.tf_runtime import tf

    if kind == "mirrored":
        gpus = tf.config.list_physical_devices("GPU")
        cpus = logical_cpus()
        if not gpus and cpus:
            physical = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(physical, [tf.config.LogicalDeviceConfiguration()] * cpus)
            return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(cpus)])
        return tf.distribute.MirroredStrategy()
    seconds = timeout_seconds()
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=seconds)
    with Watchdog(task, seconds):
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def replica_step_compiles(strategy) -> bool:
    """XLA around each replica's step, except across logical CPU devices of one process: XLA's CPU
    client has one device, so a compiled step cannot reach a variable on /cpu:1."""
    devices = strategy.extended.worker_devices
    return not (len(devices) > 1 and all("CPU" in d.upper() for d in devices))


def epoch_runner(strategy, model, optimizer, loss_fn, batch_size: int):
    """A function (inputs, targets, states) -> (per-window losses, states, weights finite) over
    consecutive windows of an epoch, [windows, batch_size, num_steps] each, with the streams split
    across replicas; states None: the epoch's start (the states returned stay per replica).

    One call per window (compiled per replica where XLA allows): a whole epoch in one call, as
    on one device, would need the gradients' all-reduce inside the replica's compiled loop.
    """
    from charlm.tf_runtime import graph_function, tf

    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise UserError(f"train.batch_size={batch_size} streams cannot be split evenly across "
                        f"{replicas} replicas; make it a multiple of {replicas}")
    share = batch_size // replicas
    with strategy.scope():
        optimizer.build(model.trainable_variables)

    # Keras scales a loss computed in a replica by 1 / replicas, so the gradients add up to the
    # gradient of the global mean.
    @graph_function(jit_compile=replica_step_compiles(strategy))
    def replica_gradients(inputs, targets, states):
        with tf.GradientTape() as tape:
            logits, states = model(inputs, states, training=True)
            loss = loss_fn(targets, logits)
        return loss, tape.gradient(loss, model.trainable_variables), states

    @graph_function
    def window_step(inputs, targets, step, states):
        loss, gradients, states = strategy.run(
            lambda x, y, s: replica_gradients(x[step], y[step], s), (inputs, targets, states))
        gradients = [strategy.reduce("SUM", g, axis=None) for g in gradients]
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))  # clips the global norm once
        return strategy.reduce("SUM", loss, axis=None), states

    def per_replica(make):  # make(r) for replica r of the whole cluster
        return strategy.experimental_distribute_values_from_function(lambda c: make(c.replica_id_in_sync_group))

    def run(inputs, targets, states=None):
        streams = lambda array: per_replica(lambda r: tf.constant(array[:, r * share:(r + 1) * share]))  # noqa: E731
        inputs_, targets_ = streams(inputs), streams(targets)
        if states is None:
            states = per_replica(lambda r: model.initial_states(share))
        losses = []
        for step in range(len(inputs)):
            loss, states = window_step(inputs_, targets_, tf.constant(step), states)
            losses.append(loss)
        finite = all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in model.trainable_variables)
        return tf.stack(losses).numpy(), states, finite

    return run


def from_chief(strategy, task: Task | None, arrays):
    """The chief's `arrays` on every worker (each worker passes arrays of the same shapes): how
    the chief's checkpoint restores the whole cluster. Unchanged outside a multi-worker run."""
    if task is None:
        return arrays
    from charlm.tf_runtime import tf

    def broadcast(array):
        array = np.asarray(array)
        zeros = np.zeros_like(array)
        # Replica 0 is the chief's first device: the one non-zero term of the sum.
        values = strategy.experimental_distribute_values_from_function(
            lambda c: tf.constant(array if task.is_chief and c.replica_id_in_sync_group == 0 else zeros))
        return strategy.reduce("SUM", values, axis=None).numpy().astype(array.dtype)

    return [broadcast(a) for a in arrays]


def restored_on_every_worker(strategy, task, model, optimizer, restored):
    """The chief's restored checkpoint (or its absence), sent to every worker of the cluster."""
    state = json.dumps(restored[0] if restored else None).encode()
    [length] = from_chief(strategy, task, [np.array(len(state), np.float64)])
    state = bytes(np.round(from_chief(strategy, task, [
        np.frombuffer(state.ljust(int(length), b" "), np.uint8).astype(np.float64)])[0]).astype(np.uint8))
    loop = json.loads(state)
    variables = list(model.variables) + list(optimizer.variables)
    values = from_chief(strategy, task, [v.numpy() for v in variables])
    best = from_chief(strategy, task, restored[1] if restored else [w.numpy() for w in model.weights])
    if loop is None:
        return None
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
    return loop, best, None  # no mid-epoch checkpoints under a strategy
