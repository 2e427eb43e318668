//! The probes' mathematics, independent of any model: each works through a closure
//! that evaluates the loss (and gradient) the caller defines, so it can be tested on
//! problems with known answers.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Keskar et al. (2017) ε-sharpness of a minimizer θ:
///
///   φ(θ, ε) = 100 × (max_{Δ ∈ C_ε} f(θ + Δ) − f(θ)) / (1 + f(θ)),
///   C_ε = { Δ : |Δᵢ| ≤ ε (|θᵢ| + 1) },
///
/// the largest relative increase of the loss f within a box around θ scaled by the
/// parameters' magnitudes. Keskar et al. maximize with L-BFGS-B; here it is projected
/// sign-gradient ascent (the steepest ascent for a box, as in FGSM/PGD): start at a
/// seeded random point of the box, step by a quarter of the box half-width along the
/// gradient's sign, project back into the box, keep the best loss seen.
///
/// `loss_and_grad(θ + Δ)` returns f and ∇f at the point.
pub fn sharpness(
    theta: &[f32],
    epsilon: f64,
    steps: usize,
    seed: u64,
    loss_and_grad: &mut dyn FnMut(&[f32]) -> anyhow::Result<(f64, Vec<f32>)>,
) -> anyhow::Result<f64> {
    let (f0, _) = loss_and_grad(theta)?;
    if epsilon <= 0.0 {
        return Ok(0.0);
    }
    let half: Vec<f32> = theta
        .iter()
        .map(|t| (epsilon as f32) * (t.abs() + 1.0))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut delta: Vec<f32> = half.iter().map(|&h| rng.random_range(-h..=h)).collect();
    let mut point: Vec<f32> = theta.iter().zip(&delta).map(|(t, d)| t + d).collect();
    let mut best = f0;
    for _ in 0..steps {
        let (f, g) = loss_and_grad(&point)?;
        best = best.max(f);
        for i in 0..delta.len() {
            let step = 0.25 * half[i] * g[i].signum();
            delta[i] = (delta[i] + step).clamp(-half[i], half[i]);
            point[i] = theta[i] + delta[i];
        }
    }
    let (f, _) = loss_and_grad(&point)?;
    best = best.max(f);
    Ok(100.0 * (best - f0).max(0.0) / (1.0 + f0))
}

/// The gradient noise scale of McCandlish et al. (2018).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoiseScale {
    /// Unbiased estimate of |G|², the squared norm of the true gradient.
    pub g2: f64,
    /// Unbiased estimate of tr(Σ), the trace of the per-example gradient covariance.
    pub trace_sigma: f64,
    /// B_simple = tr(Σ) / |G|² (`None` when the |G|² estimate is not positive).
    pub b_simple: Option<f64>,
    /// The two batch sizes used.
    pub batches: (usize, usize),
    /// Batches averaged per size.
    pub samples: usize,
}

/// Estimates B_simple from mean-gradient squared norms at two batch sizes.
///
/// E|G_B|² = |G|² + tr(Σ)/B, so from measurements at B_small and B_big:
/// |G|² ≈ (B_big |G_big|² − B_small |G_small|²) / (B_big − B_small) and
/// tr(Σ) ≈ (|G_small|² − |G_big|²) / (1/B_small − 1/B_big) (McCandlish et al.,
/// appendix A). Each |G_B|² is averaged over `repeats` batches before the two are
/// combined, as the paper recommends (the ratio of averages is less biased than the
/// average of ratios).
///
/// `grad_norm_sq(b)` draws a fresh batch of `b` examples and returns the squared norm
/// of its mean gradient.
pub fn noise_scale(
    b_small: usize,
    b_big: usize,
    repeats: usize,
    grad_norm_sq: &mut dyn FnMut(usize) -> anyhow::Result<f64>,
) -> anyhow::Result<NoiseScale> {
    anyhow::ensure!(
        b_small < b_big,
        "the noise scale needs two different batch sizes (small < big)"
    );
    let mut mean = |b: usize| -> anyhow::Result<f64> {
        let mut s = 0.0;
        for _ in 0..repeats {
            s += grad_norm_sq(b)?;
        }
        Ok(s / repeats as f64)
    };
    let small = mean(b_small)?;
    let big = mean(b_big)?;
    let (bs, bb) = (b_small as f64, b_big as f64);
    let g2 = (bb * big - bs * small) / (bb - bs);
    let trace_sigma = (small - big) / (1.0 / bs - 1.0 / bb);
    Ok(NoiseScale {
        g2,
        trace_sigma,
        b_simple: (g2 > 0.0).then(|| trace_sigma / g2),
        batches: (b_small, b_big),
        samples: repeats,
    })
}

/// Gradient diversity as ‖Σᵢ gᵢ‖² / Σᵢ ‖gᵢ‖² over per-example gradients: n when they
/// all agree (one step of batch n is worth n steps of batch 1), 1 when orthogonal,
/// below 1 when they cancel.
pub fn gradient_diversity(per_example: &[Vec<f32>]) -> Option<f64> {
    let dim = per_example.first()?.len();
    let mut sum = vec![0f64; dim];
    let mut sum_sq = 0f64;
    for g in per_example {
        for (s, &x) in sum.iter_mut().zip(g) {
            *s += x as f64;
        }
        sum_sq += g.iter().map(|&x| (x as f64).powi(2)).sum::<f64>();
    }
    (sum_sq > 0.0).then(|| sum.iter().map(|s| s * s).sum::<f64>() / sum_sq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::StandardNormal;

    /// f(θ) = ½ Σ aᵢ θᵢ², gradient aᵢ θᵢ.
    fn quadratic(a: Vec<f32>) -> impl FnMut(&[f32]) -> anyhow::Result<(f64, Vec<f32>)> {
        move |x: &[f32]| {
            let f = 0.5
                * x.iter()
                    .zip(&a)
                    .map(|(x, a)| (a * x * x) as f64)
                    .sum::<f64>();
            Ok((f, x.iter().zip(&a).map(|(x, a)| a * x).collect()))
        }
    }

    #[test]
    fn zero_epsilon_gives_zero() {
        let s = sharpness(
            &[0.0; 4],
            0.0,
            10,
            0,
            &mut quadratic(vec![1.0, 2.0, 3.0, 4.0]),
        )
        .unwrap();
        assert_eq!(s, 0.0);
    }

    #[test]
    fn a_quadratic_gives_its_known_sharpness_and_it_grows_with_epsilon() {
        // At θ = 0 the box is |Δᵢ| ≤ ε; the maximum is at a corner: ½ ε² Σ aᵢ.
        let a = vec![1.0, 2.0, 3.0, 4.0];
        let mut last = 0.0;
        for eps in [5e-4, 1e-3, 1e-2, 0.1] {
            let s = sharpness(&[0.0; 4], eps, 20, 1, &mut quadratic(a.clone())).unwrap();
            let expected = 100.0 * 0.5 * eps * eps * 10.0;
            assert!(
                (s - expected).abs() <= 1e-3 * expected,
                "eps {eps}: {s} vs {expected}"
            );
            assert!(s > last);
            last = s;
        }
    }

    #[test]
    fn noise_scale_matches_the_analytic_value_on_linear_regression() {
        // Loss ½(xᵀw − y)² with x ~ N(0, diag(s²)), y = xᵀw* + noise; per-example
        // gradient g = (xᵀ(w − w*) − n) x. At w, G = S²(w − w*) and the covariance of
        // g has trace tr(Σ) = E|g|² − |G|², computed exactly below.
        let d = 8;
        let s2: Vec<f64> = (0..d).map(|i| 0.5 + i as f64 * 0.25).collect();
        let delta: Vec<f64> = (0..d)
            .map(|i| if i % 2 == 0 { 0.3 } else { -0.2 })
            .collect();
        let sigma_n = 0.7f64;
        let g: Vec<f64> = s2.iter().zip(&delta).map(|(s, d)| s * d).collect();
        let g2: f64 = g.iter().map(|x| x * x).sum();
        // E|g|² = E[(xᵀδ − n)² |x|²] for Gaussian x with diagonal covariance:
        // = Σ_j s_j² [Σ_i s_i² δ_i² + σ²] + 2 Σ_j s_j⁴ δ_j².
        let quad: f64 = s2.iter().zip(&delta).map(|(s, d)| s * d * d).sum();
        let e_g2: f64 = s2
            .iter()
            .map(|s| s * (quad + sigma_n * sigma_n))
            .sum::<f64>()
            + 2.0
                * s2.iter()
                    .zip(&delta)
                    .map(|(s, d)| s * s * d * d)
                    .sum::<f64>();
        let analytic = (e_g2 - g2) / g2;

        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let mut draw = |b: usize| -> anyhow::Result<f64> {
            let mut mean = vec![0f64; d];
            for _ in 0..b {
                let x: Vec<f64> = s2
                    .iter()
                    .map(|s| s.sqrt() * rng.sample::<f64, _>(StandardNormal))
                    .collect();
                let n: f64 = sigma_n * rng.sample::<f64, _>(StandardNormal);
                let r: f64 = x.iter().zip(&delta).map(|(x, d)| x * d).sum::<f64>() - n;
                for (m, xi) in mean.iter_mut().zip(&x) {
                    *m += r * xi / b as f64;
                }
            }
            Ok(mean.iter().map(|m| m * m).sum())
        };
        let est = noise_scale(16, 256, 2000, &mut draw).unwrap();
        let b = est.b_simple.unwrap();
        assert!(
            (b - analytic).abs() / analytic < 0.10,
            "estimated {b:.2}, analytic {analytic:.2}"
        );
    }

    #[test]
    fn diversity_is_n_for_identical_and_one_for_orthogonal_gradients() {
        let same = vec![vec![1.0, 2.0]; 4];
        assert!((gradient_diversity(&same).unwrap() - 4.0).abs() < 1e-9);
        let orth = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        assert!((gradient_diversity(&orth).unwrap() - 1.0).abs() < 1e-9);
    }
}
