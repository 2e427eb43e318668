//! A decoder-only causal Transformer over tokens (GPT-style, pre-norm): token and
//! learned position embeddings, blocks of causal multi-head self-attention and a
//! 4× GELU MLP, each with a residual connection, a final layer norm and an untied
//! linear head. The loss is next-token cross-entropy at every position.
//!
//! Written out here instead of using Burn's `TransformerEncoder` so every parameter
//! is built from the seeded values of `model::initial_parameters` (the same weights
//! on every backend) and the attention is plainly visible. Positions attend only to
//! themselves and earlier positions (tested: changing a later token leaves earlier
//! logits unchanged).

use burn::module::{Module, Param};
use burn::nn::{Dropout, Embedding, LayerNorm, Linear};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor};

/// One decoder block.
#[derive(Module, Debug)]
pub struct DecoderLayer<B: Backend> {
    /// Norm before attention.
    pub norm1: LayerNorm<B>,
    /// Queries, keys and values in one projection.
    pub qkv: Linear<B>,
    /// Attention output projection.
    pub proj: Linear<B>,
    /// Norm before the MLP.
    pub norm2: LayerNorm<B>,
    /// MLP, widening 4×.
    pub mlp_in: Linear<B>,
    /// MLP, back to d_model.
    pub mlp_out: Linear<B>,
    /// Dropout after attention and the MLP.
    pub dropout: Dropout,
    /// Attention heads.
    #[module(skip)]
    pub heads: usize,
}

impl<B: Backend> DecoderLayer<B> {
    /// `x`: `[batch, time, d_model]`; `mask`: `[batch, heads, time, time]`, true where
    /// a position may not look.
    pub fn forward(&self, x: Tensor<B, 3>, mask: Tensor<B, 4, Bool>) -> Tensor<B, 3> {
        let [b, t, d] = x.dims();
        let heads = self.heads;
        let dh = d / heads;
        let qkv = self.qkv.forward(self.norm1.forward(x.clone())); // [b, t, 3d]
        let split = |i: usize| {
            qkv.clone()
                .slice([0..b, 0..t, i * d..(i + 1) * d])
                .reshape([b, t, heads, dh])
                .swap_dims(1, 2) // [b, h, t, dh]
        };
        let (q, k, v) = (split(0), split(1), split(2));
        let scores = q
            .matmul(k.transpose())
            .div_scalar((dh as f64).sqrt())
            .mask_fill(mask, -1.0e9);
        let attended = softmax(scores, 3).matmul(v); // [b, h, t, dh]
        let merged = attended.swap_dims(1, 2).reshape([b, t, d]);
        let x = x + self.dropout.forward(self.proj.forward(merged));
        let h = self
            .mlp_out
            .forward(gelu(self.mlp_in.forward(self.norm2.forward(x.clone()))));
        x + self.dropout.forward(h)
    }
}

/// The language model.
#[derive(Module, Debug)]
pub struct Transformer<B: Backend> {
    /// Token embedding `[vocab, d_model]`.
    pub token_embedding: Embedding<B>,
    /// Learned position embedding `[context, d_model]`.
    pub position_embedding: Param<Tensor<B, 2>>,
    /// Decoder blocks.
    pub layers: Vec<DecoderLayer<B>>,
    /// Norm before the head.
    pub final_norm: LayerNorm<B>,
    /// Logits over the vocabulary.
    pub head: Linear<B>,
}

impl<B: Backend> Transformer<B> {
    /// Logits `[batch, time, vocab]` for tokens `[batch, time]` (time ≤ context).
    pub fn forward(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let [b, t] = tokens.dims();
        let device = tokens.device();
        let d = self.position_embedding.dims()[1];
        let positions = self
            .position_embedding
            .val()
            .slice([0..t, 0..d])
            .reshape([1, t, d]);
        let mut x = self.token_embedding.forward(tokens) + positions;
        let heads = self.layers.first().map_or(1, |l| l.heads);
        let mask = causal_mask::<B>(t, &device)
            .reshape([1, 1, t, t])
            .expand([b, heads, t, t]);
        for layer in &self.layers {
            x = layer.forward(x, mask.clone());
        }
        self.head.forward(self.final_norm.forward(x))
    }
}

/// `[t, t]`, true above the diagonal: position i may not attend to j > i.
pub fn causal_mask<B: Backend>(t: usize, device: &B::Device) -> Tensor<B, 2, Bool> {
    Tensor::<B, 2, Int>::ones([t, t], device).triu(1).bool()
}
