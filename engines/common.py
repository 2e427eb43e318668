"""What the Python engines share: the job, the worker protocol and the timed loop.

batchbench's runner starts `python3 engines/<engine>_worker.py`, writes one JSON job to
its stdin and reads `@@batchbench {...}` event lines from its stdout (ARCHITECTURE.md,
"Worker protocol" and "Engines"). The runner has already decided everything that makes
runs comparable across frameworks: the data arrays, the initial weights, and the step
plan (each step's batch size, learning rate and slice of the pass's permutation, and
where evaluations fall). This file walks that plan with the timing rules of Burn's loop
(src/train/mod.rs): the device is synchronized before the clock is read, the first
`warmup_steps` steps are warm-up, evaluation time is kept apart from training time, the
loss is read back only every `loss_check_every` steps. An engine supplies the model,
the step and the evaluation (`Engine`).
"""

import json
import math
import os
import platform
import signal
import sys
import time
import traceback

try:
    import numpy as np
except ImportError as e:  # said by the probe, as a missing framework is
    np = None
    NUMPY_MISSING = str(e)

PREFIX = "@@batchbench "


def emit(event):
    sys.stdout.write(PREFIX + json.dumps(event) + "\n")
    sys.stdout.flush()


def phase(name):
    emit({"event": "phase", "phase": name})


def eval_windows(n, eval_batch):
    """Equal windows of at most `eval_batch` rows covering `n` rows: (width, [(start,
    skip)]); the last window ends at `n` and its first `skip` rows were counted by the
    one before (src/model/eval.rs, eval_windows)."""
    if n == 0:
        return 0, []
    count = -(-n // eval_batch)
    width = -(-n // count)
    windows = []
    for i in range(count):
        nominal = i * width
        start = min(nominal, n - width)
        windows.append((start, nominal - start))
    return width, windows


class Job:
    """The job the runner wrote, with its arrays loaded."""

    def __init__(self, job):
        self.spec = job["spec"]
        self.device = job["device"]
        self.mode = job["mode"]
        data = job["data"]
        for name in ("train_x", "train_y", "test_x", "test_y"):
            setattr(self, name, np.load(os.path.join(data["dir"], name + ".npy")))
        self.image = data["image"]
        self.init = [(p["name"], np.load(p["path"])) for p in job["init"]]
        for name in ("steps", "evals", "passes", "train_eval"):
            setattr(self, name, np.load(os.path.join(job["plan"], name + ".npy")))
        self.warmup_steps = job["warmup_steps"]
        self.loss_check_every = job["loss_check_every"]
        self.eval_batch = job["eval_batch"]

    @property
    def model(self):
        return self.spec["model"]

    @property
    def optimizer(self):
        return self.spec["optimizer"]


class Engine:
    """What a framework implements. Arrays live on the device; the loop never copies
    examples from the host after `__init__`."""

    def set_pass(self, permutation):
        """The permutation (int64 numpy array) the next steps slice their batches from."""
        raise NotImplementedError

    def step(self, offset, micro, accumulate, lr):
        """One optimizer step on permutation[offset : offset + micro * accumulate];
        returns the last micro-batch's mean loss as a device value (not read back)."""
        raise NotImplementedError

    def read(self, loss):
        """The loss as a Python float (a device sync)."""
        raise NotImplementedError

    def sync(self):
        """Waits until the device has finished all queued work."""
        raise NotImplementedError

    def evaluate(self, split, width, windows):
        """(mean loss, accuracy) on `split` ("train_eval" or "test"), in the given equal
        windows."""
        raise NotImplementedError


class Stop:
    """SIGINT (the runner forwards Ctrl-C, SIGTERM and its time budget this way): finish
    the step, then stop."""

    def __init__(self):
        self.requested = False
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, *_):
        self.requested = True


def train(job, engine, stop):
    """Walks the step plan on `engine`; emits phases and evaluation points; returns the
    outcome (the fields of Burn's TrainOutcome)."""
    n_train = len(job.train_y)
    spec = job.spec
    accumulate = int(spec["accumulate"])
    train_windows = eval_windows(len(job.train_eval), job.eval_batch)
    test_windows = eval_windows(len(job.test_y), job.eval_batch)
    started = time.perf_counter()
    state = {"train_s": 0.0, "eval_s": 0.0}
    curve = []

    def training_phase(steps):
        return "warmup" if steps < job.warmup_steps else "train"

    def measure(steps, samples):
        phase("eval")
        t = time.perf_counter()
        train_loss, train_acc = engine.evaluate("train_eval", *train_windows)
        test_loss, test_acc = engine.evaluate("test", *test_windows)
        state["eval_s"] += time.perf_counter() - t
        lr, batch = job.evals[len(curve)]
        point = {
            "epoch": samples / n_train,
            "step": steps,
            "samples": samples,
            "wall_s": time.perf_counter() - started,
            "train_s": state["train_s"],
            "lr": float(lr),
            "batch_size": int(batch),
            "train_loss": finite_or_none(train_loss),
            "train_acc": finite_or_none(train_acc),
            "test_loss": finite_or_none(test_loss),
            "test_acc": finite_or_none(test_acc),
        }
        curve.append(point)
        emit({"event": "eval", "point": point})
        phase(training_phase(steps))
        return train_loss

    measure(0, 0)
    end = "completed"
    divergence = None
    steps = 0
    samples = 0
    warmup_s = None
    warmup_samples = 0
    last_loss = None
    pass_index = -1
    segment_start = time.perf_counter()
    for batch, lr, pass_no, offset, evaluate in job.steps:
        if stop.requested:
            end = "stopped"
            break
        batch, pass_no, offset = int(batch), int(pass_no), int(offset)
        if pass_no != pass_index:
            engine.set_pass(job.passes[pass_no])
            pass_index = pass_no
        loss = engine.step(offset, batch // accumulate, accumulate, float(lr))
        steps += 1
        samples += batch
        if steps % job.loss_check_every == 0 or steps == 1:
            value = engine.read(loss)
            if not math.isfinite(value):
                end = "diverged"
                divergence = {"step": steps, "last_finite_loss": last_loss}
                state["train_s"] += time.perf_counter() - segment_start
                break
            last_loss = value
        if steps == job.warmup_steps:
            engine.sync()
            warmup_s = state["train_s"] + time.perf_counter() - segment_start
            warmup_samples = samples
            phase("train")
        if evaluate:
            engine.sync()
            state["train_s"] += time.perf_counter() - segment_start
            train_loss = measure(steps, samples)
            if not math.isfinite(train_loss):
                end = "diverged"
                divergence = {"step": steps, "last_finite_loss": last_loss}
                break
            last_loss = train_loss
            segment_start = time.perf_counter()
    if end == "stopped":
        state["train_s"] += time.perf_counter() - segment_start
    phase("setup")
    return {
        "end": end,
        "divergence": divergence,
        "warmup_s": warmup_s,
        "warmup_samples": warmup_samples,
        "train_s": state["train_s"],
        "eval_s": state["eval_s"],
        "steps": steps,
        "samples": samples,
    }


def finite_or_none(x):
    x = float(x)
    return x if math.isfinite(x) else None


def describe(name, version, mode, **extra):
    """The record's `env.engine` for this framework, with Python's and NumPy's versions."""
    return {"name": name, "version": version, "mode": mode,
            "python": platform.python_version(), "numpy": np.__version__,
            "interpreter": sys.executable, **extra}


def main(name, probe, build):
    """The entry point of `<name>_worker.py`.

    `probe(mode, cuda)` returns the engine's versions (a dict for the record's
    `env.engine`) or raises `Missing` naming what is missing; `build(job, info)`
    returns the `Engine` for a job.
    """
    args = sys.argv[1:]
    mode = args[args.index("--mode") + 1] if "--mode" in args else "eager"

    def checked_probe(mode, cuda):
        if np is None:
            raise Missing(f"NumPy is not installed ({NUMPY_MISSING})")
        return probe(mode, cuda)

    if "--probe" in args:
        try:
            info = checked_probe(mode, "--cuda" in args)
            print(json.dumps({"engine": info}))
        except Missing as e:
            print(json.dumps({"error": str(e)}))
        return 0
    stop = Stop()
    job = None
    info = None
    try:
        raw = json.load(sys.stdin)
        phase("setup")
        info = checked_probe(raw["mode"], raw["device"].startswith("cuda"))
        job = Job(raw)
        engine = build(job, info)
        outcome = train(job, engine, stop)
    except Missing as e:
        outcome = {"end": "failed", "error": str(e)}
    except Exception as e:  # every failure becomes the run's record
        traceback.print_exc()
        message = " ".join(f"{type(e).__name__}: {e}".split())
        outcome = {"end": "failed", "error": message}
    outcome["engine"] = info
    emit({"event": "outcome", "outcome": outcome})
    return 0


class Missing(Exception):
    """The framework (or its CUDA build) is not available: one line naming what."""
