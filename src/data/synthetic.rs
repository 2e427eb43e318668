//! A seeded synthetic classification task: Gaussian clusters.
//!
//! Each class has a centre drawn uniformly on the sphere of radius 3 in `features`
//! dimensions; an example is its class centre plus isotropic Gaussian noise of
//! standard deviation `noise`. With the defaults (32 features, 10 classes, noise 1)
//! the Bayes error is a few per cent, so accuracy curves have room to move, and the
//! task is cheap enough for tests and scaling studies with many runs.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use sha2::Digest;

use super::spec::{DatasetName, DatasetSpec};
use super::{DataFile, Dataset, Normalization, Split};

/// Parameters of the generator.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticParams {
    /// Training examples.
    pub train: usize,
    /// Test examples.
    pub test: usize,
    /// Dimension.
    pub features: usize,
    /// Classes.
    pub classes: usize,
    /// Noise standard deviation.
    pub noise: f32,
    /// Generator seed.
    pub seed: u64,
    /// Image layout of the features, if any.
    pub image: Option<[usize; 3]>,
}

impl SyntheticParams {
    /// Reads the (resolved) synthetic fields of a dataset spec.
    pub fn from_spec(spec: &DatasetSpec) -> Self {
        SyntheticParams {
            train: spec.train_samples() as usize,
            test: spec.test_samples() as usize,
            features: spec.features() as usize,
            classes: spec.classes() as usize,
            noise: spec.noise() as f32,
            seed: spec.data_seed(),
            image: spec
                .shape
                .as_ref()
                .map(|s| [s[0] as usize, s[1] as usize, s[2] as usize]),
        }
    }
}

/// Generates the dataset; the same parameters always give the same values.
pub fn generate(p: &SyntheticParams) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let centres: Vec<Vec<f32>> = (0..p.classes)
        .map(|_| {
            let v: Vec<f32> = (0..p.features)
                .map(|_| rng.sample::<f32, _>(StandardNormal))
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
            v.into_iter().map(|x| 3.0 * x / norm).collect()
        })
        .collect();
    let mut draw = |n: usize| {
        let mut x = Vec::with_capacity(n * p.features);
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let class = rng.random_range(0..p.classes);
            y.push(class as u32);
            for &c in &centres[class] {
                x.push(c + p.noise * rng.sample::<f32, _>(StandardNormal));
            }
        }
        Split { x, y }
    };
    let train = draw(p.train);
    let test = draw(p.test);
    let mut hash = sha2::Sha256::new();
    for split in [&train, &test] {
        split.x.iter().for_each(|v| hash.update(v.to_le_bytes()));
        split.y.iter().for_each(|v| hash.update(v.to_le_bytes()));
    }
    Dataset {
        name: DatasetName::Synthetic,
        train,
        test,
        features: p.features,
        image: p.image,
        classes: p.classes,
        normalization: Normalization::identity(),
        files: vec![DataFile {
            name: format!(
                "generated:synthetic(train={},test={},features={},classes={},noise={},seed={})",
                p.train, p.test, p.features, p.classes, p.noise, p.seed
            ),
            sha256: hex::encode(hash.finalize()),
        }],
        source: "generated".into(),
        text: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(seed: u64) -> SyntheticParams {
        SyntheticParams {
            train: 100,
            test: 20,
            features: 4,
            classes: 3,
            noise: 0.5,
            seed,
            image: None,
        }
    }

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        assert_eq!(generate(&params(1)).train, generate(&params(1)).train);
        assert_ne!(generate(&params(1)).train, generate(&params(2)).train);
    }

    #[test]
    fn shapes_and_labels_are_consistent() {
        let d = generate(&params(0));
        assert_eq!(d.train.x.len(), 100 * 4);
        assert_eq!(d.test.len(), 20);
        assert!(d.train.y.iter().all(|&y| y < 3));
    }
}
