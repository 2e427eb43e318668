//! A CIFAR-style residual network (He et al. 2016, section 4.2): a 3×3 stem, stages
//! of basic blocks (two 3×3 convolutions and an identity shortcut; the first block of
//! every later stage halves the spatial size with stride 2 and projects its shortcut
//! with a 1×1 convolution), global average pooling and a linear head.
//!
//! Normalization is the lever the batch size pulls hardest: batch normalization's
//! statistics are computed over the micro-batch, so its noise changes with the batch
//! size. `norm: ghost` computes them over slices of `ghost_batch` examples instead
//! (Hoffer et al. 2017), all slices in one vectorized pass; with one slice it is
//! exactly batch normalization (tested). Evaluation uses the running statistics.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;

/// A convolution (no bias) followed by its normalization, if any.
#[derive(Module, Debug)]
pub struct ConvNorm<B: Backend> {
    /// The convolution.
    pub conv: Conv2d<B>,
    /// Batch normalization's scale, shift and running statistics (none for `norm: none`).
    pub norm: Option<BatchNorm<B>>,
    /// Examples per ghost batch (`None`: the whole micro-batch).
    #[module(skip)]
    pub ghost: Option<usize>,
}

impl<B: Backend> ConvNorm<B> {
    /// Convolution, then normalization.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let y = self.conv.forward(x);
        match &self.norm {
            None => y,
            Some(bn) => match self.ghost {
                Some(g) if B::ad_enabled(&y.device()) => ghost_batch_norm(bn, y, g),
                _ => bn.forward(y),
            },
        }
    }
}

/// Batch normalization with statistics over slices of `ghost` examples (training
/// mode); the running statistics move by the slices' mean statistics, once per call.
/// A batch that `ghost` does not divide is normalized as one slice (validation refuses
/// such suites; evaluation never comes here).
pub fn ghost_batch_norm<B: Backend>(
    bn: &BatchNorm<B>,
    x: Tensor<B, 4>,
    ghost: usize,
) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let g = if ghost > 0 && n % ghost == 0 {
        ghost
    } else {
        n
    };
    let slices = n / g;
    // [slices, g, c, h, w] → per (slice, channel) over (g, h, w).
    let grouped = x.reshape([slices, g, c, h * w]).swap_dims(1, 2); // [s, c, g, hw]
    let flat = grouped.clone().reshape([slices, c, g * h * w]);
    let mean = flat.clone().mean_dim(2); // [s, c, 1]
    let var = flat.sub(mean.clone()).square().mean_dim(2); // [s, c, 1]
    let momentum = bn.momentum;
    let device = mean.device();
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    let batch_mean = mean.clone().detach().mean_dim(0).reshape([c]);
    let batch_var = var.clone().detach().mean_dim(0).reshape([c]);
    bn.running_mean.update(
        running_mean
            .mul_scalar(1.0 - momentum)
            .add(batch_mean.mul_scalar(momentum))
            .detach(),
    );
    bn.running_var.update(
        running_var
            .mul_scalar(1.0 - momentum)
            .add(batch_var.mul_scalar(momentum))
            .detach(),
    );
    let std = var.add_scalar(bn.epsilon).sqrt().reshape([slices, c, 1, 1]);
    let mean = mean.reshape([slices, c, 1, 1]);
    let normalized = grouped.sub(mean).div(std); // [s, c, g, hw]
    let gamma = bn.gamma.val().reshape([1, c, 1, 1]);
    let beta = bn.beta.val().reshape([1, c, 1, 1]);
    normalized
        .mul(gamma)
        .add(beta)
        .swap_dims(1, 2)
        .reshape([n, c, h, w])
}

/// A basic block: conv-norm-relu, conv-norm, plus the shortcut, relu.
#[derive(Module, Debug)]
pub struct BasicBlock<B: Backend> {
    /// First convolution (stride 2 in the first block of a later stage).
    pub conv1: ConvNorm<B>,
    /// Second convolution.
    pub conv2: ConvNorm<B>,
    /// 1×1 projection when the shape changes.
    pub shortcut: Option<ConvNorm<B>>,
}

impl<B: Backend> BasicBlock<B> {
    /// The block's output.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let y = self.conv2.forward(relu(self.conv1.forward(x.clone())));
        let s = match &self.shortcut {
            Some(p) => p.forward(x),
            None => x,
        };
        relu(y + s)
    }
}

/// The network.
#[derive(Module, Debug)]
pub struct ResNet<B: Backend> {
    /// 3×3 stem convolution.
    pub stem: ConvNorm<B>,
    /// Basic blocks, stage after stage.
    pub blocks: Vec<BasicBlock<B>>,
    /// Linear classifier on the pooled features.
    pub head: Linear<B>,
    /// `[channels, height, width]` of the input.
    #[module(skip)]
    pub image: [usize; 3],
}

impl<B: Backend> ResNet<B> {
    /// Logits `[batch, classes]` for flat images `[batch, c·h·w]`.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let [c, h, w] = self.image;
        let n = x.dims()[0];
        let mut y = relu(self.stem.forward(x.reshape([n, c, h, w])));
        for block in &self.blocks {
            y = block.forward(y);
        }
        let [n, c, h, w] = y.dims();
        let pooled = y.reshape([n, c, h * w]).mean_dim(2).reshape([n, c]);
        self.head.forward(pooled)
    }
}

/// Conv2d geometry for a k×k convolution with `stride` and "same"-style padding.
pub fn conv_geometry(k: usize, stride: usize) -> ([usize; 2], [usize; 2], PaddingConfig2d) {
    let p = k / 2;
    (
        [k, k],
        [stride, stride],
        PaddingConfig2d::Explicit(p, p, p, p),
    )
}
