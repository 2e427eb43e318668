//! The parameter tensors a model spec builds, in one list: their names, shapes and
//! how each is initialized. `validate` counts parameters from it without Burn, the
//! model layer draws the initial values from it (`model::initial_parameters`) and
//! builds its modules in the same order, and the runner hands the same values to the
//! other engines. One list, so the count, the draw and the modules cannot disagree.

use super::schema::{ModelKind, ModelSpec, Norm};

/// How a tensor's initial values are set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Uniform in ±1/√fan_in (PyTorch's and Burn's default bound for linear and
    /// convolution layers), drawn from the run's initialization stream.
    Uniform {
        /// Inputs feeding one output.
        fan_in: usize,
    },
    /// All ones (normalization scales).
    Ones,
    /// All zeros (normalization shifts).
    Zeros,
}

/// One parameter tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorLayout {
    /// Dotted name, e.g. `convs.0.weight`, `blocks.3.norm2.gamma`.
    pub name: String,
    /// Burn's layout: conv weights `[out, in, k, k]`, dense weights `[in, out]`.
    pub shape: Vec<usize>,
    /// How its values start.
    pub init: Init,
}

impl TensorLayout {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The input a model is built for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Input {
    /// Values per example (for token data: context + 1 tokens).
    pub features: usize,
    /// `[channels, height, width]` for image data.
    pub image: Option<[usize; 3]>,
    /// Output classes (the vocabulary for token data).
    pub classes: usize,
}

/// A residual network's blocks per stage: depth = 2·n·stages + 2.
pub fn resnet_blocks_per_stage(depth: u64, stages: usize) -> Option<u64> {
    let per = 2 * stages as u64;
    (depth >= 2 + per && (depth - 2) % per == 0).then(|| (depth - 2) / per)
}

impl ModelSpec {
    /// The parameter tensors of the model this (resolved) spec builds for `input`,
    /// in the order the model is built.
    pub fn layout(&self, input: Input) -> Vec<TensorLayout> {
        let mut out = Vec::new();
        let mut push = |name: String, shape: Vec<usize>, init: Init| {
            out.push(TensorLayout { name, shape, init })
        };
        let dense =
            |push: &mut dyn FnMut(String, Vec<usize>, Init), name: &str, i: usize, o: usize| {
                push(
                    format!("{name}.weight"),
                    vec![i, o],
                    Init::Uniform { fan_in: i },
                );
                push(format!("{name}.bias"), vec![o], Init::Uniform { fan_in: i });
            };
        match self.kind {
            ModelKind::Logreg | ModelKind::Mlp | ModelKind::Cnn => {
                let mut dense_in = input.features;
                if self.kind == ModelKind::Cnn {
                    let [mut c, mut h, mut w] = input.image.unwrap_or([1, 1, input.features]);
                    let k = self.kernel.unwrap_or(3) as usize;
                    for (i, &o) in self.channels.iter().flatten().enumerate() {
                        let o = o as usize;
                        let fan_in = c * k * k;
                        push(
                            format!("convs.{i}.weight"),
                            vec![o, c, k, k],
                            Init::Uniform { fan_in },
                        );
                        push(format!("convs.{i}.bias"), vec![o], Init::Uniform { fan_in });
                        (c, h, w) = (o, h / 2, w / 2);
                    }
                    dense_in = c * h * w;
                }
                let hidden: Vec<usize> = match self.kind {
                    ModelKind::Logreg => vec![],
                    _ => self.hidden.iter().flatten().map(|&h| h as usize).collect(),
                };
                for (i, o) in hidden.into_iter().chain([input.classes]).enumerate() {
                    dense(&mut push, &format!("dense.{i}"), dense_in, o);
                    dense_in = o;
                }
            }
            ModelKind::Resnet => {
                let widths: Vec<usize> =
                    self.widths.iter().flatten().map(|&w| w as usize).collect();
                let norm = self.norm.unwrap_or(Norm::Batch) != Norm::None;
                let blocks =
                    resnet_blocks_per_stage(self.depth.unwrap_or(20), widths.len()).unwrap_or(1);
                let conv = |push: &mut dyn FnMut(String, Vec<usize>, Init),
                            name: String,
                            i: usize,
                            o: usize,
                            k: usize| {
                    push(
                        format!("{name}.weight"),
                        vec![o, i, k, k],
                        Init::Uniform { fan_in: i * k * k },
                    );
                    if norm {
                        push(format!("{name}.gamma"), vec![o], Init::Ones);
                        push(format!("{name}.beta"), vec![o], Init::Zeros);
                    }
                };
                let mut c = input.image.map_or(1, |i| i[0]);
                conv(&mut push, "stem".into(), c, widths[0], 3);
                c = widths[0];
                let mut b = 0;
                for (s, &w) in widths.iter().enumerate() {
                    for j in 0..blocks {
                        conv(&mut push, format!("blocks.{b}.conv1"), c, w, 3);
                        conv(&mut push, format!("blocks.{b}.conv2"), w, w, 3);
                        if s > 0 && j == 0 {
                            conv(&mut push, format!("blocks.{b}.shortcut"), c, w, 1);
                        }
                        c = w;
                        b += 1;
                    }
                }
                dense(&mut push, "head", c, input.classes);
            }
            ModelKind::Transformer => {
                let d = self.d_model.unwrap_or(64) as usize;
                let vocab = input.classes;
                let context = input.features.saturating_sub(1).max(1);
                push(
                    "token_embedding".into(),
                    vec![vocab, d],
                    Init::Uniform { fan_in: d },
                );
                push(
                    "position_embedding".into(),
                    vec![context, d],
                    Init::Uniform { fan_in: d },
                );
                let norm = |push: &mut dyn FnMut(String, Vec<usize>, Init), name: String| {
                    push(format!("{name}.gamma"), vec![d], Init::Ones);
                    push(format!("{name}.beta"), vec![d], Init::Zeros);
                };
                for l in 0..self.layers.unwrap_or(2) as usize {
                    norm(&mut push, format!("layers.{l}.norm1"));
                    dense(&mut push, &format!("layers.{l}.qkv"), d, 3 * d);
                    dense(&mut push, &format!("layers.{l}.proj"), d, d);
                    norm(&mut push, format!("layers.{l}.norm2"));
                    dense(&mut push, &format!("layers.{l}.mlp_in"), d, 4 * d);
                    dense(&mut push, &format!("layers.{l}.mlp_out"), 4 * d, d);
                }
                norm(&mut push, "final_norm".into());
                dense(&mut push, "head", d, vocab);
            }
        }
        out
    }
}
