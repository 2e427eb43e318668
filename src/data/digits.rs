//! The UCI optical-digits dataset, embedded so the quickstart needs no download.
//!
//! 1,797 grey 8×8 images of handwritten digits with values 0..16, as shipped in
//! scikit-learn's wheel (`sklearn/datasets/data/digits.csv.gz`). Creator: E. Alpaydin
//! and C. Kaynak, UCI Machine Learning Repository, "Optical Recognition of Handwritten
//! Digits", licensed CC BY 4.0 (<https://doi.org/10.24432/C50P49>). See
//! `src/data/DIGITS-LICENSE.md`.

use std::sync::OnceLock;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use super::spec::DatasetName;
use super::{DataFile, Dataset, Split, normalize_bytes};

/// The embedded file, byte for byte as in scikit-learn.
pub const DIGITS_CSV_GZ: &[u8] = include_bytes!("digits.csv.gz");

/// Number of images in the set.
pub const DIGITS_COUNT: usize = 1797;

/// The decoded table: 64 pixel values and a label per row.
fn table() -> &'static (Vec<[u8; 64]>, Vec<u32>) {
    static TABLE: OnceLock<(Vec<[u8; 64]>, Vec<u32>)> = OnceLock::new();
    TABLE.get_or_init(|| {
        use std::io::Read;
        let mut text = String::new();
        flate2::read::GzDecoder::new(DIGITS_CSV_GZ)
            .read_to_string(&mut text)
            .expect("the embedded digits file is valid gzip");
        let mut pixels = Vec::with_capacity(DIGITS_COUNT);
        let mut labels = Vec::with_capacity(DIGITS_COUNT);
        for line in text.lines().filter(|l| !l.is_empty()) {
            let values: Vec<u8> = line
                .split(',')
                .map(|v| v.trim().parse::<f64>().expect("numeric digits data") as u8)
                .collect();
            let mut row = [0u8; 64];
            row.copy_from_slice(&values[..64]);
            pixels.push(row);
            labels.push(values[64] as u32);
        }
        assert_eq!(
            labels.len(),
            DIGITS_COUNT,
            "embedded digits file is complete"
        );
        (pixels, labels)
    })
}

/// Test examples per class for a stratified split: round(count × fraction).
fn test_counts(test_fraction: f64) -> [usize; 10] {
    let mut counts = [0usize; 10];
    for &l in &table().1 {
        counts[l as usize] += 1;
    }
    counts.map(|c| ((c as f64) * test_fraction).round() as usize)
}

/// (train, test) sizes of the stratified split.
pub fn split_sizes(test_fraction: f64) -> (u64, u64) {
    let test: usize = test_counts(test_fraction).iter().sum();
    ((DIGITS_COUNT - test) as u64, test as u64)
}

/// Loads the digits with a stratified split seeded by `data_seed`.
pub fn load(test_fraction: f64, data_seed: u64) -> anyhow::Result<Dataset> {
    let (pixels, labels) = table();
    let mut rng = ChaCha8Rng::seed_from_u64(data_seed);
    let quota = test_counts(test_fraction);
    let mut train_idx = Vec::new();
    let mut test_idx = Vec::new();
    for class in 0..10u32 {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        members.shuffle(&mut rng);
        let (test, train) = members.split_at(quota[class as usize]);
        test_idx.extend_from_slice(test);
        train_idx.extend_from_slice(train);
    }
    // Mixed class order, so `train_subset` keeps a random stratum-free sample.
    train_idx.shuffle(&mut rng);
    test_idx.shuffle(&mut rng);
    let gather = |idx: &[usize]| Split {
        x: idx
            .iter()
            .flat_map(|&i| pixels[i].iter().map(|&v| v as f32))
            .collect(),
        y: idx.iter().map(|&i| labels[i]).collect(),
    };
    let (train, test) = (gather(&train_idx), gather(&test_idx));
    let (normalization, train_x, test_x) = normalize_bytes(&train.x, &test.x, 16.0);
    Ok(Dataset {
        name: DatasetName::Digits,
        train: Split {
            x: train_x,
            y: train.y,
        },
        test: Split {
            x: test_x,
            y: test.y,
        },
        features: 64,
        image: Some([1, 8, 8]),
        classes: 10,
        normalization,
        files: vec![DataFile {
            name: "embedded:sklearn/datasets/data/digits.csv.gz".into(),
            sha256: hex::encode(Sha256::digest(DIGITS_CSV_GZ)),
        }],
        source: "embedded (UCI optical digits via scikit-learn, CC BY 4.0)".into(),
        text: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_stratified_complete_and_seeded() {
        let a = load(0.3, 0).unwrap();
        assert_eq!(a.train.len() + a.test.len(), DIGITS_COUNT);
        assert_eq!(
            (a.train.len() as u64, a.test.len() as u64),
            split_sizes(0.3)
        );
        for class in 0..10 {
            let n = a.test.y.iter().filter(|&&y| y == class).count();
            assert!((50..=58).contains(&n), "class {class}: {n} test images");
        }
        let b = load(0.3, 0).unwrap();
        assert_eq!(a.train, b.train);
        let c = load(0.3, 1).unwrap();
        assert_ne!(a.train.y, c.train.y);
    }
}
