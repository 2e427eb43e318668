//! The model's side of training and probing: the dataset on the device, the loss,
//! and evaluation in large batches. Shared by the training loop and the probes, so
//! neither needs the other.

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::Classifier;
use crate::data::{Dataset, Split};

/// Examples per forward pass during evaluation.
pub const EVAL_BATCH: usize = 8192;
/// Random stream of the fixed training subset used for train metrics.
const TRAIN_EVAL_STREAM: u64 = 3;

/// The dataset on the device.
pub struct DeviceData<B: Backend> {
    /// Training features `[n, features]`.
    pub train_x: Tensor<B, 2>,
    /// Training labels `[n]`.
    pub train_y: Tensor<B, 1, Int>,
    /// Test features.
    pub test_x: Tensor<B, 2>,
    /// Test labels.
    pub test_y: Tensor<B, 1, Int>,
    /// The fixed training subset for train metrics.
    pub train_eval_x: Tensor<B, 2>,
    /// Its labels.
    pub train_eval_y: Tensor<B, 1, Int>,
}

impl<B: Backend> DeviceData<B> {
    /// Uploads the dataset once; `seed` picks the fixed training subset.
    pub fn upload(
        data: &Dataset,
        eval_train_samples: usize,
        seed: u64,
        device: &B::Device,
    ) -> Self {
        let features = data.features;
        let upload_x = |s: &Split| -> Tensor<B, 2> {
            Tensor::from_data(TensorData::new(s.x.clone(), [s.len(), features]), device)
        };
        let upload_y = |s: &Split| -> Tensor<B, 1, Int> {
            let labels: Vec<i64> = s.y.iter().map(|&y| y as i64).collect();
            Tensor::from_data(TensorData::new(labels, [s.len()]), device)
        };
        let train_x = upload_x(&data.train);
        let train_y = upload_y(&data.train);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(TRAIN_EVAL_STREAM);
        let mut order: Vec<i64> = (0..data.train.len() as i64).collect();
        order.shuffle(&mut rng);
        order.truncate(eval_train_samples.min(data.train.len()));
        let n = order.len();
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(order, [n]), device);
        DeviceData {
            train_eval_x: train_x.clone().select(0, idx.clone()),
            train_eval_y: train_y.clone().select(0, idx),
            train_x,
            train_y,
            test_x: upload_x(&data.test),
            test_y: upload_y(&data.test),
        }
    }
}

/// Mean cross-entropy of `logits` against `targets` (the training loss).
pub fn cross_entropy<B: Backend>(logits: Tensor<B, 2>, targets: Tensor<B, 1, Int>) -> Tensor<B, 1> {
    let n = targets.dims()[0];
    log_softmax(logits, 1)
        .gather(1, targets.reshape([n, 1]))
        .mean()
        .neg()
}

/// Loss and accuracy of `model` on `(x, y)`, in chunks of [`EVAL_BATCH`].
pub fn evaluate<B: Backend>(
    model: &Classifier<B>,
    x: &Tensor<B, 2>,
    y: &Tensor<B, 1, Int>,
) -> anyhow::Result<(f64, f64)> {
    let n = y.dims()[0];
    let device = x.device();
    let mut loss_sum = Tensor::<B, 1>::zeros([1], &device);
    let mut correct = Tensor::<B, 1, Int>::zeros([1], &device);
    let mut start = 0;
    while start < n {
        let end = (start + EVAL_BATCH).min(n);
        let xb = x.clone().slice(start..end);
        let yb = y.clone().slice(start..end);
        let logits = model.forward(xb);
        let picked = log_softmax(logits.clone(), 1).gather(1, yb.clone().reshape([end - start, 1]));
        loss_sum = loss_sum + picked.sum().neg();
        let predicted = logits.argmax(1).reshape([end - start]);
        correct = correct + predicted.equal(yb).int().sum();
        start = end;
    }
    let loss: f64 = loss_sum.try_into_scalar().map_err(device_error)?.elem();
    let correct: i64 = correct.try_into_scalar().map_err(device_error)?.elem();
    Ok((loss / n as f64, correct as f64 / n as f64))
}

/// A device execution error (e.g. CUDA out of memory, surfaced at a sync) as anyhow.
pub fn device_error(e: impl std::fmt::Debug) -> anyhow::Error {
    anyhow::anyhow!("device error: {e:?}")
}
