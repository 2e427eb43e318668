//! The model's side of training and probing: the dataset on the device, the loss,
//! and evaluation in large batches. Shared by the training loop and the probes, so
//! neither needs the other.

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};

use super::Model;
use crate::data::{Dataset, Split};

/// Examples per forward pass during evaluation.
pub const EVAL_BATCH: usize = 8192;

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
        let order =
            crate::data::order::train_eval_subset(data.train.len(), eval_train_samples, seed);
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

/// One forward pass of an evaluation: rows `start..start + width`, of which the first
/// `skip` were counted by the previous window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvalWindow {
    /// First row.
    pub start: usize,
    /// Rows at the start already counted.
    pub skip: usize,
}

/// Splits `n` rows into equal windows of at most [`EVAL_BATCH`] rows (the width is
/// returned with them). The last window ends at `n` and overlaps the one before by
/// fewer rows than there are windows; those rows are masked out. Why equal widths: on
/// CUDA every distinct shape compiles and autotunes its own kernels, so a short last
/// chunk (10,000 = 8192 + 1808) would cost a second set for a few rows.
pub fn eval_windows(n: usize) -> (usize, Vec<EvalWindow>) {
    if n == 0 {
        return (0, Vec::new());
    }
    let count = n.div_ceil(EVAL_BATCH);
    let width = n.div_ceil(count);
    let windows = (0..count)
        .map(|i| {
            let nominal = i * width;
            let start = nominal.min(n - width);
            EvalWindow {
                start,
                skip: nominal - start,
            }
        })
        .collect();
    (width, windows)
}

/// Loss and accuracy of `model` on `(x, y)`, in equal windows ([`eval_windows`]):
/// mean cross-entropy and accuracy over every prediction (for a language model, every
/// position of every window).
pub fn evaluate<B: Backend>(
    model: &Model<B>,
    x: &Tensor<B, 2>,
    y: &Tensor<B, 1, Int>,
) -> anyhow::Result<(f64, f64)> {
    let [n, features] = x.dims();
    let per = model.targets_per_example(features);
    let device = x.device();
    let mut loss_sum = Tensor::<B, 1>::zeros([1], &device);
    let mut correct = Tensor::<B, 1, Int>::zeros([1], &device);
    let (width, windows) = eval_windows(n);
    for w in windows {
        let rows = w.start..w.start + width;
        let xb = x.clone().slice(rows.clone());
        let yb = y.clone().slice(rows);
        // 0 for rows the previous window counted; applied to every window, so each
        // runs the same kernels. One value per prediction (a row's `per` positions).
        let keep: Vec<i64> = (0..width * per)
            .map(|i| i64::from(i / per >= w.skip))
            .collect();
        let keep = Tensor::<B, 1, Int>::from_data(TensorData::new(keep, [width * per]), &device);
        let (logits, targets) = model.logits_and_targets(xb, yb);
        let m = width * per;
        let picked = log_softmax(logits.clone(), 1)
            .gather(1, targets.clone().reshape([m, 1]))
            .reshape([m]);
        loss_sum = loss_sum + (picked * keep.clone().float()).sum().neg();
        let predicted = logits.argmax(1).reshape([m]);
        correct = correct + (predicted.equal(targets).int() * keep).sum();
    }
    let loss: f64 = loss_sum.try_into_scalar().map_err(device_error)?.elem();
    let correct: i64 = correct.try_into_scalar().map_err(device_error)?.elem();
    let total = (n * per) as f64;
    Ok((loss / total, correct as f64 / total))
}

/// A device execution error (e.g. CUDA out of memory, surfaced at a sync) as anyhow.
pub fn device_error(e: impl std::fmt::Debug) -> anyhow::Error {
    anyhow::anyhow!("device error: {e:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InputShape;

    #[test]
    fn evaluation_windows_are_equal_and_count_every_row_once() {
        for n in [
            1,
            7,
            EVAL_BATCH,
            EVAL_BATCH + 1,
            10_000,
            10_001,
            3 * EVAL_BATCH + 5,
            60_000,
        ] {
            let (width, windows) = eval_windows(n);
            assert!(width <= EVAL_BATCH, "n={n}");
            let mut covered = vec![0u8; n];
            for w in &windows {
                assert!(w.start + width <= n, "n={n}: {w:?}");
                assert!(w.skip < windows.len(), "n={n}: overlap {w:?}");
                covered[w.start + w.skip..w.start + width]
                    .iter_mut()
                    .for_each(|c| *c += 1);
            }
            assert!(covered.iter().all(|&c| c == 1), "n={n}");
        }
        assert_eq!(
            eval_windows(10_000).0,
            5000,
            "two equal windows, no 1808-row tail"
        );
        assert_eq!(eval_windows(0).1, vec![]);
    }

    #[test]
    fn overlapping_windows_give_the_same_loss_and_accuracy_as_one_pass() {
        type B = burn::backend::Flex;
        let device = Default::default();
        let n = EVAL_BATCH + 3; // two windows of 4098 rows overlapping by one
        let features = 4;
        let spec = crate::suite::ModelSpec::of(crate::suite::ModelKind::Logreg);
        let input = InputShape {
            features,
            image: None,
            classes: 3,
        };
        let model = Model::<B>::new(&spec, input, 7, &device);
        let xs: Vec<f32> = (0..n * features)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        let ys: Vec<i64> = (0..n).map(|i| (i * 7 % 3) as i64).collect();
        let x = Tensor::<B, 2>::from_data(TensorData::new(xs, [n, features]), &device);
        let y = Tensor::<B, 1, Int>::from_data(TensorData::new(ys, [n]), &device);
        let (loss, acc) = evaluate(&model, &x, &y).unwrap();
        let logits = model.forward(x);
        let expected_loss: f64 = cross_entropy(logits.clone(), y.clone())
            .into_scalar()
            .elem();
        let hits: i64 = logits
            .argmax(1)
            .reshape([n])
            .equal(y)
            .int()
            .sum()
            .into_scalar()
            .elem();
        assert!(
            (loss - expected_loss).abs() < 1e-5,
            "{loss} vs {expected_loss}"
        );
        assert_eq!(acc, hits as f64 / n as f64);
    }
}
