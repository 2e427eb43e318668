"""The JAX engine: batchbench's recipe with the training step compiled by jax.jit.

The model, loss and optimizers are written here as pure functions with the semantics of
Burn's and PyTorch's (see pytorch_worker.py): dense weights in Burn's [in, out] layout,
conv 'same' + activation + 2×2 max-pool blocks, mean cross-entropy, SGD with momentum
without dampening (Nesterov optional) and L2 weight decay added to the gradient, Adam
with L2 weight decay, AdamW with decoupled decay. Each new batch shape compiles the
step once; that compilation happens in the first steps and counts as warm-up, like
Burn's kernel compilation.
"""

import functools
import sys

import common


def probe(mode, cuda):
    try:
        import jax
    except ImportError as e:
        raise common.Missing(f"JAX is not installed ({e})")
    if cuda:
        try:
            gpus = jax.devices("gpu")
        except RuntimeError:
            gpus = []
        if not gpus:
            raise common.Missing(
                f"JAX {jax.__version__} sees no GPU (the CPU-only jaxlib is installed)")
    # The CUDA runtime the GPU plugin reports (not jaxlib's own version).
    return common.describe("jax", jax.__version__, mode,
                           cuda=getattr(gpus[0].client, "platform_version", None) if cuda else None)


def build(job, info):
    import jax
    import jax.numpy as jnp
    import numpy as np

    kind, _, index = job.device.partition(":")
    device = jax.devices("gpu" if kind == "cuda" else "cpu")[int(index or 0)]
    put = lambda a: jax.device_put(a, device)  # noqa: E731
    model_spec = job.model
    activation = {
        "relu": jax.nn.relu,
        "tanh": jnp.tanh,
        "sigmoid": jax.nn.sigmoid,
        "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    }[model_spec.get("activation") or "relu"]
    image = tuple(job.image) if model_spec["kind"] == "cnn" and job.image else None
    n_convs = len(model_spec.get("channels") or []) if image else 0
    params = [put(v) for _, v in job.init]
    precision = jax.lax.Precision.HIGHEST  # f32 products, as Burn and PyTorch compute

    def forward(params, x):
        if image:
            x = x.reshape((x.shape[0],) + image)
            for i in range(n_convs):
                w, b = params[2 * i], params[2 * i + 1]
                x = jax.lax.conv_general_dilated(
                    x, w, (1, 1), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW"),
                    precision=precision)
                x = activation(x + b[None, :, None, None])
                x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max,
                                          (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
            x = x.reshape((x.shape[0], -1))
        dense = params[2 * n_convs:]
        for i in range(0, len(dense), 2):
            x = jnp.dot(x, dense[i], precision=precision) + dense[i + 1]
            if i < len(dense) - 2:
                x = activation(x)
        return x

    def loss_of(params, x, y):
        logp = jax.nn.log_softmax(forward(params, x), axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    opt = job.optimizer
    kind_opt = opt["kind"]
    momentum = opt.get("momentum") or 0.0
    nesterov = bool(opt.get("nesterov")) and momentum > 0
    beta1, beta2 = opt.get("beta1") or 0.9, opt.get("beta2") or 0.999
    eps = opt.get("epsilon") or 1e-8
    decay = opt.get("weight_decay")
    if kind_opt == "adamw" and decay is None:
        decay = 1e-4
    decay = decay or 0.0

    def init_state(params):
        zeros = [jnp.zeros_like(p) for p in params]
        if kind_opt == "sgd":
            return {"buf": zeros, "t": jnp.zeros((), jnp.int32)}
        return {"m": zeros, "v": [jnp.zeros_like(p) for p in params],
                "t": jnp.zeros((), jnp.int32)}

    def update(params, state, grads, lr):
        t = state["t"] + 1
        if kind_opt == "sgd":
            new_params, bufs = [], []
            for p, g, buf in zip(params, grads, state["buf"]):
                if decay:
                    g = g + decay * p
                if momentum:
                    # PyTorch and Burn: the first step's buffer is the gradient.
                    buf = jnp.where(t == 1, g, momentum * buf + g)
                    g = g + momentum * buf if nesterov else buf
                new_params.append(p - lr * g)
                bufs.append(buf)
            return new_params, {"buf": bufs, "t": t}
        new_params, ms, vs = [], [], []
        tf = t.astype(jnp.float32)
        for p, g, m, v in zip(params, grads, state["m"], state["v"]):
            if kind_opt == "adamw":
                p = p * (1 - lr * decay)
            elif decay:
                g = g + decay * p
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            m_hat = m / (1 - beta1 ** tf)
            v_hat = v / (1 - beta2 ** tf)
            new_params.append(p - lr * m_hat / (jnp.sqrt(v_hat) + eps))
            ms.append(m)
            vs.append(v)
        return new_params, {"m": ms, "v": vs, "t": t}

    grad_of = jax.value_and_grad(loss_of)

    def micro_grads(params, x_all, y_all, perm, start, micro):
        idx = jax.lax.dynamic_slice(perm, (start,), (micro,))
        return grad_of(params, x_all[idx], y_all[idx])

    @functools.partial(jax.jit, static_argnames=("micro", "accumulate"))
    def train_step(params, state, x_all, y_all, perm, offset, lr, micro, accumulate):
        loss, grads = micro_grads(params, x_all, y_all, perm, offset, micro)
        if accumulate > 1:
            grads = [g / accumulate for g in grads]
            for k in range(1, accumulate):
                loss, more = micro_grads(params, x_all, y_all, perm, offset + k * micro, micro)
                grads = [g + m / accumulate for g, m in zip(grads, more)]
        params, state = update(params, state, grads, lr)
        return params, state, loss

    @jax.jit
    def window_sums(params, x, y, keep):
        logits = forward(params, x)
        logp = jax.nn.log_softmax(logits, axis=1)
        picked = jnp.take_along_axis(logp, y[:, None], axis=1)[:, 0]
        loss = -jnp.sum(picked * keep)
        correct = jnp.sum((jnp.argmax(logits, axis=1) == y) * keep)
        return loss, correct

    train_x, train_y = put(job.train_x), put(job.train_y.astype("int32"))
    subset = job.train_eval
    arrays = {
        "train_eval": (put(job.train_x[subset]), put(job.train_y[subset].astype("int32"))),
        "test": (put(job.test_x), put(job.test_y.astype("int32"))),
    }

    masks = {}

    def keep_mask(width, skip):
        """1 for the rows a window counts, 0 for those the window before counted (one
        mask per window shape, on the device)."""
        if (width, skip) not in masks:
            masks[(width, skip)] = put((np.arange(width) >= skip).astype("float32"))
        return masks[(width, skip)]

    class Jax(common.Engine):
        def __init__(self):
            self.params = params
            self.state = init_state(params)

        def set_pass(self, permutation):
            self.permutation = put(permutation.astype("int32"))

        def step(self, offset, micro, accumulate, lr):
            self.params, self.state, loss = train_step(
                self.params, self.state, train_x, train_y, self.permutation,
                offset, jnp.float32(lr), micro=micro, accumulate=accumulate)
            return loss

        def read(self, loss):
            return float(loss)

        def sync(self):
            jax.block_until_ready(self.params)

        def evaluate(self, split, width, windows):
            x, y = arrays[split]
            n = y.shape[0]
            # Sums stay on the device until the end: one read-back per evaluation.
            loss_sum, correct = 0.0, 0
            for start, skip in windows:
                loss, right = window_sums(self.params, x[start:start + width],
                                          y[start:start + width], keep_mask(width, skip))
                loss_sum, correct = loss_sum + loss, correct + right
            return float(loss_sum) / n, int(correct) / n

    return Jax()


if __name__ == "__main__":
    sys.exit(common.main("jax", probe, build))
