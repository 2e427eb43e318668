//! Models built from a [`ModelSpec`]: logistic regression, MLP and a small CNN.
//!
//! All three are one [`Classifier`]: optional conv + 2×2 max-pool blocks, then dense
//! layers with the activation between them (none after the last). The code is generic
//! over Burn's `Backend`; it never knows which device it runs on.
//!
//! Initialization does not use the backend's random generator: weights and biases are
//! drawn here from a ChaCha stream seeded by the run seed, uniform in ±1/√fan_in
//! (PyTorch's and Burn's default bounds). So a seed gives the same initial weights on
//! the CPU and on CUDA, and the record of a run is enough to reproduce it anywhere.

use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, PaddingConfig2d};
use burn::tensor::activation;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub mod eval;
pub mod params;

use crate::suite::{Activation, ModelKind, ModelSpec};

/// Random stream used for initialization (other streams shuffle data, etc.).
pub const INIT_STREAM: u64 = 1;

/// A classifier: conv blocks (possibly none), then dense layers.
#[derive(Module, Debug)]
pub struct Classifier<B: Backend> {
    convs: Vec<Conv2d<B>>,
    pool: MaxPool2d,
    dense: Vec<Linear<B>>,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    image: Option<[usize; 3]>,
}

/// What the model's input looks like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputShape {
    /// Values per example.
    pub features: usize,
    /// `[channels, height, width]` for image data (needed by the CNN).
    pub image: Option<[usize; 3]>,
    /// Number of classes (output width).
    pub classes: usize,
}

impl<B: Backend> Classifier<B> {
    /// Builds the model for `spec` (resolved) with weights drawn from `seed`.
    pub fn new(spec: &ModelSpec, input: InputShape, seed: u64, device: &B::Device) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(INIT_STREAM);
        let hidden: Vec<usize> = match spec.kind {
            ModelKind::Logreg => vec![],
            _ => spec.hidden.iter().flatten().map(|&h| h as usize).collect(),
        };
        let mut convs = Vec::new();
        let mut dense_in = input.features;
        let mut image = None;
        if spec.kind == ModelKind::Cnn {
            let [mut c, mut h, mut w] = input.image.expect("validated: cnn needs image data");
            image = input.image;
            let k = spec.kernel.unwrap_or(3) as usize;
            for &out in spec.channels.iter().flatten() {
                let out = out as usize;
                let fan_in = c * k * k;
                convs.push(Conv2d {
                    weight: uniform_param(&mut rng, [out, c, k, k], fan_in, device),
                    bias: Some(uniform_param(&mut rng, [out], fan_in, device)),
                    stride: [1, 1],
                    kernel_size: [k, k],
                    dilation: [1, 1],
                    groups: 1,
                    padding: PaddingConfig2d::Same,
                });
                c = out;
                h /= 2;
                w /= 2;
            }
            dense_in = c * h * w;
        }
        let mut dense = Vec::new();
        let widths: Vec<usize> = hidden.into_iter().chain([input.classes]).collect();
        for out in widths {
            dense.push(Linear {
                weight: uniform_param(&mut rng, [dense_in, out], dense_in, device),
                bias: Some(uniform_param(&mut rng, [out], dense_in, device)),
            });
            dense_in = out;
        }
        Classifier {
            convs,
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            dense,
            activation: spec.activation.unwrap_or(Activation::Relu),
            image,
        }
    }

    /// Logits `[batch, classes]` for flat inputs `[batch, features]`.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let mut x = x;
        if let (Some([c, h, w]), false) = (self.image, self.convs.is_empty()) {
            let batch = x.dims()[0];
            let mut y: Tensor<B, 4> = x.reshape([batch, c, h, w]);
            for conv in &self.convs {
                y = self.pool.forward(self.activate(conv.forward(y)));
            }
            x = y.flatten(1, 3);
        }
        let last = self.dense.len() - 1;
        for (i, layer) in self.dense.iter().enumerate() {
            x = layer.forward(x);
            if i < last {
                x = self.activate(x);
            }
        }
        x
    }

    fn activate<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        match self.activation {
            Activation::Relu => activation::relu(x),
            Activation::Tanh => activation::tanh(x),
            Activation::Sigmoid => activation::sigmoid(x),
            Activation::Gelu => activation::gelu(x),
        }
    }
}

/// A parameter tensor of `shape` drawn uniformly from ±1/√fan_in.
fn uniform_param<B: Backend, const D: usize>(
    rng: &mut ChaCha8Rng,
    shape: [usize; D],
    fan_in: usize,
    device: &B::Device,
) -> Param<Tensor<B, D>> {
    let bound = 1.0 / (fan_in as f32).sqrt();
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.random_range(-bound..bound)).collect();
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

/// Number of trainable values of the model `spec` builds for `input` (see
/// [`ModelSpec::parameters`], which `validate` uses without Burn).
pub fn parameter_count(spec: &ModelSpec, input: InputShape) -> u64 {
    spec.parameters(
        input.features as u64,
        input.image.map(|[c, h, w]| [c as u64, h as u64, w as u64]),
        input.classes as u64,
    )
}
