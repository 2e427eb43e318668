"""The PyTorch engine: batchbench's recipe trained with PyTorch (eager, or the model's
forward and backward compiled by torch.compile).

Same model as Burn's (src/model/mod.rs): conv 3×3 'same' + ReLU + 2×2 max-pool blocks,
then dense layers with the activation between them, weights in Burn's layouts (dense
weights are [in, out], so a layer is x @ W + b) and initialized with the values the
runner drew. Same loss (mean cross-entropy), same optimizers (torch.optim's SGD with
momentum without dampening, Adam with L2 weight decay, AdamW), the learning rate set
before every step from the plan.
"""

import sys

import common


def probe(mode, cuda):
    try:
        import torch
    except ImportError as e:
        raise common.Missing(f"PyTorch is not installed ({e})")
    if cuda and not torch.cuda.is_available():
        why = ("it is a CPU-only build" if torch.version.cuda is None
               else f"it was built with CUDA {torch.version.cuda} but sees no GPU")
        raise common.Missing(
            f"PyTorch {torch.__version__} cannot train on CUDA: {why}")
    return common.describe("pytorch", torch.__version__, mode,
                           cuda=torch.version.cuda if cuda else None,
                           threads=torch.get_num_threads())


def build(job, info):
    import torch
    import torch.nn.functional as F

    device = torch.device(job.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model_spec = job.model
    activation = {
        "relu": torch.relu,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "gelu": F.gelu,
    }[model_spec.get("activation") or "relu"]
    kernel = int(model_spec.get("kernel") or 3)
    image = job.image if model_spec["kind"] == "cnn" else None
    params = [torch.nn.Parameter(torch.from_numpy(v.copy()).to(device))
              for _, v in job.init]
    n_convs = len(model_spec.get("channels") or []) if image else 0
    convs = [(params[2 * i], params[2 * i + 1]) for i in range(n_convs)]
    dense = [(params[i], params[i + 1]) for i in range(2 * n_convs, len(params), 2)]

    def forward(x):
        if image:
            x = x.view(x.shape[0], *image)
            for w, b in convs:
                x = F.max_pool2d(activation(F.conv2d(x, w, b, padding=kernel // 2)), 2, 2)
            x = x.flatten(1)
        for i, (w, b) in enumerate(dense):
            x = torch.addmm(b, x, w)
            if i < len(dense) - 1:
                x = activation(x)
        return x

    def loss_of(x, y):
        return F.cross_entropy(forward(x), y)

    if job.mode == "compile":
        loss_of = torch.compile(loss_of)

    opt = job.optimizer
    decay = opt.get("weight_decay") or 0.0
    if opt["kind"] == "sgd":
        optimizer = torch.optim.SGD(
            params, lr=0.0, momentum=opt.get("momentum") or 0.0, dampening=0.0,
            nesterov=bool(opt.get("nesterov")) and bool(opt.get("momentum")),
            weight_decay=decay)
    elif opt["kind"] == "adam":
        optimizer = torch.optim.Adam(
            params, lr=0.0, betas=(opt.get("beta1") or 0.9, opt.get("beta2") or 0.999),
            eps=opt.get("epsilon") or 1e-8, weight_decay=decay)
    else:
        optimizer = torch.optim.AdamW(
            params, lr=0.0, betas=(opt.get("beta1") or 0.9, opt.get("beta2") or 0.999),
            eps=opt.get("epsilon") or 1e-8,
            weight_decay=opt["weight_decay"] if opt.get("weight_decay") is not None else 1e-4)

    def upload(a):
        return torch.from_numpy(a).to(device)

    arrays = {
        "train_x": upload(job.train_x),
        "train_y": upload(job.train_y),
        "test_x": upload(job.test_x),
        "test_y": upload(job.test_y),
    }
    subset = upload(job.train_eval)
    arrays["train_eval_x"] = arrays["train_x"].index_select(0, subset)
    arrays["train_eval_y"] = arrays["train_y"].index_select(0, subset)

    class Torch(common.Engine):
        def set_pass(self, permutation):
            self.permutation = upload(permutation)

        def step(self, offset, micro, accumulate, lr):
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            loss = None
            for k in range(accumulate):
                idx = self.permutation[offset + k * micro: offset + (k + 1) * micro]
                loss = loss_of(arrays["train_x"].index_select(0, idx),
                               arrays["train_y"].index_select(0, idx))
                (loss / accumulate if accumulate > 1 else loss).backward()
            optimizer.step()
            return loss.detach()

        def read(self, loss):
            return float(loss.item())

        def sync(self):
            if device.type == "cuda":
                torch.cuda.synchronize(device)

        @torch.no_grad()
        def evaluate(self, split, width, windows):
            x = arrays["train_eval_x" if split == "train_eval" else "test_x"]
            y = arrays["train_eval_y" if split == "train_eval" else "test_y"]
            n = y.shape[0]
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            for start, skip in windows:
                logits = forward(x[start:start + width])[skip:]
                target = y[start + skip:start + width]
                loss_sum += F.cross_entropy(logits, target, reduction="sum").double()
                correct += (logits.argmax(1) == target).sum()
            return loss_sum.item() / n, correct.item() / n

    return Torch()


if __name__ == "__main__":
    sys.exit(common.main("pytorch", probe, build))
