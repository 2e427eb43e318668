//! Datasets: where they come from, how they are normalized, how big they are.
//!
//! Every dataset becomes a [`Dataset`]: flat `f32` features (row-major, images as
//! C×H×W), `u32` labels, and a record of what was done to it (normalization, file
//! hashes). The training loop uploads it to the device once; batches are gathered
//! there by index (see `train`).

pub mod cifar;
pub mod digits;
pub mod fetch;
pub mod idx;
pub mod order;
pub mod spec;
pub mod synthetic;
pub mod text;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use spec::{DatasetName, DatasetSpec};

/// One split (train or test) in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Features, `len × features` values, row-major.
    pub x: Vec<f32>,
    /// Class labels, `len` values in `0..classes`.
    pub y: Vec<u32>,
}

impl Split {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether the split is empty.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Keeps the first `n` examples.
    fn truncate(&mut self, n: usize, features: usize) {
        if n < self.len() {
            self.y.truncate(n);
            self.x.truncate(n * features);
        }
    }
}

/// How raw values were mapped to model inputs: `x = (raw / scale − mean) / std`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Normalization {
    /// Divisor applied first (255 for bytes, 16 for digits, 1 for synthetic).
    pub scale: f32,
    /// Mean subtracted after scaling (over all training values).
    pub mean: f32,
    /// Standard deviation divided by (over all training values).
    pub std: f32,
}

/// A data file used, for the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DataFile {
    /// The file name, or `embedded:...`.
    pub name: String,
    /// SHA-256 of its bytes as read.
    pub sha256: String,
}

impl DataFile {
    /// The record of a file read from `path` with contents `bytes`.
    pub fn of(path: &Path, bytes: &[u8]) -> Self {
        DataFile {
            name: path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            sha256: hex::encode(Sha256::digest(bytes)),
        }
    }
}

impl Normalization {
    /// Values used as they are (generated data, token ids).
    pub fn identity() -> Self {
        Normalization {
            scale: 1.0,
            mean: 0.0,
            std: 1.0,
        }
    }
}

/// A dataset ready for training.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Which dataset.
    pub name: DatasetName,
    /// Training split (after subsetting).
    pub train: Split,
    /// Test split (after subsetting).
    pub test: Split,
    /// Values per example.
    pub features: usize,
    /// `[channels, height, width]` for image data.
    pub image: Option<[usize; 3]>,
    /// Number of classes.
    pub classes: usize,
    /// What was done to the raw values.
    pub normalization: Normalization,
    /// Files read and their hashes.
    pub files: Vec<DataFile>,
    /// Where it was loaded from.
    pub source: String,
    /// For token data (language modelling): the windows' context and what is known
    /// about the source.
    pub text: Option<text::TextInfo>,
}

impl Dataset {
    /// One hash over all data files, for the environment fingerprint.
    pub fn sha256(&self) -> String {
        let mut h = Sha256::new();
        for f in &self.files {
            h.update(f.name.as_bytes());
            h.update(f.sha256.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// Sizes and shape known without loading the data (for `validate`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataShape {
    /// Training examples (after `train_subset`).
    pub train: u64,
    /// Test examples (after `test_subset`).
    pub test: u64,
    /// Values per example.
    pub features: u64,
    /// `[channels, height, width]` for image data.
    pub image: Option<[u64; 3]>,
    /// Number of classes.
    pub classes: u64,
    /// For token data: tokens predicted per example.
    pub context: Option<u64>,
}

/// CIFAR-10's published sizes, assumed (like IDX_CANONICAL) only where its files are
/// not on this machine.
const CIFAR_CANONICAL: (u64, u64) = (50_000, 10_000);

/// MNIST's and Fashion-MNIST's published sizes, assumed only where their files are
/// not on this machine (a suite can be validated before the data is fetched).
const IDX_CANONICAL: (u64, u64, u64, u64) = (60_000, 10_000, 28, 28);

/// The shape of a (resolved) dataset spec, without loading the data. For IDX data the
/// counts and image size come from the files' headers (a folder of MNIST-format files
/// may hold any number of examples); only where the files are not found are the
/// published sizes assumed. `suite_dir` anchors a relative `path`.
pub fn shape(spec: &DatasetSpec, suite_dir: Option<&Path>) -> Result<DataShape, String> {
    let idx = match spec.name {
        DatasetName::Mnist | DatasetName::FashionMnist => idx_files_in_search(spec, suite_dir)
            .map(|(_, files)| idx_header_shape(&files))
            .transpose()?,
        _ => None,
    };
    let counts = match spec.name {
        DatasetName::Cifar10 => search_dirs(spec, suite_dir)
            .iter()
            .find_map(|d| cifar::files_in(d))
            .map(|(train, test)| cifar::counts(&train, &test))
            .transpose()?,
        DatasetName::Text => {
            let path = text::text_path(spec, suite_dir)?;
            let (train, test) = text::text_split(text::text_len(&path)?, spec.test_fraction());
            let context = spec.context();
            let offset = text::train_offset(spec.data_seed(), context as usize) as u64;
            let counts = (
                text::window_count(train, context, offset),
                text::window_count(test, context, 0),
            );
            if counts.0 == 0 || counts.1 == 0 {
                return Err(format!(
                    "{}: too short for one window of context + 1 = {} tokens in each split (lower context or test_fraction, or use a longer file)",
                    path.display(),
                    context + 1
                ));
            }
            Some(counts)
        }
        _ => None,
    };
    Ok(shape_with(spec, idx.unwrap_or(IDX_CANONICAL), counts))
}

/// The shape from the spec alone, with file datasets at their published sizes: the
/// same on every machine (shards use it to split a sweep). A text file has no
/// published size; its windows are counted as if it held 10 MB.
pub fn published_shape(spec: &DatasetSpec) -> DataShape {
    let counts = (spec.name == DatasetName::Text).then(|| {
        let (train, test) = text::text_split(10_000_000, spec.test_fraction());
        let c = spec.context();
        (train / c, test / c)
    });
    shape_with(spec, IDX_CANONICAL, counts)
}

fn shape_with(
    spec: &DatasetSpec,
    (idx_train, idx_test, h, w): (u64, u64, u64, u64),
    counts: Option<(u64, u64)>,
) -> DataShape {
    let mut context = None;
    let (train, test, image, features, classes) = match spec.name {
        DatasetName::Digits => {
            let (train, test) = digits::split_sizes(spec.test_fraction());
            (train, test, Some([1, 8, 8]), 64, 10)
        }
        DatasetName::Mnist | DatasetName::FashionMnist => {
            (idx_train, idx_test, Some([1, h, w]), h * w, 10)
        }
        DatasetName::Synthetic => (
            spec.train_samples(),
            spec.test_samples(),
            spec.shape.as_ref().map(|s| [s[0], s[1], s[2]]),
            spec.features(),
            spec.classes(),
        ),
        DatasetName::Cifar10 => {
            let (train, test) = counts.unwrap_or(CIFAR_CANONICAL);
            (train, test, Some([3, 32, 32]), 3 * 32 * 32, 10)
        }
        DatasetName::Text => {
            let c = spec.context();
            context = Some(c);
            let (train, test) = counts.unwrap_or((0, 0));
            (train, test, None, c + 1, 256)
        }
        DatasetName::SyntheticText => {
            let c = spec.context();
            context = Some(c);
            let offset = text::train_offset(spec.data_seed(), c as usize) as u64;
            (
                text::window_count(spec.train_tokens(), c, offset),
                text::window_count(spec.test_tokens(), c, 0),
                None,
                c + 1,
                spec.vocab(),
            )
        }
    };
    DataShape {
        train: spec.train_subset.map_or(train, |n| n.min(train)),
        test: spec.test_subset.map_or(test, |n| n.min(test)),
        features,
        image,
        classes,
        context,
    }
}

/// (train count, test count, height, width) from the headers of the four IDX files.
fn idx_header_shape(files: &[PathBuf]) -> Result<(u64, u64, u64, u64), String> {
    let dims = |p: &PathBuf| idx::read_idx_dims(p).map_err(|e| e.to_string());
    let (train_x, test_x) = (dims(&files[0])?, dims(&files[2])?);
    match (&train_x[..], &test_x[..]) {
        ([n, h, w], [m, _, _]) => Ok((*n as u64, *m as u64, *h as u64, *w as u64)),
        _ => Err(format!(
            "{}: expected 3 dimensions (count × height × width), found {train_x:?}",
            files[0].display()
        )),
    }
}

/// Loads a (resolved) dataset spec; `suite_dir` anchors a relative `path`.
pub fn load(spec: &DatasetSpec, suite_dir: Option<&Path>) -> anyhow::Result<Dataset> {
    let mut data = match spec.name {
        DatasetName::Digits => digits::load(spec.test_fraction(), spec.data_seed())?,
        DatasetName::Synthetic => synthetic::generate(&synthetic::SyntheticParams::from_spec(spec)),
        DatasetName::Mnist | DatasetName::FashionMnist => load_idx_dataset(spec, suite_dir)?,
        DatasetName::Cifar10 => load_cifar(spec, suite_dir)?,
        DatasetName::Text => text::load_text(spec, suite_dir)?,
        DatasetName::SyntheticText => text::generate(spec),
    };
    if let Some(n) = spec.train_subset {
        data.train.truncate(n as usize, data.features);
    }
    if let Some(n) = spec.test_subset {
        data.test.truncate(n as usize, data.features);
    }
    Ok(data)
}

const IDX_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// The folders searched for an IDX dataset, in order.
pub fn search_dirs(spec: &DatasetSpec, suite_dir: Option<&Path>) -> Vec<PathBuf> {
    let name = spec.name.as_str();
    let mut dirs = Vec::new();
    if let Some(p) = &spec.path {
        let p = PathBuf::from(p);
        dirs.push(match suite_dir {
            Some(base) if p.is_relative() => base.join(p),
            _ => p,
        });
    }
    if let Some(root) = std::env::var_os("BATCHBENCH_DATA") {
        dirs.push(PathBuf::from(root).join(name));
    }
    dirs.push(PathBuf::from("/usr/share/datasets").join(name));
    dirs
}

/// The four IDX files of a dataset in `dir` (each raw or `.gz`), if all are there.
fn idx_files_in(dir: &Path) -> Option<Vec<PathBuf>> {
    IDX_FILES
        .iter()
        .map(|stem| {
            [format!("{stem}.gz"), stem.to_string()]
                .into_iter()
                .map(|f| dir.join(f))
                .find(|p| p.is_file())
        })
        .collect()
}

/// The first folder where batchbench looks for `spec` that holds all four IDX files.
fn idx_files_in_search(
    spec: &DatasetSpec,
    suite_dir: Option<&Path>,
) -> Option<(PathBuf, Vec<PathBuf>)> {
    search_dirs(spec, suite_dir)
        .into_iter()
        .find_map(|d| idx_files_in(&d).map(|f| (d, f)))
}

/// The first folder in `dirs` holding all four IDX files, or an error that says
/// where batchbench looked and how to get the dataset.
fn find_idx_files(spec: &DatasetSpec, dirs: &[PathBuf]) -> anyhow::Result<(PathBuf, Vec<PathBuf>)> {
    if let Some(found) = dirs
        .iter()
        .find_map(|d| idx_files_in(d).map(|f| (d.clone(), f)))
    {
        return Ok(found);
    }
    let looked = dirs
        .iter()
        .map(|d| format!("  {}", d.display()))
        .collect::<Vec<_>>()
        .join("\n");
    let apt = if spec.name == DatasetName::FashionMnist {
        "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or "
    } else {
        ""
    };
    anyhow::bail!(
        "dataset {} not found: no folder holds its four IDX files ({}[.gz]). Looked in:\n{looked}\nGet it with {apt}`batchbench data fetch {}`, or set `path:` in the suite or $BATCHBENCH_DATA",
        spec.name,
        IDX_FILES.join(", "),
        spec.name
    )
}

fn load_cifar(spec: &DatasetSpec, suite_dir: Option<&Path>) -> anyhow::Result<Dataset> {
    let dirs = search_dirs(spec, suite_dir);
    if let Some((dir, (train, test))) = dirs
        .iter()
        .find_map(|d| cifar::files_in(d).map(|f| (d.clone(), f)))
    {
        return cifar::load(&dir, &train, &test);
    }
    let looked = dirs
        .iter()
        .map(|d| format!("  {}", d.display()))
        .collect::<Vec<_>>()
        .join("\n");
    anyhow::bail!(
        "dataset cifar10 not found: no folder holds data_batch_*.bin and {} (directly or in {}/). Looked in:\n{looked}\nGet it with `batchbench data fetch cifar10`, or set `path:` in the suite or $BATCHBENCH_DATA",
        cifar::TEST_FILE,
        cifar::ARCHIVE_DIR
    )
}

fn load_idx_dataset(spec: &DatasetSpec, suite_dir: Option<&Path>) -> anyhow::Result<Dataset> {
    let (dir, files) = find_idx_files(spec, &search_dirs(spec, suite_dir))?;
    let mut hashes = Vec::new();
    let mut arrays = Vec::new();
    for path in &files {
        // The size limit is checked on the file's metadata, before anything is read.
        let len = std::fs::metadata(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?
            .len();
        if len > idx::MAX_IDX_BYTES {
            return Err(idx::IdxError::TooLarge { path: path.clone() }.into());
        }
        let bytes = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
        hashes.push(DataFile::of(path, &bytes));
        arrays.push(idx::parse_idx(path, &bytes)?);
    }
    let [train_x, train_y, test_x, test_y]: [idx::IdxArray; 4] =
        arrays.try_into().expect("four files");
    let train = images_and_labels(&files[0], train_x, &files[1], train_y)?;
    let test = images_and_labels(&files[2], test_x, &files[3], test_y)?;
    let (h, w) = (train.1, train.2);
    if (test.1, test.2) != (h, w) {
        anyhow::bail!(
            "{}: test images are {}×{} but training images are {h}×{w}",
            files[2].display(),
            test.1,
            test.2
        );
    }
    let (normalization, train_x, test_x) = normalize_bytes(&train.0.x, &test.0.x, 255.0);
    Ok(Dataset {
        name: spec.name,
        train: Split {
            x: train_x,
            y: train.0.y,
        },
        test: Split {
            x: test_x,
            y: test.0.y,
        },
        features: h * w,
        image: Some([1, h, w]),
        classes: 10,
        normalization,
        files: hashes,
        source: dir.display().to_string(),
        text: None,
    })
}

/// Checks that an image file and a label file belong together; returns the split
/// (raw byte values as f32) and the image size.
fn images_and_labels(
    images_path: &Path,
    images: idx::IdxArray,
    labels_path: &Path,
    labels: idx::IdxArray,
) -> anyhow::Result<(Split, usize, usize)> {
    let [n, h, w] = images.dims[..] else {
        anyhow::bail!(
            "{}: expected 3 dimensions (count × height × width), found {:?}",
            images_path.display(),
            images.dims
        );
    };
    let [m] = labels.dims[..] else {
        anyhow::bail!(
            "{}: expected 1 dimension (count), found {:?}",
            labels_path.display(),
            labels.dims
        );
    };
    if n != m {
        anyhow::bail!(
            "{} holds {n} images but {} holds {m} labels; the files do not belong together",
            images_path.display(),
            labels_path.display()
        );
    }
    if let Some(bad) = labels.data.iter().find(|&&l| l > 9) {
        anyhow::bail!(
            "{}: label {bad} is out of range; labels must be 0 to 9",
            labels_path.display()
        );
    }
    let split = Split {
        x: images.data.iter().map(|&v| v as f32).collect(),
        y: labels.data.iter().map(|&l| l as u32).collect(),
    };
    Ok((split, h, w))
}

/// Scales raw values by `scale`, then standardizes with the training mean and
/// standard deviation (one scalar each, over all pixels).
pub(crate) fn normalize_bytes(
    train: &[f32],
    test: &[f32],
    scale: f32,
) -> (Normalization, Vec<f32>, Vec<f32>) {
    let n = train.len().max(1) as f64;
    let mean = train.iter().map(|&v| (v / scale) as f64).sum::<f64>() / n;
    let var = train
        .iter()
        .map(|&v| ((v / scale) as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let std = var.sqrt().max(1e-8);
    let apply = |xs: &[f32]| -> Vec<f32> {
        xs.iter()
            .map(|&v| (((v / scale) as f64 - mean) / std) as f32)
            .collect()
    };
    let norm = Normalization {
        scale,
        mean: mean as f32,
        std: std as f32,
    };
    (norm, apply(train), apply(test))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::encode_idx;

    fn write_fixture(dir: &Path, n_train: u32, n_train_labels: u32) {
        let img = |n: u32| encode_idx(&[n, 4, 4], &vec![7u8; (n * 16) as usize]);
        let lab = |n: u32| encode_idx(&[n], &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>());
        std::fs::write(dir.join("train-images-idx3-ubyte"), img(n_train)).unwrap();
        std::fs::write(dir.join("train-labels-idx1-ubyte"), lab(n_train_labels)).unwrap();
        std::fs::write(dir.join("t10k-images-idx3-ubyte"), img(5)).unwrap();
        std::fs::write(dir.join("t10k-labels-idx1-ubyte"), lab(5)).unwrap();
    }

    fn spec_at(dir: &Path) -> DatasetSpec {
        DatasetSpec {
            path: Some(dir.display().to_string()),
            ..DatasetSpec::of(DatasetName::Mnist)
        }
    }

    #[test]
    fn loads_an_idx_folder_with_hashes() {
        let dir = tempfile::tempdir().unwrap();
        write_fixture(dir.path(), 20, 20);
        let d = load(&spec_at(dir.path()), None).unwrap();
        assert_eq!(d.train.len(), 20);
        assert_eq!(d.test.len(), 5);
        assert_eq!(d.image, Some([1, 4, 4]));
        assert_eq!(d.files.len(), 4);
        assert_eq!(d.files[0].sha256.len(), 64);
    }

    #[test]
    fn mismatched_label_count_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_fixture(dir.path(), 20, 19);
        let e = load(&spec_at(dir.path()), None)
            .err()
            .expect("mismatch")
            .to_string();
        assert!(e.contains("holds 20 images but"), "{e}");
        assert!(e.contains("holds 19 labels"), "{e}");
    }

    #[test]
    fn missing_dataset_says_where_it_looked_and_how_to_get_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = spec_at(&dir.path().join("nowhere"));
        spec.name = DatasetName::FashionMnist;
        let e = find_idx_files(&spec, &[dir.path().join("nowhere")])
            .err()
            .expect("not found")
            .to_string();
        assert!(e.contains("nowhere"), "{e}");
        assert!(e.contains("apt-get install dataset-fashion-mnist"), "{e}");
        assert!(e.contains("batchbench data fetch fashion-mnist"), "{e}");
    }

    #[test]
    fn normalization_standardizes_the_training_set() {
        let (norm, train, test) = normalize_bytes(&[0.0, 255.0, 0.0, 255.0], &[255.0], 255.0);
        assert!((norm.mean - 0.5).abs() < 1e-6);
        assert!((train.iter().sum::<f32>()).abs() < 1e-5);
        assert!((test[0] - 1.0).abs() < 1e-5);
    }
}
