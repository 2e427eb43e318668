//! CIFAR-10, binary version (Krizhevsky 2009): `data_batch_1.bin` … `data_batch_5.bin`
//! and `test_batch.bin`, each a sequence of 3,073-byte records (one label byte 0–9,
//! then 1,024 red, 1,024 green and 1,024 blue pixel bytes, row-major 32×32).
//!
//! Found like the IDX datasets (suite `path`, `$BATCHBENCH_DATA/cifar10`,
//! `/usr/share/datasets/cifar10`), directly in the folder or in the archive's
//! `cifar-10-batches-bin/`. The counts come from the files' sizes (any number of
//! training batch files, any number of records), never from the published 50,000 /
//! 10,000; a size that is not a whole number of records, or a label byte above 9, is
//! an error naming the file and the record.

use std::path::{Path, PathBuf};

use super::{DataFile, Dataset, DatasetName, Split, normalize_bytes};

/// Bytes per image.
pub const IMAGE_BYTES: usize = 3 * 32 * 32;
/// Bytes per record: the label, then the image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// The test file's name.
pub const TEST_FILE: &str = "test_batch.bin";
/// The folder the published archive unpacks to.
pub const ARCHIVE_DIR: &str = "cifar-10-batches-bin";
/// The largest file accepted (the published ones are 30,730,000 bytes).
const MAX_FILE_BYTES: u64 = 1 << 31;

/// The training files (sorted) and the test file in `dir` or its
/// `cifar-10-batches-bin/`, when the test file and at least one training file exist.
pub fn files_in(dir: &Path) -> Option<(Vec<PathBuf>, PathBuf)> {
    [dir.to_path_buf(), dir.join(ARCHIVE_DIR)]
        .into_iter()
        .find_map(|d| {
            let test = d.join(TEST_FILE);
            if !test.is_file() {
                return None;
            }
            let mut train: Vec<PathBuf> = std::fs::read_dir(&d)
                .ok()?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("data_batch_") && n.ends_with(".bin"))
                })
                .collect();
            train.sort();
            (!train.is_empty()).then_some((train, test))
        })
}

/// Records in a file, from its size.
pub fn records_in(path: &Path) -> Result<u64, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?
        .len();
    if len > MAX_FILE_BYTES {
        return Err(format!(
            "{}: {len} bytes is larger than batchbench reads ({MAX_FILE_BYTES})",
            path.display()
        ));
    }
    if len == 0 || len % RECORD_BYTES as u64 != 0 {
        return Err(format!(
            "{}: {len} bytes is not a whole number of {RECORD_BYTES}-byte CIFAR-10 records (truncated or not a CIFAR-10 binary file; the published files are 30,730,000 bytes)",
            path.display()
        ));
    }
    Ok(len / RECORD_BYTES as u64)
}

/// Parses one file's bytes into raw pixel values (0–255 as f32) and labels.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Split, String> {
    if bytes.is_empty() || bytes.len() % RECORD_BYTES != 0 {
        return Err(format!(
            "{}: {} bytes is not a whole number of {RECORD_BYTES}-byte CIFAR-10 records (truncated or not a CIFAR-10 binary file)",
            path.display(),
            bytes.len()
        ));
    }
    let n = bytes.len() / RECORD_BYTES;
    let mut x = Vec::with_capacity(n * IMAGE_BYTES);
    let mut y = Vec::with_capacity(n);
    for (i, record) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let label = record[0];
        if label > 9 {
            return Err(format!(
                "{}: record {i} (byte offset {}) has label byte {label}; CIFAR-10 labels are 0 to 9 (is this CIFAR-100, or another file?)",
                path.display(),
                i * RECORD_BYTES
            ));
        }
        y.push(u32::from(label));
        x.extend(record[1..].iter().map(|&v| f32::from(v)));
    }
    Ok(Split { x, y })
}

/// (train, test) record counts of the files in `dir`.
pub fn counts(train: &[PathBuf], test: &Path) -> Result<(u64, u64), String> {
    let mut n = 0;
    for p in train {
        n += records_in(p)?;
    }
    Ok((n, records_in(test)?))
}

/// Loads the files found in `dir`, normalized like the IDX images (÷255, then the
/// training set's mean and standard deviation over all values).
pub fn load(dir: &Path, train_files: &[PathBuf], test_file: &Path) -> anyhow::Result<Dataset> {
    let mut files = Vec::new();
    let mut read = |path: &Path| -> anyhow::Result<Split> {
        records_in(path).map_err(anyhow::Error::msg)?;
        let bytes = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
        files.push(DataFile::of(path, &bytes));
        parse(path, &bytes).map_err(anyhow::Error::msg)
    };
    let mut train = Split {
        x: Vec::new(),
        y: Vec::new(),
    };
    for p in train_files {
        let s = read(p)?;
        train.x.extend(s.x);
        train.y.extend(s.y);
    }
    let test = read(test_file)?;
    let (normalization, train_x, test_x) = normalize_bytes(&train.x, &test.x, 255.0);
    Ok(Dataset {
        name: DatasetName::Cifar10,
        train: Split {
            x: train_x,
            y: train.y,
        },
        test: Split {
            x: test_x,
            y: test.y,
        },
        features: IMAGE_BYTES,
        image: Some([3, 32, 32]),
        classes: 10,
        normalization,
        files,
        source: dir.display().to_string(),
        text: None,
    })
}

/// Encodes records in the binary format (fixtures and tests).
pub fn encode(records: &[(u8, [u8; IMAGE_BYTES])]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * RECORD_BYTES);
    for (label, image) in records {
        out.push(*label);
        out.extend_from_slice(image);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(seed: u8) -> [u8; IMAGE_BYTES] {
        let mut a = [0u8; IMAGE_BYTES];
        for (i, v) in a.iter_mut().enumerate() {
            *v = (i as u8).wrapping_mul(7).wrapping_add(seed);
        }
        a
    }

    #[test]
    fn reads_records_in_the_published_layout() {
        let bytes = encode(&[(3, image(1)), (9, image(2))]);
        let s = parse(Path::new("b.bin"), &bytes).unwrap();
        assert_eq!(s.y, vec![3, 9]);
        assert_eq!(s.x.len(), 2 * IMAGE_BYTES);
        // Red plane first, then green and blue, row-major.
        assert_eq!(s.x[0], f32::from(image(1)[0]));
        assert_eq!(s.x[IMAGE_BYTES + 1024], f32::from(image(2)[1024]));
    }

    #[test]
    fn hostile_files_are_clear_errors() {
        let good = encode(&[(1, image(0)), (2, image(0))]);
        let truncated = &good[..good.len() - 100];
        let e = parse(Path::new("t.bin"), truncated).unwrap_err();
        assert!(
            e.contains("t.bin: 6046 bytes is not a whole number of 3073-byte"),
            "{e}"
        );
        let mut bad_label = good.clone();
        bad_label[RECORD_BYTES] = 17;
        let e = parse(Path::new("l.bin"), &bad_label).unwrap_err();
        assert!(
            e.contains("l.bin: record 1 (byte offset 3073) has label byte 17"),
            "{e}"
        );
        let e = parse(Path::new("e.bin"), &[]).unwrap_err();
        assert!(e.contains("0 bytes"), "{e}");
    }

    #[test]
    fn a_folder_is_read_with_its_real_counts() {
        let dir = std::env::temp_dir().join(format!("bb-cifar-{}", std::process::id()));
        let inner = dir.join(ARCHIVE_DIR);
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::write(
            inner.join("data_batch_1.bin"),
            encode(&[(0, image(1)), (1, image(2))]),
        )
        .unwrap();
        std::fs::write(inner.join("data_batch_2.bin"), encode(&[(2, image(3))])).unwrap();
        std::fs::write(inner.join(TEST_FILE), encode(&[(4, image(4))])).unwrap();
        let (train, test) = files_in(&dir).expect("found in the archive's folder");
        assert_eq!(counts(&train, &test).unwrap(), (3, 1));
        let data = load(&dir, &train, &test).unwrap();
        assert_eq!(data.train.y, vec![0, 1, 2]);
        assert_eq!(data.test.y, vec![4]);
        assert_eq!(data.image, Some([3, 32, 32]));
        assert_eq!(data.files.len(), 3);
        // A wrong size is reported before anything is parsed.
        std::fs::write(inner.join(TEST_FILE), vec![0u8; RECORD_BYTES + 5]).unwrap();
        let e = counts(&train, &test).unwrap_err();
        assert!(e.contains("3078 bytes is not a whole number"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
