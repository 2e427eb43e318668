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

impl InputShape {
    /// The input of `data`'s examples.
    pub fn of(data: &crate::data::Dataset) -> Self {
        InputShape {
            features: data.features,
            image: data.image,
            classes: data.classes,
        }
    }
}

/// One parameter tensor's initial values, in the order the model visits them.
#[derive(Clone, Debug, PartialEq)]
pub struct InitialParameter {
    /// `convs.N.weight`, `convs.N.bias`, `dense.N.weight` or `dense.N.bias`.
    pub name: String,
    /// Burn's layout: conv weights `[out, in, k, k]`, dense weights `[in, out]`.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<f32>,
}

/// The initial parameters of the model `spec` builds for `input`, drawn from `seed`:
/// every tensor uniform in ±1/√fan_in, conv blocks first, then the dense layers, each
/// weight before its bias. Burn's model is built from these, and the runner hands the
/// same values to the other engines.
pub fn initial_parameters(spec: &ModelSpec, input: InputShape, seed: u64) -> Vec<InitialParameter> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(INIT_STREAM);
    let mut params = Vec::new();
    let mut draw = |name: String, shape: Vec<usize>, fan_in: usize| {
        let bound = 1.0 / (fan_in as f32).sqrt();
        let n: usize = shape.iter().product();
        let values = (0..n).map(|_| rng.random_range(-bound..bound)).collect();
        params.push(InitialParameter {
            name,
            shape,
            values,
        });
    };
    let mut dense_in = input.features;
    if spec.kind == ModelKind::Cnn {
        let [mut c, mut h, mut w] = input.image.expect("validated: cnn needs image data");
        let k = spec.kernel.unwrap_or(3) as usize;
        for (i, &out) in spec.channels.iter().flatten().enumerate() {
            let out = out as usize;
            draw(format!("convs.{i}.weight"), vec![out, c, k, k], c * k * k);
            draw(format!("convs.{i}.bias"), vec![out], c * k * k);
            c = out;
            h /= 2;
            w /= 2;
        }
        dense_in = c * h * w;
    }
    let hidden = match spec.kind {
        ModelKind::Logreg => vec![],
        _ => spec.hidden.iter().flatten().map(|&h| h as usize).collect(),
    };
    for (i, out) in hidden.into_iter().chain([input.classes]).enumerate() {
        draw(format!("dense.{i}.weight"), vec![dense_in, out], dense_in);
        draw(format!("dense.{i}.bias"), vec![out], dense_in);
        dense_in = out;
    }
    params
}

impl<B: Backend> Classifier<B> {
    /// Builds the model for `spec` (resolved) with weights drawn from `seed`.
    pub fn new(spec: &ModelSpec, input: InputShape, seed: u64, device: &B::Device) -> Self {
        let mut params = initial_parameters(spec, input, seed).into_iter();
        let mut next = || {
            params
                .next()
                .expect("initial_parameters lists every tensor")
        };
        let k = spec.kernel.unwrap_or(3) as usize;
        let n_convs = match spec.kind {
            ModelKind::Cnn => spec.channels.as_ref().map_or(0, Vec::len),
            _ => 0,
        };
        let convs = (0..n_convs)
            .map(|_| Conv2d {
                weight: param::<B, 4>(next(), device),
                bias: Some(param::<B, 1>(next(), device)),
                stride: [1, 1],
                kernel_size: [k, k],
                dilation: [1, 1],
                groups: 1,
                padding: PaddingConfig2d::Same,
            })
            .collect();
        let n_dense = match spec.kind {
            ModelKind::Logreg => 1,
            _ => spec.hidden.as_ref().map_or(0, Vec::len) + 1,
        };
        let dense = (0..n_dense)
            .map(|_| Linear {
                weight: param::<B, 2>(next(), device),
                bias: Some(param::<B, 1>(next(), device)),
            })
            .collect();
        Classifier {
            convs,
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            dense,
            activation: spec.activation.unwrap_or(Activation::Relu),
            image: if spec.kind == ModelKind::Cnn {
                input.image
            } else {
                None
            },
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

/// A parameter tensor holding `init`'s values.
fn param<B: Backend, const D: usize>(
    init: InitialParameter,
    device: &B::Device,
) -> Param<Tensor<B, D>> {
    let shape: [usize; D] = init
        .shape
        .try_into()
        .expect("initial_parameters gives each tensor its rank");
    Param::from_tensor(Tensor::from_data(
        TensorData::new(init.values, shape),
        device,
    ))
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
