#!/usr/bin/env python3
"""PyTorch reference for batchbench's training step (make compare-pytorch).

Trains the same architectures as suites/step-bench.yaml with the same batch sizes,
optimizer and timing rules as batchbench's loop, and prints samples/s side by side
with batchbench's records:

- data: synthetic 1x28x28 images, resident on the device; each step gathers its batch
  by index from a per-pass random permutation (as batchbench does);
- models: MLP 784-512-512-10 and CNN (3x3 conv 32 + 2x2 max-pool, 3x3 conv 64 + pool,
  dense 128, 10), uniform +-1/sqrt(fan_in) initialization (PyTorch's default bounds);
- optimizer: plain SGD, lr 0.01, mean cross-entropy;
- timing: the first 10 steps are warm-up; steady-state samples/s over the rest of one
  pass (at least 30 more steps); the loss is read back every 50 steps and at the end,
  which synchronizes the device as batchbench does;
- matmul precision, labelled on every row: on CUDA, Burn's f32 matmuls use TF32 tensor
  cores when autotune picks such a kernel, while PyTorch's default is full f32. So on
  CUDA PyTorch runs both ways (`--tf32 both`, the default there): `f32` with
  `allow_tf32 = False` and `tf32` with `allow_tf32 = True`. Rows of different math
  are never averaged together. On the CPU there is no TF32 (`f32` only).

PyTorch is an optional dependency of this target only.
"""
import argparse
import json
import os
import sys
import time

WARMUP = 10
READ_EVERY = 50


def build(kind, torch):
    nn = torch.nn
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def measure(torch, kind, batch, n, device, math, seed=0):
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = math == "tf32"
        torch.backends.cudnn.allow_tf32 = math == "tf32"
    torch.manual_seed(seed)
    x = torch.randn(n, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (n,), device=device)
    model = build(kind, torch).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    steps = max(WARMUP + 30, n // batch)
    perm = torch.randperm(n, device=device)
    cursor = 0
    t0 = t_warm = None
    for step in range(1, steps + 1):
        if cursor + batch > n:
            perm = torch.randperm(n, device=device)
            cursor = 0
        idx = perm[cursor:cursor + batch]
        cursor += batch
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        if step == 1:
            t0 = time.perf_counter()
        if step % READ_EVERY == 0 or step == steps:
            loss.item()
        if step == WARMUP:
            loss.item()
            t_warm = time.perf_counter()
    end = time.perf_counter()
    return {"model": kind, "batch_size": batch, "math": math, "samples_per_s": (steps - WARMUP) * batch / (end - t_warm), "steps": steps}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--batch", type=int, nargs="+", default=[32, 256, 2048])
    ap.add_argument("--models", nargs="+", default=["mlp", "cnn"])
    ap.add_argument("--examples", type=int, default=60000, help="synthetic examples resident on the device")
    ap.add_argument("--tf32", choices=["off", "on", "both"], help="matmul math on CUDA: full f32 (off), TF32 (on) or both (the default on CUDA)")
    ap.add_argument("--batchbench", help="batchbench runs.jsonl to compare with")
    ap.add_argument("--json", help="write PyTorch's figures here")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("PyTorch is not installed: `pip install torch` (an optional dependency of make compare-pytorch only)")
    device = "cuda" if args.device.startswith("cuda") else "cpu"
    if device == "cpu":
        torch.set_num_threads(int(os.environ.get("RAYON_NUM_THREADS", os.cpu_count())))
    if device == "cpu":
        maths = ["f32"]
    else:
        maths = {"off": ["f32"], "on": ["tf32"], "both": ["f32", "tf32"], None: ["f32", "tf32"]}[args.tf32]
    rows = [measure(torch, m, b, args.examples, device, math) for m in args.models for b in args.batch for math in maths]
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "device": device, "rows": rows}, f, indent=1)
    burn = burn_figures(args.batchbench) if args.batchbench else {}
    print("\n".join(table(rows, burn, f"PyTorch {torch.__version__} on {device} ({torch.get_num_threads()} threads)")))


def burn_figures(runs_jsonl):
    """Mean samples/s of batchbench's successful f32 runs, by (model, batch size)."""
    burn = {}
    for line in open(runs_jsonl, encoding="utf-8"):
        if line.strip():
            r = json.loads(line)
            f32 = r["spec"].get("precision", "f32") == "f32"
            if r["status"] == "ok" and f32 and r["summary"].get("samples_per_s"):
                burn.setdefault((r["spec"]["model"]["kind"], r["spec"]["batch_size"]), []).append(r["summary"]["samples_per_s"])
    return {k: sum(v) / len(v) for k, v in burn.items()}


def table(rows, burn, title):
    """PyTorch's rows beside Burn's figure for the same model and batch ("-" where none)."""
    lines = [f"{title} vs batchbench (Burn, f32)",
             f"{'model':<5} {'batch':>6} {'math':<5} {'PyTorch samples/s':>18} {'Burn samples/s':>15} {'Burn / PyTorch':>15}"]
    for r in rows:
        b = burn.get((r["model"], r["batch_size"]))
        burn_cell = "-" if b is None else str(round(b))
        ratio = "-" if b is None else f"{b / r['samples_per_s']:.2f}x"
        lines.append(f"{r['model']:<5} {r['batch_size']:>6} {r['math']:<5} {r['samples_per_s']:>18.0f} {burn_cell:>15} {ratio:>15}")
    return lines


if __name__ == "__main__":
    main()
