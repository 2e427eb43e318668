//! `batchbench data fetch NAME`: download a dataset from its canonical address and
//! verify every file's published checksum (SHA-256; CIFAR-10's archive: its MD5)
//! before it is used.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use super::spec::DatasetName;

/// A file to download: name, SHA-256 and the largest size accepted.
struct Resource {
    file: &'static str,
    sha256: &'static str,
    max_bytes: u64,
}

/// Canonical sources. Fashion-MNIST: Zalando's S3 bucket (its README's links);
/// MNIST: the mirror PyTorch uses, since yann.lecun.com no longer serves the files
/// reliably. The checksums are those published with the data (Fashion-MNIST's match
/// Debian's `dataset-fashion-mnist` package byte for byte).
fn resources(name: DatasetName) -> Option<(&'static str, [Resource; 4])> {
    let r = |file, sha256, max_bytes| Resource {
        file,
        sha256,
        max_bytes,
    };
    match name {
        DatasetName::FashionMnist => Some((
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            [
                r(
                    "train-images-idx3-ubyte.gz",
                    "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
                    40 << 20,
                ),
                r(
                    "train-labels-idx1-ubyte.gz",
                    "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
                    1 << 20,
                ),
                r(
                    "t10k-images-idx3-ubyte.gz",
                    "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
                    10 << 20,
                ),
                r(
                    "t10k-labels-idx1-ubyte.gz",
                    "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
                    1 << 20,
                ),
            ],
        )),
        DatasetName::Mnist => Some((
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            [
                r(
                    "train-images-idx3-ubyte.gz",
                    "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                    40 << 20,
                ),
                r(
                    "train-labels-idx1-ubyte.gz",
                    "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                    1 << 20,
                ),
                r(
                    "t10k-images-idx3-ubyte.gz",
                    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                    10 << 20,
                ),
                r(
                    "t10k-labels-idx1-ubyte.gz",
                    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                    1 << 20,
                ),
            ],
        )),
        _ => None,
    }
}

/// Where `fetch` puts a dataset by default: `$BATCHBENCH_DATA/<name>`, which the
/// loader searches.
pub fn default_dir(name: DatasetName) -> anyhow::Result<PathBuf> {
    match std::env::var_os("BATCHBENCH_DATA") {
        Some(root) => Ok(PathBuf::from(root).join(name.as_str())),
        None => bail!(
            "set $BATCHBENCH_DATA to the folder that should hold datasets (batchbench looks there), or pass --dir"
        ),
    }
}

/// Downloads the dataset's files into `dir`, skipping files already present with the
/// right checksum. Each file is written under a temporary name and renamed only after
/// its checksum matched. `$BATCHBENCH_DATA_MIRROR` replaces the canonical address (a
/// cluster's internal mirror, say): the files are fetched from `<mirror>/<name>/<file>`
/// and checked against the same published checksums.
pub fn fetch(name: DatasetName, dir: &Path) -> anyhow::Result<()> {
    let base = |canonical: &str| match std::env::var("BATCHBENCH_DATA_MIRROR") {
        Ok(m) if !m.is_empty() => format!("{}/{}/", m.trim_end_matches('/'), name.as_str()),
        _ => canonical.to_string(),
    };
    if name == DatasetName::Cifar10 {
        return fetch_cifar10(&base(CIFAR_CANONICAL), dir);
    }
    let Some((canonical, files)) = resources(name) else {
        bail!(
            "{name} needs no download: {}",
            match name {
                DatasetName::Digits => "it is embedded in batchbench",
                DatasetName::Text => "text reads a file you name with `path:`",
                _ => "it is generated",
            }
        );
    };
    let base = base(canonical);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for r in &files {
        let target = dir.join(r.file);
        if target.is_file() && sha256_file(&target)? == r.sha256 {
            eprintln!("{}: present, checksum ok", target.display());
            continue;
        }
        let url = format!("{base}{}", r.file);
        eprintln!("downloading {url}");
        let response = ureq::get(&url).call().with_context(|| {
            format!("cannot download {url}; check the network, or install the files by hand")
        })?;
        let mut bytes = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(r.max_bytes + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("download of {url} failed"))?;
        if bytes.len() as u64 > r.max_bytes {
            bail!("{url} is larger than {} bytes; refusing it", r.max_bytes);
        }
        let got = hex::encode(Sha256::digest(&bytes));
        if got != r.sha256 {
            bail!(
                "{url}: SHA-256 {got} does not match the published {}; the file was not saved",
                r.sha256
            );
        }
        let partial = dir.join(format!("{}.partial", r.file));
        std::fs::write(&partial, &bytes)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        std::fs::rename(&partial, &target)
            .with_context(|| format!("cannot move into {}", target.display()))?;
        eprintln!("{}: saved, checksum ok", target.display());
    }
    Ok(())
}

/// CIFAR-10's binary version, from its authors' page, with the MD5 published there
/// (and its size: 170,052,171 bytes).
const CIFAR_CANONICAL: &str = "https://www.cs.toronto.edu/~kriz/";
const CIFAR_ARCHIVE: &str = "cifar-10-binary.tar.gz";
const CIFAR_MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";
const CIFAR_MAX_BYTES: u64 = 200 << 20;

/// Downloads the archive (unless a copy with the published MD5 is in `dir`), checks
/// it, keeps it, and unpacks its record files into `dir/cifar-10-batches-bin/`.
fn fetch_cifar10(base: &str, dir: &Path) -> anyhow::Result<()> {
    let archive = dir.join(CIFAR_ARCHIVE);
    let bytes = match std::fs::read(&archive) {
        Ok(b) if format!("{:x}", md5::compute(&b)) == CIFAR_MD5 => {
            eprintln!("{}: present, checksum ok", archive.display());
            b
        }
        _ => {
            let url = format!("{base}{CIFAR_ARCHIVE}");
            eprintln!("downloading {url}");
            let response = ureq::get(&url).call().with_context(|| {
                format!("cannot download {url}; check the network, or install the files by hand")
            })?;
            let mut b = Vec::new();
            response
                .into_body()
                .into_reader()
                .take(CIFAR_MAX_BYTES + 1)
                .read_to_end(&mut b)
                .with_context(|| format!("download of {url} failed"))?;
            if b.len() as u64 > CIFAR_MAX_BYTES {
                bail!("{url} is larger than {CIFAR_MAX_BYTES} bytes; refusing it");
            }
            let got = format!("{:x}", md5::compute(&b));
            if got != CIFAR_MD5 {
                bail!(
                    "{url}: MD5 {got} does not match the published {CIFAR_MD5}; the file was not saved"
                );
            }
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let partial = dir.join(format!("{CIFAR_ARCHIVE}.partial"));
            std::fs::write(&partial, &b)
                .with_context(|| format!("cannot write {}", partial.display()))?;
            std::fs::rename(&partial, &archive)
                .with_context(|| format!("cannot move into {}", archive.display()))?;
            eprintln!("{}: saved, checksum ok", archive.display());
            b
        }
    };
    let n = unpack_cifar10(&bytes, dir)?;
    eprintln!(
        "{}: {n} files unpacked",
        dir.join(super::cifar::ARCHIVE_DIR).display()
    );
    Ok(())
}

/// Unpacks the record files (and the label names) of a CIFAR-10 archive into
/// `dir/cifar-10-batches-bin/`; any other member is skipped, so a hostile archive
/// cannot write elsewhere. Returns the number of files written.
pub fn unpack_cifar10(archive: &[u8], dir: &Path) -> anyhow::Result<usize> {
    let out = dir.join(super::cifar::ARCHIVE_DIR);
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut written = 0;
    for entry in tar.entries().context("the archive is not a tar.gz")? {
        let mut entry = entry.context("the archive is damaged")?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().context("the archive is damaged")?.into_owned();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        let wanted = name == super::cifar::TEST_FILE
            || name == "batches.meta.txt"
            || (name.starts_with("data_batch_") && name.ends_with(".bin"));
        if !wanted
            || path.parent().and_then(|p| p.file_name()) != Some(super::cifar::ARCHIVE_DIR.as_ref())
        {
            continue;
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {name} from the archive"))?;
        let target = out.join(&name);
        std::fs::write(&target, &bytes)
            .with_context(|| format!("cannot write {}", target.display()))?;
        written += 1;
    }
    if written == 0 {
        bail!(
            "the archive holds no {}/ record files",
            super::cifar::ARCHIVE_DIR
        );
    }
    Ok(written)
}

fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpacks_only_the_record_files_of_the_archive_folder() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut add = |path: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            builder.append_data(&mut h, path, data).unwrap();
        };
        add("cifar-10-batches-bin/data_batch_1.bin", &[1; 3073]);
        add("cifar-10-batches-bin/test_batch.bin", &[2; 3073]);
        add("cifar-10-batches-bin/readme.html", b"<html>");
        add("elsewhere/data_batch_2.bin", &[3; 3073]);
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let dir = std::env::temp_dir().join(format!("bb-unpack-{}", std::process::id()));
        assert_eq!(unpack_cifar10(&gz.finish().unwrap(), &dir).unwrap(), 2);
        let (train, test) = crate::data::cifar::files_in(&dir).unwrap();
        assert_eq!(train.len(), 1);
        assert!(test.ends_with("cifar-10-batches-bin/test_batch.bin"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
