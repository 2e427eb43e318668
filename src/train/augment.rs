//! Data augmentation on the device: random crop after zero padding, and horizontal
//! flips, drawn per example from the run seed.
//!
//! Why on the device, inside the training time: augmentation is part of what a step
//! costs (on a GPU the host would otherwise be the bottleneck), and the batch is
//! already there. Per micro-batch the host draws three small integer vectors (vertical
//! and horizontal offsets, flip or not) from a ChaCha stream keyed by (seed, step,
//! micro-batch); the device pads the batch and gathers every output pixel through an
//! index computed from them. So the same seed gives the same augmented batches on any
//! backend (tested), and no image crosses the bus.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::suite::schema::Augment;

/// Random streams from here on are augmentation's (init uses 1, data order others).
const AUGMENT_STREAM: u64 = 1 << 40;

/// Augments training batches of one image shape.
pub struct Augmenter<B: Backend> {
    augment: Augment,
    image: [usize; 3],
    seed: u64,
    device: B::Device,
    /// Per output value, its offset in the padded image before the crop's shift and
    /// without its column: `c·Hp·Wp + i·Wp`.
    base: Tensor<B, 2, Int>,
    /// Per output value, its column `j`.
    column: Tensor<B, 2, Int>,
}

impl<B: Backend> Augmenter<B> {
    /// Prepares the index grids for images `[c, h, w]`.
    pub fn new(augment: Augment, image: [usize; 3], seed: u64, device: &B::Device) -> Self {
        let [c, h, w] = image;
        let p = augment.crop as usize;
        let (hp, wp) = (h + 2 * p, w + 2 * p);
        let n = c * h * w;
        let mut base = Vec::with_capacity(n);
        let mut column = Vec::with_capacity(n);
        for ch in 0..c {
            for i in 0..h {
                for j in 0..w {
                    base.push((ch * hp * wp + i * wp) as i64);
                    column.push(j as i64);
                }
            }
        }
        Augmenter {
            augment,
            image,
            seed,
            device: device.clone(),
            base: Tensor::from_data(TensorData::new(base, [1, n]), device),
            column: Tensor::from_data(TensorData::new(column, [1, n]), device),
        }
    }

    /// The (row offset, column offset, flipped) of each of `n` examples of micro-batch
    /// `micro` of step `step`.
    pub fn draws(&self, n: usize, step: u64, micro: u64) -> Vec<(usize, usize, bool)> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(AUGMENT_STREAM + step * 4096 + micro);
        let span = 2 * self.augment.crop as usize + 1;
        (0..n)
            .map(|_| {
                let dy = rng.random_range(0..span);
                let dx = rng.random_range(0..span);
                let flip = self.augment.flip && rng.random_bool(0.5);
                (dy, dx, flip)
            })
            .collect()
    }

    /// The augmented batch `[n, c·h·w]`.
    pub fn apply(&self, x: Tensor<B, 2>, step: u64, micro: u64) -> Tensor<B, 2> {
        let [c, h, w] = self.image;
        let p = self.augment.crop as usize;
        let (hp, wp) = (h + 2 * p, w + 2 * p);
        let n = x.dims()[0];
        let values = c * h * w;
        let draws = self.draws(n, step, micro);
        let shift: Vec<i64> = draws
            .iter()
            .map(|&(dy, dx, _)| (dy * wp + dx) as i64)
            .collect();
        let flip: Vec<i64> = draws.iter().map(|&(_, _, f)| i64::from(f)).collect();
        let shift = Tensor::<B, 2, Int>::from_data(TensorData::new(shift, [n, 1]), &self.device)
            .expand([n, values]);
        let flip = Tensor::<B, 2, Int>::from_data(TensorData::new(flip, [n, 1]), &self.device)
            .expand([n, values]);
        let column = self.column.clone().expand([n, values]);
        // Flipped column: w − 1 − j = j + (w − 1 − 2j).
        let flipped = column.clone() + flip * (column.mul_scalar(-2).add_scalar(w as i64 - 1));
        let index = self.base.clone().expand([n, values]) + flipped + shift;
        let padded = if p > 0 {
            x.reshape([n, c, h, w])
                .pad((p, p, p, p), burn::tensor::ops::PadMode::Constant(0.0))
                .reshape([n, c * hp * wp])
        } else {
            x
        };
        padded.gather(1, index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type B = burn::backend::Flex;

    fn batch(n: usize, image: [usize; 3]) -> Tensor<B, 2> {
        let values = image.iter().product::<usize>();
        let data: Vec<f32> = (0..n * values).map(|v| v as f32 + 1.0).collect();
        Tensor::from_data(TensorData::new(data, [n, values]), &Default::default())
    }

    #[test]
    fn augmentation_is_deterministic_per_seed_and_differs_across_seeds() {
        let image = [3, 6, 5];
        let aug = Augment {
            crop: 2,
            flip: true,
        };
        let device = Default::default();
        let a = Augmenter::<B>::new(aug, image, 7, &device);
        let b = Augmenter::<B>::new(aug, image, 7, &device);
        let other = Augmenter::<B>::new(aug, image, 8, &device);
        let x = batch(16, image);
        let ya = a.apply(x.clone(), 3, 0).into_data();
        assert_eq!(ya, b.apply(x.clone(), 3, 0).into_data());
        assert_ne!(ya, other.apply(x.clone(), 3, 0).into_data());
        assert_ne!(
            ya,
            a.apply(x, 4, 0).into_data(),
            "another step, other draws"
        );
    }

    #[test]
    fn crop_and_flip_move_pixels_as_drawn() {
        let image = [2, 4, 5];
        let [c, h, w] = image;
        let aug = Augment {
            crop: 1,
            flip: true,
        };
        let a = Augmenter::<B>::new(aug, image, 1, &Default::default());
        let x = batch(8, image);
        let input: Vec<f32> = x.clone().into_data().to_vec().unwrap();
        let out: Vec<f32> = a.apply(x, 0, 0).into_data().to_vec().unwrap();
        let draws = a.draws(8, 0, 0);
        let p = 1i64;
        for (e, &(dy, dx, flip)) in draws.iter().enumerate() {
            for ch in 0..c {
                for i in 0..h {
                    for j in 0..w {
                        let jj = if flip { w - 1 - j } else { j };
                        // Padded coordinates (i + dy, jj + dx) → source (… − p).
                        let (si, sj) = ((i + dy) as i64 - p, (jj + dx) as i64 - p);
                        let expected = if si < 0 || sj < 0 || si >= h as i64 || sj >= w as i64 {
                            0.0
                        } else {
                            input[e * c * h * w + ch * h * w + si as usize * w + sj as usize]
                        };
                        let got = out[e * c * h * w + ch * h * w + i * w + j];
                        assert_eq!(
                            got, expected,
                            "example {e} ({dy},{dx},{flip}) at {ch},{i},{j}"
                        );
                    }
                }
            }
        }
        assert!(draws.iter().any(|d| d.2) && draws.iter().any(|d| !d.2));
    }
}
