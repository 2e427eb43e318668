//! Models built from a [`ModelSpec`]: logistic regression, MLP, a small CNN, a
//! CIFAR-style ResNet ([`resnet`]) and a decoder-only Transformer ([`transformer`]).
//!
//! All are one [`Model`] module, so the training loop, the optimizers and the
//! probes have one type to handle: the classic models are optional conv + 2×2
//! max-pool blocks then dense layers; the ResNet and the Transformer are optional
//! submodules. [`Model::logits_and_targets`] hides the one difference that
//! matters to the loss: a classifier predicts one label per example, a language model
//! one token per position. The code is generic over Burn's `Backend`; it never knows
//! which device it runs on.
//!
//! Initialization does not use the backend's random generator: every tensor of the
//! spec's layout ([`crate::suite::layout`]) is drawn here from a ChaCha stream seeded
//! by the run seed — weights and biases uniform in ±1/√fan_in (PyTorch's and Burn's
//! default bounds), normalization scales 1 and shifts 0. So a seed gives the same
//! initial weights on the CPU and on CUDA, and the record of a run is enough to
//! reproduce it anywhere. (Dropout, when a Transformer asks for it, draws from the
//! backend's generator, seeded with the run seed: reproducible on one backend.)

use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNormConfig, DropoutConfig, Embedding, LayerNormConfig, Linear, PaddingConfig2d,
};
use burn::tensor::activation;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub mod eval;
pub mod params;
pub mod resnet;
pub mod transformer;

use crate::suite::layout::{Init, Input};
use crate::suite::schema::Norm;
use crate::suite::{Activation, ModelKind, ModelSpec};
use resnet::{BasicBlock, ConvNorm, ResNet};
use transformer::{DecoderLayer, Transformer};

/// Random stream used for initialization (other streams shuffle data, etc.).
pub const INIT_STREAM: u64 = 1;

/// The model: conv blocks (possibly none) then dense layers, or a ResNet, or a
/// Transformer.
#[derive(Module, Debug)]
pub struct Model<B: Backend> {
    convs: Vec<Conv2d<B>>,
    pool: MaxPool2d,
    dense: Vec<Linear<B>>,
    resnet: Option<ResNet<B>>,
    transformer: Option<Transformer<B>>,
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

impl InputShape {
    fn layout_input(self) -> Input {
        Input {
            features: self.features,
            image: self.image,
            classes: self.classes,
        }
    }
}

/// The initial parameters of the model `spec` builds for `input`, drawn from `seed`:
/// the spec's layout in order (for the classic models: conv blocks, then the dense
/// layers, each weight before its bias), uniform tensors drawn one after another from
/// the initialization stream. Burn's model is built from these, and the runner hands
/// the same values to the other engines.
pub fn initial_parameters(spec: &ModelSpec, input: InputShape, seed: u64) -> Vec<InitialParameter> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(INIT_STREAM);
    spec.layout(input.layout_input())
        .into_iter()
        .map(|t| {
            let n = t.len();
            let values = match t.init {
                Init::Uniform { fan_in } => {
                    let bound = 1.0 / (fan_in as f32).sqrt();
                    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
                }
                Init::Ones => vec![1.0; n],
                Init::Zeros => vec![0.0; n],
            };
            InitialParameter {
                name: t.name,
                shape: t.shape,
                values,
            }
        })
        .collect()
}

impl<B: Backend> Model<B> {
    /// Builds the model for `spec` (resolved) with weights drawn from `seed`.
    pub fn new(spec: &ModelSpec, input: InputShape, seed: u64, device: &B::Device) -> Self {
        let mut params = initial_parameters(spec, input, seed).into_iter();
        let mut next = || {
            params
                .next()
                .expect("initial_parameters lists every tensor")
        };
        let mut model = Model {
            convs: Vec::new(),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            dense: Vec::new(),
            resnet: None,
            transformer: None,
            activation: spec.activation.unwrap_or(Activation::Relu),
            image: None,
        };
        let linear = |next: &mut dyn FnMut() -> InitialParameter| Linear {
            weight: param::<B, 2>(next(), device),
            bias: Some(param::<B, 1>(next(), device)),
        };
        match spec.kind {
            ModelKind::Logreg | ModelKind::Mlp | ModelKind::Cnn => {
                let k = spec.kernel.unwrap_or(3) as usize;
                let n_convs = match spec.kind {
                    ModelKind::Cnn => spec.channels.as_ref().map_or(0, Vec::len),
                    _ => 0,
                };
                model.convs = (0..n_convs)
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
                model.dense = (0..n_dense).map(|_| linear(&mut next)).collect();
                if spec.kind == ModelKind::Cnn {
                    model.image = input.image;
                }
            }
            ModelKind::Resnet => {
                let norm = spec.norm.unwrap_or(Norm::Batch);
                let ghost = match norm {
                    Norm::Ghost => spec.ghost_batch.map(|g| g as usize),
                    _ => None,
                };
                let conv_norm = |next: &mut dyn FnMut() -> InitialParameter, stride: usize| {
                    let weight = param::<B, 4>(next(), device);
                    let k = weight.dims()[2];
                    let out = weight.dims()[0];
                    let (kernel_size, stride, padding) = resnet::conv_geometry(k, stride);
                    let norm = (norm != Norm::None).then(|| {
                        let mut bn = BatchNormConfig::new(out).init(device);
                        bn.gamma = param::<B, 1>(next(), device);
                        bn.beta = param::<B, 1>(next(), device);
                        bn
                    });
                    ConvNorm {
                        conv: Conv2d {
                            weight,
                            bias: None,
                            stride,
                            kernel_size,
                            dilation: [1, 1],
                            groups: 1,
                            padding,
                        },
                        norm,
                        ghost,
                    }
                };
                let widths = spec.widths.clone().unwrap_or_else(|| vec![16, 32, 64]);
                let per_stage = crate::suite::layout::resnet_blocks_per_stage(
                    spec.depth.unwrap_or(20),
                    widths.len(),
                )
                .unwrap_or(1);
                let stem = conv_norm(&mut next, 1);
                let mut blocks = Vec::new();
                for s in 0..widths.len() {
                    for j in 0..per_stage {
                        let stride = if s > 0 && j == 0 { 2 } else { 1 };
                        let conv1 = conv_norm(&mut next, stride);
                        let conv2 = conv_norm(&mut next, 1);
                        let shortcut = (s > 0 && j == 0).then(|| conv_norm(&mut next, 2));
                        blocks.push(BasicBlock {
                            conv1,
                            conv2,
                            shortcut,
                        });
                    }
                }
                model.resnet = Some(ResNet {
                    stem,
                    blocks,
                    head: linear(&mut next),
                    image: input.image.expect("validated: a resnet needs image data"),
                });
            }
            ModelKind::Transformer => {
                let d = spec.d_model.unwrap_or(64) as usize;
                let heads = spec.heads.unwrap_or(4) as usize;
                let dropout = spec.dropout.unwrap_or(0.0);
                let token_embedding = Embedding {
                    weight: param::<B, 2>(next(), device),
                };
                let position_embedding = param::<B, 2>(next(), device);
                let layer_norm = |next: &mut dyn FnMut() -> InitialParameter| {
                    let mut ln = LayerNormConfig::new(d).init(device);
                    ln.gamma = param::<B, 1>(next(), device);
                    ln.beta = Some(param::<B, 1>(next(), device));
                    ln
                };
                let layers = (0..spec.layers.unwrap_or(2))
                    .map(|_| DecoderLayer {
                        norm1: layer_norm(&mut next),
                        qkv: linear(&mut next),
                        proj: linear(&mut next),
                        norm2: layer_norm(&mut next),
                        mlp_in: linear(&mut next),
                        mlp_out: linear(&mut next),
                        dropout: DropoutConfig::new(dropout).init(),
                        heads,
                    })
                    .collect();
                model.transformer = Some(Transformer {
                    token_embedding,
                    position_embedding,
                    layers,
                    final_norm: layer_norm(&mut next),
                    head: linear(&mut next),
                });
            }
        }
        model
    }

    /// Predictions per example: 1 for a classifier, the context for a language model.
    pub fn targets_per_example(&self, features: usize) -> usize {
        if self.transformer.is_some() {
            features - 1
        } else {
            1
        }
    }

    /// Logits `[predictions, classes]` and their targets `[predictions]` for a batch:
    /// a classifier's are its forward pass and the labels; a language model reads the
    /// first `context` tokens of each window and is scored on the last `context`.
    pub fn logits_and_targets(
        &self,
        x: Tensor<B, 2>,
        y: Tensor<B, 1, Int>,
    ) -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
        match &self.transformer {
            None => (self.forward(x), y),
            Some(t) => {
                let [b, width] = x.dims();
                let context = width - 1;
                let tokens = x.int();
                let inputs = tokens.clone().slice([0..b, 0..context]);
                let targets = tokens.slice([0..b, 1..width]).reshape([b * context]);
                let logits = t.forward(inputs);
                let vocab = logits.dims()[2];
                (logits.reshape([b * context, vocab]), targets)
            }
        }
    }

    /// Logits `[batch, classes]` for flat inputs `[batch, features]` (for a language
    /// model: the logits of every position, `[batch·context, vocab]`).
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        if let Some(r) = &self.resnet {
            return r.forward(x);
        }
        if self.transformer.is_some() {
            let n = x.dims()[0];
            let y = Tensor::<B, 1, Int>::zeros([n], &x.device());
            return self.logits_and_targets(x, y).0;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Autodiff;
    use burn::tensor::Distribution;

    type B = burn::backend::Flex;

    fn spec(kind: ModelKind) -> ModelSpec {
        ModelSpec::of(kind).resolved()
    }

    fn image_input() -> InputShape {
        InputShape {
            features: 3 * 8 * 8,
            image: Some([3, 8, 8]),
            classes: 10,
        }
    }

    #[test]
    fn resnet_forward_shape_and_parameter_count() {
        let mut s = spec(ModelKind::Resnet);
        s.depth = Some(8);
        s.widths = Some(vec![4, 8, 16]);
        let device = Default::default();
        let model = Model::<B>::new(&s, image_input(), 1, &device);
        let x = Tensor::<B, 2>::random([5, 192], Distribution::Default, &device);
        assert_eq!(model.forward(x).dims(), [5, 10]);
        let init = initial_parameters(&s, image_input(), 1);
        let counted: usize = init.iter().map(|p| p.values.len()).sum();
        // Burn also counts batch norm's running mean and variance.
        let running: usize = init
            .iter()
            .filter(|p| p.name.ends_with(".gamma"))
            .map(|p| 2 * p.values.len())
            .sum();
        assert_eq!(model.num_params(), counted + running);
        assert_eq!(
            s.parameters(192, Some([3, 8, 8]), 10),
            counted as u64,
            "validate counts what is built"
        );
    }

    #[test]
    fn transformer_forward_shape_and_causal_mask() {
        let mut s = spec(ModelKind::Transformer);
        s.d_model = Some(16);
        s.heads = Some(2);
        let input = InputShape {
            features: 9, // context 8
            image: None,
            classes: 12,
        };
        let device = Default::default();
        let model = Model::<B>::new(&s, input, 3, &device);
        let tokens: Vec<f32> = (0..2 * 9).map(|i| (i * 5 % 12) as f32).collect();
        let x = Tensor::<B, 2>::from_data(TensorData::new(tokens.clone(), [2, 9]), &device);
        let y = Tensor::<B, 1, Int>::zeros([2], &device);
        let (logits, targets) = model.logits_and_targets(x.clone(), y.clone());
        assert_eq!(logits.dims(), [16, 12]);
        assert_eq!(targets.dims(), [16]);
        // Change the 6th input token of each window: logits at positions 0..5 must
        // not move, later ones must.
        let mut changed = tokens.clone();
        changed[5] = (changed[5] + 1.0) % 12.0;
        changed[9 + 5] = (changed[9 + 5] + 3.0) % 12.0;
        let x2 = Tensor::<B, 2>::from_data(TensorData::new(changed, [2, 9]), &device);
        let (logits2, _) = model.logits_and_targets(x2, y);
        let a: Vec<f32> = logits.into_data().to_vec().unwrap();
        let b: Vec<f32> = logits2.into_data().to_vec().unwrap();
        for row in 0..2 {
            for pos in 0..8 {
                let at = (row * 8 + pos) * 12;
                let same = a[at..at + 12] == b[at..at + 12];
                assert_eq!(same, pos < 5, "window {row} position {pos}");
            }
        }
    }

    #[test]
    fn ghost_batch_norm_with_one_slice_is_batch_norm() {
        type A = Autodiff<B>;
        let device = Default::default();
        let bn = BatchNormConfig::new(3).init::<A>(&device);
        let reference = BatchNormConfig::new(3).init::<A>(&device);
        let x = Tensor::<A, 4>::random([6, 3, 4, 4], Distribution::Normal(1.0, 2.0), &device);
        let ours = resnet::ghost_batch_norm(&bn, x.clone(), 6);
        let burns = reference.forward(x.clone());
        let diff: f32 = (ours - burns).abs().max().into_scalar();
        assert!(diff < 1e-5, "{diff}");
        let running: f32 = (bn.running_mean.value() - reference.running_mean.value())
            .abs()
            .max()
            .into_scalar();
        assert!(running < 1e-6);
        let running: f32 = (bn.running_var.value() - reference.running_var.value())
            .abs()
            .max()
            .into_scalar();
        assert!(running < 1e-6);
        // Two slices of 3 differ from one of 6 (their statistics are the slices').
        let ghost = BatchNormConfig::new(3).init::<A>(&device);
        let two = resnet::ghost_batch_norm(&ghost, x.clone(), 3);
        let first_half = x.slice([0..3]);
        let alone = BatchNormConfig::new(3)
            .init::<A>(&device)
            .forward(first_half);
        let diff: f32 = (two.slice([0..3]) - alone).abs().max().into_scalar();
        assert!(
            diff < 1e-5,
            "slice 1 is normalized by its own statistics: {diff}"
        );
    }
}
